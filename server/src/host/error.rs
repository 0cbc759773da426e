//! The session host's API error, mapped once to coop's envelope `{"error":{"code","message"}}`
//! (HTTP) or to an `error` event (WebSocket).

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::coop::{ErrorBody, ErrorEnvelope};

/// Every error a request to the session host can end in.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong token (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Refused before routing: a foreign `Host` or a cross-origin browser request (403).
    #[error("{0}")]
    Forbidden(#[from] crate::edge::guard::Refusal),
    /// Unknown path (404).
    #[error("no route for {0}")]
    NotFound(String),
    /// Known path, wrong method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Body or upload too large (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed JSON with missing or mistyped fields (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The child has exited; the terminal takes no more input (410).
    #[error("the session's process has exited")]
    Exited,
    /// The request needs an agent driver and a plain command has none (404, coop's code).
    #[error("no agent driver: this session runs a plain command")]
    NoDriver,
    /// `respond` with no prompt waiting (409).
    #[error("no prompt is waiting for an answer")]
    NoPrompt,
    /// The prompt was announced but its dialog is not on the agent's screen yet (503).
    #[error("the prompt is not on the agent's screen yet")]
    PromptNotShown,
    /// A profile switch is already waiting or under way (409).
    #[error("a switch is already in progress")]
    SwitchInProgress,
    /// The child is being restarted; try again when it runs (503).
    #[error("the session is restarting its process")]
    NotReady,
    /// The agent's state was not detected yet, so it cannot be driven (503, coop's words).
    #[error("agent is still starting")]
    AgentStarting,
    /// An OS failure on our side (500).
    #[error("{0}")]
    Internal(String),
}

impl HostError {
    /// HTTP status and envelope code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY"),
            Self::Exited => (StatusCode::GONE, "EXITED"),
            Self::NoDriver => (StatusCode::NOT_FOUND, "NO_DRIVER"),
            Self::PromptNotShown => (StatusCode::SERVICE_UNAVAILABLE, "NOT_READY"),
            Self::NoPrompt => (StatusCode::CONFLICT, "NO_PROMPT"),
            Self::SwitchInProgress => (StatusCode::CONFLICT, "SWITCH_IN_PROGRESS"),
            Self::NotReady | Self::AgentStarting => (StatusCode::SERVICE_UNAVAILABLE, "NOT_READY"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }

    /// The envelope body.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.status_and_code().1.to_owned(),
                message: self.to_string(),
            },
        }
    }
}

impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        (self.status_and_code().0, Json(self.envelope())).into_response()
    }
}

impl From<JsonRejection> for HostError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(message),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(message),
            StatusCode::BAD_REQUEST => Self::BadRequest(message),
            _ => Self::Internal(message),
        }
    }
}
