//! Registry routes: register/heartbeat, list, deregister, cached screen and status
//! (docs/coop-protocol.md, "Registering with the hub").

use crate::edge::error::ApiError;
use crate::hub::auth::RegistrationScope;
use crate::hub::extract::{ApiJson, SessionId};
use crate::hub::operations;
use crate::hub::registry::Registry;
use crate::hub::registry::{ids, tokens::token_hash, Registrant, Registration};
use axum::{extract::State, Extension, Json};
use protocol::mux::{CachedScreen, CachedStatus, SessionInfo, StatesRequest};
use protocol::ErrorEnvelope;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
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
    State(registry): State<Arc<Registry>>,
    scope: Option<Extension<RegistrationScope>>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let mut id = body.id;
    let mut registrant = None;
    if let Some(Extension(RegistrationScope(token))) = scope {
        // A launch's own token names its session; the id is fixed before registering.
        let scoped = id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        ids::validate(scoped).map_err(ApiError::BadRequest)?;
        let me = Registrant {
            token_hash: token_hash(&token),
            launched_as: registry.tokens().launched_as(&token, scoped),
        };
        // Before the token binds: a token refused here stays free for its own session.
        registry.check_registrant(scoped, &body.url, &me)?;
        if !registry.tokens().permits_shared(&token, scoped).await {
            return Err(ApiError::Forbidden(
                "this registration token belongs to another session".to_owned(),
            ));
        }
        registrant = Some(me);
    }
    let registration = Registration {
        url: body.url,
        auth_token: body.auth_token,
        id,
        metadata: body.metadata.unwrap_or(Value::Null),
        registrant,
    };
    let id = registry.register(registration).await?;
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
pub async fn list(State(registry): State<Arc<Registry>>) -> Json<Vec<SessionInfo>> {
    Json(registry.list())
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
    State(registry): State<Arc<Registry>>,
    scope: Option<Extension<RegistrationScope>>,
    SessionId(id): SessionId,
) -> Result<Json<RemoveResponse>, ApiError> {
    if let Some(Extension(RegistrationScope(token))) = scope {
        if !registry.tokens().covers(&token, &id) {
            return Err(ApiError::Forbidden(
                "this registration token belongs to another session".to_owned(),
            ));
        }
        let me = Registrant {
            token_hash: token_hash(&token),
            launched_as: false,
        };
        if registry.get(&id).is_ok_and(|s| !me.may_act_on(&s)) {
            return Err(crate::hub::registry::RegistryError::Held(id).into());
        }
    }
    if !registry.remove(&id) {
        return Err(ApiError::SessionNotFound);
    }
    registry.tokens().revoke_session(&id);
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
    State(registry): State<Arc<Registry>>,
    SessionId(id): SessionId,
) -> Result<Json<CachedScreen>, ApiError> {
    Ok(Json(registry.screen(&id).await?))
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
    State(registry): State<Arc<Registry>>,
    SessionId(id): SessionId,
) -> Result<Json<CachedStatus>, ApiError> {
    Ok(Json(registry.status(&id).await?))
}

/// Statuses of many sessions, read live from each (the dashboard asks after an exit); ids that
/// are unknown or do not answer are left out.
#[utoipa::path(
    post, path = "/api/v1/states", tag = "sessions",
    request_body = StatesRequest,
    responses(
        (status = 200, body = BTreeMap<String, CachedStatus>),
        (status = 400, body = ErrorEnvelope),
    )
)]
pub async fn states(
    State(registry): State<Arc<Registry>>,
    ApiJson(req): ApiJson<StatesRequest>,
) -> Result<Json<BTreeMap<String, CachedStatus>>, ApiError> {
    Ok(Json(operations::states(&registry, req.ids).await?))
}

/// Dismiss an exited session: shut its host down and remove it. A session whose program still
/// runs is refused with 409 `SESSION_NOT_EXITED`.
#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/dismiss", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, body = RemoveResponse),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope),
        (status = 502, body = ErrorEnvelope),
    )
)]
pub async fn dismiss(
    State(registry): State<Arc<Registry>>,
    SessionId(id): SessionId,
) -> Result<Json<RemoveResponse>, ApiError> {
    operations::dismiss(&registry, &id).await?;
    Ok(Json(RemoveResponse { id, removed: true }))
}
