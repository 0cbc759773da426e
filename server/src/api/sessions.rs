//! Registry routes: register/heartbeat, list, deregister, cached screen and status
//! (reference §3, §4.3).

use super::extract::{ApiJson, SessionId};
use crate::error::ApiError;
use crate::registry::{ids, Registration};
use crate::state::AppState;
use axum::{extract::State, Json};
use protocol::mux::{CachedScreen, CachedStatus, ErrorEnvelope, SessionInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use protocol::mux::RegisterRequest;

/// `POST /api/v1/sessions` reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    /// The session's id.
    pub id: String,
    /// Always true.
    pub registered: bool,
}

/// `DELETE /api/v1/sessions/{id}` reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemoveResponse {
    /// The removed id.
    pub id: String,
    /// Always true.
    pub removed: bool,
}

/// Register a session, or heartbeat an existing one.
#[utoipa::path(
    post, path = "/api/v1/sessions", tag = "sessions",
    request_body = RegisterRequest,
    responses(
        (status = 200, body = RegisterResponse),
        (status = 400, description = "invalid id or url", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let registration = Registration {
        url: body.url,
        auth_token: body.auth_token,
        id: body.id,
        metadata: body.metadata.unwrap_or(Value::Null),
    };
    let id = state.hub.registry.register(registration).await?;
    Ok(Json(RegisterResponse {
        id,
        registered: true,
    }))
}

/// List sessions in registration order.
#[utoipa::path(
    get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorEnvelope))
)]
pub async fn list(State(state): State<AppState>) -> Json<Vec<SessionInfo>> {
    Json(state.hub.registry.list())
}

/// Deregister a session.
#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = RemoveResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<RemoveResponse>, ApiError> {
    if !state.hub.registry.remove(&id) {
        return Err(ApiError::SessionNotFound);
    }
    Ok(Json(RemoveResponse { id, removed: true }))
}

/// `DELETE /api/v1/sessions/launch`: `launch` is a route, never a session id. Answered here
/// so that it is a clear 400 rather than a 405 from the launch route's method table.
pub async fn remove_reserved() -> ApiError {
    ApiError::BadRequest(ids::validate("launch").err().unwrap_or_default())
}

/// Screen of a session: cached while fresh, else read live (falling back to the cache).
#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/screen", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = CachedScreen),
        (status = 404, body = ErrorEnvelope),
        (status = 502, body = ErrorEnvelope),
    )
)]
pub async fn screen(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<CachedScreen>, ApiError> {
    Ok(Json(state.hub.registry.screen(&id).await?))
}

/// Status of a session: cached while fresh, else read live (falling back to the cache).
#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/status", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = CachedStatus),
        (status = 404, body = ErrorEnvelope),
        (status = 502, body = ErrorEnvelope),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<CachedStatus>, ApiError> {
    Ok(Json(state.hub.registry.status(&id).await?))
}
