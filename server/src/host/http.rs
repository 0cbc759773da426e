//! HTTP under `/api/v1` with coop's shapes, bearer auth and the error envelope everywhere.

use super::error::HostError;
use super::session::Host;
use super::upload;
use super::ws;
use crate::edge::guard::Guard;
use crate::edge::headers::bearer;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
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

/// Routes open without the token, as coop leaves them: the probes.
const OPEN_PATHS: [&str; 4] = ["/api/v1/health", "/api/v1/ready", "/api/v1/livez", "/ws"];

/// The whole router: `/api/v1/*` and `/ws`.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/livez", get(livez))
        .route("/ready", get(ready))
        .route("/output", get(output))
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
        .route(
            "/session/profiles/mode",
            get(profile_mode).put(set_profile_mode),
        )
        .route("/session/switch", post(switch_profile))
        .route("/session/restart", post(restart))
        .route("/session/usage", get(usage))
        .route("/config/stop", get(stop_config).put(set_stop_config))
        .route("/config/start", get(start_config).put(set_start_config))
        .route("/stop/resolve", post(resolve_stop))
        .route("/agent/nudge", post(nudge))
        .route("/agent/respond", post(respond))
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

/// Bearer auth on every route but the probes and `/ws` (which authenticates itself).
async fn authenticate(State(state): State<HttpState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if let Err(refusal) = state.guard.check(req.method(), path, req.headers()) {
        tracing::warn!(path, "request refused: {refusal}");
        return HostError::from(refusal).into_response();
    }
    let exempt = OPEN_PATHS.contains(&path);
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

async fn livez(State(s): State<HttpState>) -> Json<coop::Livez> {
    Json(s.host.livez())
}

/// 200 once the agent's state was detected, 503 before and while a switch replaces the child
/// (a load balancer's readiness probe).
async fn ready(State(s): State<HttpState>) -> (StatusCode, Json<coop::Ready>) {
    let ready = s.host.state.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(coop::Ready { ready }))
}

/// The raw output log from `offset`, in the `replay` shape.
async fn output(
    State(s): State<HttpState>,
    query: Result<Query<coop::OutputQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<coop::Replay> {
    let Query(query) = query.map_err(|e| HostError::BadRequest(e.body_text()))?;
    let limit = query
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut data = Vec::new();
    let offset = s.host.read_output(query.offset, limit, &mut data);
    Ok(Json(coop::Replay {
        data: base64::engine::general_purpose::STANDARD.encode(&data),
        offset,
        next_offset: offset + data.len() as u64,
        total_written: s.host.total(),
    }))
}

async fn status(State(s): State<HttpState>) -> Json<coop::Status> {
    Json(s.host.status())
}

/// The screen; the cursor only with `?cursor=true` (else `null`), as coop.
async fn screen(
    State(s): State<HttpState>,
    query: Result<Query<coop::ScreenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, HostError> {
    let Query(query) = query.map_err(|e| HostError::BadRequest(e.body_text()))?;
    let snapshot = s.host.screen();
    if query.cursor || snapshot.cursor.is_none() {
        // Serialised from the shared snapshot without copying it.
        return Ok(Json(&*snapshot).into_response());
    }
    let without = coop::Screen {
        cursor: None,
        ..(*snapshot).clone()
    };
    Ok(Json(without).into_response())
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

async fn profile_mode(State(s): State<HttpState>) -> Json<coop::ProfileMode> {
    Json(s.host.profile_mode())
}

async fn set_profile_mode(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::ProfileMode>,
) -> ApiResult<coop::ProfileMode> {
    s.host.set_profile_mode(body).map(Json)
}

/// 202: accepted; it happens at once or, unforced, once the agent is idle.
async fn switch_profile(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::SessionSwitch>,
) -> Result<StatusCode, HostError> {
    let (profile, force) = (body.profile.clone(), body.force);
    s.host.request_switch(body)?;
    tracing::info!(?profile, force, "profile switch accepted");
    Ok(StatusCode::ACCEPTED)
}

/// 202: the child is restarted at once with the active profile.
async fn restart(State(s): State<HttpState>) -> Result<StatusCode, HostError> {
    s.host.request_restart()?;
    tracing::info!("restart accepted");
    Ok(StatusCode::ACCEPTED)
}

async fn usage(State(s): State<HttpState>) -> Json<coop::Usage> {
    Json(s.host.usage())
}

async fn stop_config(State(s): State<HttpState>) -> Json<coop::StopConfig> {
    Json(s.host.stop_config())
}

async fn set_stop_config(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::StopConfig>,
) -> ApiResult<coop::Updated> {
    s.host.set_stop_config(body).map(Json)
}

async fn start_config(State(s): State<HttpState>) -> Json<coop::StartConfig> {
    Json(s.host.start_config())
}

async fn set_start_config(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::StartConfig>,
) -> ApiResult<coop::Updated> {
    s.host.set_start_config(body).map(Json)
}

/// 200 when the body satisfies the stop schema, 422 when not (`coop send` posts here).
async fn resolve_stop(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::StopResolve>,
) -> ApiResult<coop::Accepted> {
    s.host.resolve_stop(body).map(Json)
}

/// Types a message into the agent (`NOT_READY`, then `NO_DRIVER` for a plain command).
async fn nudge(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::NudgeRequest>,
) -> ApiResult<coop::NudgeReply> {
    s.host.nudge(body).await.map(Json)
}

/// Answers the agent's prompt (`NOT_READY`, then `NO_DRIVER` for a plain command).
async fn respond(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<coop::RespondRequest>,
) -> ApiResult<coop::RespondReply> {
    s.host.respond(body).await.map(Json)
}

async fn shutdown(State(s): State<HttpState>) -> Json<coop::ShutdownAccepted> {
    Json(s.host.request_shutdown())
}
