//! The session host's errors. Each converts into the one [`ApiError`], whose table gives the
//! status and coop's code of the envelope `{"error":{"code","message"}}` (HTTP) or of an
//! `error` event (WebSocket).

use crate::edge::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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

/// Coop's status and code of each host error (docs/coop-protocol.md); the message is the
/// error's own.
impl From<HostError> for ApiError {
    fn from(err: HostError) -> Self {
        let message = err.to_string();
        match err {
            HostError::BadRequest(_) => Self::BadRequest(message),
            HostError::Unauthorized => Self::Unauthorized,
            HostError::Forbidden(_) => Self::Forbidden(message),
            HostError::NotFound(_) => Self::RouteNotFound(message),
            HostError::MethodNotAllowed => Self::MethodNotAllowed(message),
            HostError::PayloadTooLarge(_) => Self::PayloadTooLarge(message),
            HostError::UnsupportedMediaType(_) => Self::UnsupportedMediaType(message),
            HostError::Unprocessable(_) => Self::Unprocessable(message),
            HostError::Exited => Self::Exited(message),
            HostError::NoDriver => Self::NotFound("NO_DRIVER", message),
            HostError::NoPrompt => Self::Conflict("NO_PROMPT", message),
            HostError::SwitchInProgress => Self::Conflict("SWITCH_IN_PROGRESS", message),
            HostError::PromptNotShown | HostError::NotReady | HostError::AgentStarting => {
                Self::NotReady(message)
            }
            HostError::Internal(_) => Self::Internal(message),
        }
    }
}

impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses and codes coop answers with: they are part of the API.
    #[test]
    fn host_errors_keep_coops_statuses_and_codes() {
        let cases = [
            (HostError::BadRequest("x".into()), 400, "BAD_REQUEST"),
            (HostError::Unauthorized, 401, "UNAUTHORIZED"),
            (HostError::NotFound("/x".into()), 404, "NOT_FOUND"),
            (HostError::MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
            (
                HostError::PayloadTooLarge("x".into()),
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                HostError::UnsupportedMediaType("x".into()),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                HostError::Unprocessable("x".into()),
                422,
                "UNPROCESSABLE_ENTITY",
            ),
            (HostError::Exited, 410, "EXITED"),
            (HostError::NoDriver, 404, "NO_DRIVER"),
            (HostError::NoPrompt, 409, "NO_PROMPT"),
            (HostError::PromptNotShown, 503, "NOT_READY"),
            (HostError::SwitchInProgress, 409, "SWITCH_IN_PROGRESS"),
            (HostError::NotReady, 503, "NOT_READY"),
            (HostError::AgentStarting, 503, "NOT_READY"),
            (HostError::Internal("x".into()), 500, "INTERNAL"),
        ];
        for (err, status, code) in cases {
            let message = err.to_string();
            let api = ApiError::from(err);
            assert_eq!(api.status_and_code().0.as_u16(), status, "{message}");
            let envelope = api.envelope();
            assert_eq!(envelope.error.code, code, "{message}");
            assert_eq!(envelope.error.message, message);
        }
    }
}
