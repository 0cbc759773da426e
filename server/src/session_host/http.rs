//! HTTP under `/api/v1` with coop's shapes, bearer auth and the error envelope everywhere.

use super::error::HostError;
use super::host::Host;
use super::upload;
use super::ws;
use crate::auth::headers::bearer;
use crate::guard::Guard;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::coop;
use std::path::PathBuf;
use std::sync::Arc;

/// Largest request body: a 10 MiB upload in base64 plus JSON framing.
const MAX_BODY_BYTES: usize = 16 << 20; // 16 MiB

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The session.
    pub host: Arc<Host>,
    /// Directory that holds `uploads/` (the session's working directory).
    pub upload_root: Arc<PathBuf>,
    /// Host and same-origin checks, as on the hub.
    pub guard: Arc<Guard>,
}

/// JSON body extractor whose rejections (400/413/415/422) use the envelope.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = HostError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

type ApiResult<T> = Result<Json<T>, HostError>;

/// The whole router: `/api/v1/*` and `/ws`.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/status", get(status))
        .route("/screen", get(screen))
        .route("/screen/text", get(screen_text))
        .route("/agent", get(agent))
        .route("/input", post(input))
        .route("/input/raw", post(input_raw))
        .route("/input/keys", post(input_keys))
        .route("/resize", post(resize))
        .route("/signal", post(signal))
        .route("/upload", post(upload_file))
        .route("/session/profiles", get(profiles).post(register_profiles))
        .route("/session/switch", post(switch_profile))
        .route("/shutdown", post(shutdown));
    Router::new()
        .nest("/api/v1", api)
        .route("/ws", get(ws::upgrade))
        .fallback(|uri: Uri| async move { HostError::NotFound(uri.path().to_owned()) })
        .method_not_allowed_fallback(|| async { HostError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Bearer auth on every route but `health` and `/ws` (which authenticates itself).
async fn authenticate(State(state): State<HttpState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if let Err(refusal) = state.guard.check(req.method(), path, req.headers()) {
        tracing::warn!(path, "request refused: {refusal}");
        return HostError::from(refusal).into_response();
    }
    let exempt = path == "/api/v1/health" || path == "/ws";
    if exempt || !state.host.requires_token() {
        return next.run(req).await;
    }
    match bearer(req.headers()) {
        Some(token) if state.host.token_matches(&token) => next.run(req).await,
        _ => HostError::Unauthorized.into_response(),
    }
}

async fn health(State(s): State<HttpState>) -> Json<coop::Health> {
    Json(s.host.health())
}

async fn ready(State(s): State<HttpState>) -> Json<coop::Ready> {
    Json(coop::Ready {
        ready: s.host.state.exit().is_none(),
    })
}

async fn status(State(s): State<HttpState>) -> Json<coop::Status> {
    Json(s.host.status())
}

async fn screen(State(s): State<HttpState>) -> Response {
    // Serialised from the shared snapshot without copying it.
    let snapshot = s.host.screen();
    Json(&*snapshot).into_response()
}

async fn screen_text(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.host.screen_text(),
    )
}

async fn agent(State(s): State<HttpState>) -> Json<coop::Agent> {
    Json(s.host.agent())
}

async fn input(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::InputText>,
) -> ApiResult<coop::BytesWritten> {
    s.host.input_text(body).await.map(Json)
}

async fn input_raw(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::InputRaw>,
) -> ApiResult<coop::BytesWritten> {
    s.host.input_raw(body).await.map(Json)
}

async fn input_keys(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::InputKeys>,
) -> ApiResult<coop::BytesWritten> {
    s.host.input_keys(body).await.map(Json)
}

async fn resize(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::Resize>,
) -> ApiResult<coop::Resize> {
    s.host.resize(body).map(Json)
}

async fn signal(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::SignalRequest>,
) -> ApiResult<coop::SignalSent> {
    s.host.signal(&body).map(Json)
}

async fn upload_file(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::Upload>,
) -> ApiResult<coop::Uploaded> {
    let root = Arc::clone(&s.upload_root);
    tokio::task::spawn_blocking(move || upload::save(&root, &body))
        .await
        .map_err(|e| HostError::Internal(e.to_string()))?
        .map(Json)
}

async fn profiles(State(s): State<HttpState>) -> Json<coop::ProfilesList> {
    Json(s.host.profiles())
}

async fn register_profiles(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::ProfilesRegister>,
) -> ApiResult<coop::ProfilesRegistered> {
    // Names only: the credentials never reach the log.
    let names: Vec<String> = body.profiles.iter().map(|p| p.name.clone()).collect();
    let registered = s.host.register_profiles(body)?;
    tracing::info!(profiles = ?names, "profiles registered");
    Ok(Json(registered))
}

async fn switch_profile(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::SessionSwitch>,
) -> Result<axum::http::StatusCode, HostError> {
    s.host.switch_profile(&body)?;
    tracing::info!(profile = ?body.profile, force = body.force, "profile switch");
    Ok(axum::http::StatusCode::ACCEPTED)
}

async fn shutdown(State(s): State<HttpState>) -> Json<coop::ShutdownAccepted> {
    Json(s.host.request_shutdown())
}
