//! The hub's HTTP error type, mapped once to the JSON envelope `{"error":{"code","message"}}`.
//! Errors of the inner boundaries (registry, upstream) are converted here and nowhere else.

use crate::hub::registry::RegistryError;
use crate::hub::upstream::UpstreamError;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use protocol::mux::{ErrorBody, ErrorEnvelope};

/// Every error a hub handler can answer with.
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
    /// Known path, wrong method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Body larger than the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// JSON is well-formed but has missing or mistyped fields (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The request conflicts with the current state; nothing was done (409, its own code).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The upstream session could not be reached (502).
    #[error("upstream error: {0}")]
    Upstream(String),
    /// The session was discovered on NATS without a url and the call needs HTTP (409).
    #[error("{0}")]
    NoUrl(String),
    /// Registration: the upstream's health check failed (502).
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(String),
    /// The hub is at a capacity limit (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an OS failure on our side (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// HTTP status and envelope code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Self::SessionNotFound => (StatusCode::NOT_FOUND, "SESSION_NOT_FOUND"),
            Self::RouteNotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY"),
            Self::NoUrl(_) => (StatusCode::CONFLICT, "NO_URL"),
            Self::Conflict(code, _) => (StatusCode::CONFLICT, code),
            Self::Upstream(_) | Self::UpstreamUnreachable(_) => {
                (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR")
            }
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::InvalidId(msg) => Self::BadRequest(msg),
            RegistryError::InvalidUrl(_) => Self::BadRequest(err.to_string()),
            RegistryError::NotFound => Self::SessionNotFound,
            RegistryError::Unreachable(e) => Self::UpstreamUnreachable(e.to_string()),
            RegistryError::Upstream(e) => Self::Upstream(e.to_string()),
            RegistryError::Full(_) => Self::Unavailable(err.to_string()),
            RegistryError::Held(_) => Self::Forbidden(err.to_string()),
            RegistryError::MetadataTooLarge(_) => Self::PayloadTooLarge(err.to_string()),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::NoUrl { .. } => Self::NoUrl(err.to_string()),
            UpstreamError::InvalidBody(msg) => Self::Unprocessable(msg),
            err => Self::Upstream(err.to_string()),
        }
    }
}

/// Builds the envelope response for a status, code and message.
pub fn envelope(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: code.to_owned(),
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        envelope(status, code, self.to_string())
    }
}
