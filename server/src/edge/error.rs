//! The one API error of every HTTP answer, the hub's and the session host's alike, mapped here
//! and nowhere else to a status and the envelope `{"error":{"code","message"}}`
//! (docs/coop-protocol.md). Common to both: it imports no module of the hub or of the host;
//! their domain errors convert into it with `From` beside their own types.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use protocol::{ErrorBody, ErrorEnvelope};

/// Every error an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or not allowed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Authenticated but refused, e.g. a WebSocket from a foreign origin (403).
    #[error("{0}")]
    Forbidden(String),
    /// No session with that id (404).
    #[error("session not found")]
    SessionNotFound,
    /// No route for this path (404).
    #[error("{0}")]
    RouteNotFound(String),
    /// Something else that is not there, with its own code (404), e.g. `LAUNCH_NOT_FOUND`.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// Known path, wrong method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the current state; nothing was done (409, its own code).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The session's process has exited; it takes no more input (410).
    #[error("{0}")]
    Exited(String),
    /// Body larger than the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// JSON is well-formed but has missing or mistyped fields (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Too many requests of this kind are under way (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// A bug or an OS failure on our side (500).
    #[error("{0}")]
    Internal(String),
    /// The upstream session could not be reached (502).
    #[error("upstream error: {0}")]
    Upstream(String),
    /// Registration: the upstream's health check failed (502).
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(String),
    /// The upstream answered this error status without a JSON body of its own (passed on).
    #[error("{1}")]
    UpstreamStatus(StatusCode, String),
    /// The session was discovered on NATS without a url and the call needs HTTP (409).
    #[error("{0}")]
    NoUrl(String),
    /// The hub is at a capacity limit (503).
    #[error("{0}")]
    Unavailable(String),
    /// Not ready to do this yet, try again (503), e.g. a session restarting its process.
    #[error("{0}")]
    NotReady(String),
}

impl ApiError {
    /// HTTP status and envelope code: the one table of the API's errors.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Self::SessionNotFound => (StatusCode::NOT_FOUND, "SESSION_NOT_FOUND"),
            Self::RouteNotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::NotFound(code, _) => (StatusCode::NOT_FOUND, code),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::Conflict(code, _) => (StatusCode::CONFLICT, code),
            Self::NoUrl(_) => (StatusCode::CONFLICT, "NO_URL"),
            Self::Exited(_) => (StatusCode::GONE, "EXITED"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            Self::Upstream(_) | Self::UpstreamUnreachable(_) => {
                (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR")
            }
            Self::UpstreamStatus(status, _) => (*status, "UPSTREAM_ERROR"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            Self::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "NOT_READY"),
        }
    }

    /// The envelope body of this error.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.status_and_code().1.to_owned(),
                message: self.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status_and_code().0, Json(self.envelope())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_the_code_and_message_of_the_table() {
        let err = ApiError::NotFound("LAUNCH_NOT_FOUND", "launch not found".to_owned());
        assert_eq!(err.status_and_code().0, StatusCode::NOT_FOUND);
        let envelope = err.envelope();
        assert_eq!(envelope.error.code, "LAUNCH_NOT_FOUND");
        assert_eq!(envelope.error.message, "launch not found");
        let passed_on = ApiError::UpstreamStatus(StatusCode::IM_A_TEAPOT, "short".to_owned());
        assert_eq!(
            passed_on.status_and_code(),
            (StatusCode::IM_A_TEAPOT, "UPSTREAM_ERROR")
        );
    }
}
