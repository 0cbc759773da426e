//! HTTP handlers of the launch API: `POST /api/v1/sessions/launch`,
//! `GET /api/v1/config/launch`, `GET /api/v1/launches` and `GET /api/v1/launches/{id}`.
//! [`LaunchError`] converts into the one [`ApiError`] here.

use super::LaunchError;
use super::Launcher;
use crate::edge::error::ApiError;
use crate::hub::extract::{is_json, parse_json, read_body};
use axum::{
    extract::{FromRequest, Path, Request, State},
    Json,
};
use protocol::launch::{LaunchConfig, LaunchDetail, LaunchInfo, LaunchRequest, LaunchResponse};
use protocol::ErrorEnvelope;
use std::sync::Arc;

/// The launcher's errors over HTTP (coop's statuses and codes: docs/coop-protocol.md).
impl From<LaunchError> for ApiError {
    fn from(err: LaunchError) -> Self {
        let message = err.to_string();
        match err {
            LaunchError::NotConfigured | LaunchError::Env(_) => Self::BadRequest(message),
            LaunchError::Throttled(_) => Self::TooManyRequests(message),
            LaunchError::Spawn(_) => Self::Internal(message),
            LaunchError::NotFound => Self::NotFound("LAUNCH_NOT_FOUND", message),
        }
    }
}

/// The answer of `GET /api/v1/config/launch` for `launcher`.
pub fn config(launcher: &super::Launcher) -> LaunchConfig {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    LaunchConfig {
        available: launcher.available(),
        cwd,
    }
}

/// The optional launch body: no body, an empty body and `{}` all mean "no variables". A
/// non-empty body must be JSON (415 otherwise), so that a cross-site form post cannot
/// smuggle one in.
#[derive(Debug, Default)]
pub struct LaunchBody(pub LaunchRequest);

impl<S: Send + Sync> FromRequest<S> for LaunchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "a launch body must be sent with `Content-Type: application/json`".to_owned(),
            ));
        }
        parse_json(&bytes).map(LaunchBody)
    }
}

/// Spawns a session through the configured launch command.
#[utoipa::path(
    post, path = "/api/v1/sessions/launch", tag = "launch",
    request_body(content = Option<LaunchRequest>, description = "Optional; `env` defaults to `{}`"),
    responses(
        (status = 200, body = LaunchResponse),
        (status = 400, description = "No launch command, or a refused variable", body = ErrorEnvelope),
        (status = 429, description = "Too many launches pending", body = ErrorEnvelope),
        (status = 500, description = "The command could not be spawned", body = ErrorEnvelope),
    )
)]
pub async fn launch_session(
    State(launcher): State<Arc<Launcher>>,
    LaunchBody(body): LaunchBody,
) -> Result<Json<LaunchResponse>, ApiError> {
    let env = body.env.unwrap_or_default();
    Ok(Json(launcher.launch(&env)?))
}

/// Whether launching is available, and the mux's working directory.
#[utoipa::path(
    get, path = "/api/v1/config/launch", tag = "launch",
    responses((status = 200, body = LaunchConfig))
)]
pub async fn launch_config(State(launcher): State<Arc<Launcher>>) -> Json<LaunchConfig> {
    Json(config(&launcher))
}

/// Every tracked launch, oldest first (the last 100 finished ones plus all running ones).
#[utoipa::path(
    get, path = "/api/v1/launches", tag = "launch",
    responses((status = 200, body = Vec<LaunchInfo>))
)]
pub async fn list_launches(State(launcher): State<Arc<Launcher>>) -> Json<Vec<LaunchInfo>> {
    Json(launcher.tracker().list())
}

/// One launch with the last lines of its output.
#[utoipa::path(
    get, path = "/api/v1/launches/{id}", tag = "launch",
    params(("id" = String, Path, description = "Launch id")),
    responses(
        (status = 200, body = LaunchDetail),
        (status = 404, body = ErrorEnvelope),
    )
)]
pub async fn get_launch(
    State(launcher): State<Arc<Launcher>>,
    Path(id): Path<String>,
) -> Result<Json<LaunchDetail>, ApiError> {
    let launch = launcher.tracker().get(&id).ok_or(LaunchError::NotFound)?;
    Ok(Json(launch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn launch_errors_keep_coops_statuses_and_codes() {
        let cases = [
            (LaunchError::NotConfigured, 400, "BAD_REQUEST"),
            (LaunchError::Throttled(3), 429, "TOO_MANY_REQUESTS"),
            (
                LaunchError::Spawn(std::io::Error::other("no sh")),
                500,
                "INTERNAL",
            ),
            (LaunchError::NotFound, 404, "LAUNCH_NOT_FOUND"),
        ];
        for (err, status, code) in cases {
            let message = err.to_string();
            let api = ApiError::from(err);
            assert_eq!(
                api.status_and_code(),
                (StatusCode::from_u16(status).unwrap(), code)
            );
            assert_eq!(api.to_string(), message);
        }
    }
}
