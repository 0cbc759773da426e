//! Proxy routes (reference §2.3): thin handlers over [`crate::proxy::forward`].
//!
//! Request and reply bodies are JSON of any shape, forwarded unchanged.

use super::extract::{RawJson, SessionId};
use crate::error::ApiError;
use crate::proxy::forward;
use crate::state::AppState;
use app::protocol::mux::ErrorEnvelope;
use axum::{extract::State, http::Method, response::Response};

/// Live read of the agent (upstream `GET /api/v1/agent`).
#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/agent", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, description = "the upstream's JSON", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
    )
)]
pub async fn agent(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Response, ApiError> {
    forward(&state.hub.registry, &id, Method::GET, "/api/v1/agent", None).await
}

/// Nudge the agent (upstream `POST /api/v1/agent/nudge`).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/agent/nudge", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn nudge(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/agent/nudge",
        Some(body),
    )
    .await
}

/// Answer the agent's prompt (upstream `POST /api/v1/agent/respond`).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/agent/respond", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn respond(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/agent/respond",
        Some(body),
    )
    .await
}

/// Type text (upstream `POST /api/v1/input`).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/input", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn input(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/input",
        Some(body),
    )
    .await
}

/// Write raw base64 bytes (upstream `POST /api/v1/input/raw`).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/input/raw", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn input_raw(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/input/raw",
        Some(body),
    )
    .await
}

/// Send named keys (upstream `POST /api/v1/input/keys`).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/input/keys", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn input_keys(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/input/keys",
        Some(body),
    )
    .await
}

/// Upload a file (upstream `POST /api/v1/upload`, up to 10 MiB decoded).
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/upload", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
        (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    forward(
        &state.hub.registry,
        &id,
        Method::POST,
        "/api/v1/upload",
        Some(body),
    )
    .await
}
