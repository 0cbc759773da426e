//! The hub's REST API, declared once for both routing and the OpenAPI
//! document: every route here appears in `GET /api/v1/openapi.json`. The registry's and the
//! upstream client's errors convert into the one [`ApiError`] here.

pub mod openapi;
pub mod proxy;
pub mod sessions;
pub mod system;

use crate::edge::error::ApiError;
use crate::hub::audit::api as audit;
use crate::hub::auth;
use crate::hub::credentials::api as credentials;
use crate::hub::inbox::api as inbox;
use crate::hub::launch::api as launch;
use crate::hub::registry::RegistryError;
use crate::hub::state::AppState;
use crate::hub::upstream::UpstreamError;
use axum::routing::delete;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Every REST route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::health))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi))
        .routes(routes!(auth::login::login))
        .routes(routes!(auth::login::logout))
        .routes(routes!(sessions::register, sessions::list))
        .routes(routes!(sessions::remove))
        .routes(routes!(sessions::screen))
        .routes(routes!(sessions::status))
        .routes(routes!(sessions::dismiss))
        .routes(routes!(sessions::states))
        .routes(routes!(proxy::agent))
        .routes(routes!(proxy::nudge))
        .routes(routes!(proxy::respond))
        .routes(routes!(proxy::input))
        .routes(routes!(proxy::input_raw))
        .routes(routes!(proxy::input_keys))
        .routes(routes!(proxy::upload))
        .routes(routes!(launch::launch_session))
        .routes(routes!(launch::launch_config))
        .routes(routes!(launch::list_launches))
        .routes(routes!(launch::get_launch))
        .routes(routes!(credentials::status))
        .routes(routes!(credentials::new_account))
        .routes(routes!(credentials::set))
        .routes(routes!(credentials::seed))
        .routes(routes!(credentials::start_reauth))
        .routes(routes!(credentials::exchange))
        .routes(routes!(credentials::distribute))
        .routes(routes!(credentials::pool))
        .routes(routes!(credentials::rebalance))
        .routes(routes!(inbox::list))
        .routes(routes!(inbox::answer))
        .routes(routes!(audit::list))
        .route("/api/v1/sessions/launch", delete(sessions::remove_reserved))
}

/// The registry's errors over HTTP.
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

/// The upstream client's errors over HTTP.
impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::NoUrl { .. } => Self::NoUrl(err.to_string()),
            UpstreamError::InvalidBody(msg) => Self::Unprocessable(msg),
            err => Self::Upstream(err.to_string()),
        }
    }
}
