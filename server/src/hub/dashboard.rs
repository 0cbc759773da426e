//! The dashboard's typed server functions, served by the hub: [`app::api::MuxApi`] for
//! [`Hub`]. Each call runs the same code as its REST endpoint and fails with the status, code
//! and message that endpoint would answer: its error converts into the one [`ApiError`] and
//! from there, by [`fail`], into the server function's [`ApiFailure`].

use crate::edge::error::ApiError;
use crate::hub::operations;
use crate::hub::state::Hub;
use app::api::{ApiFailure, ApiFuture, MuxApi, SessionAction};
use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{header::CONTENT_LENGTH, Method, StatusCode},
    middleware::Next,
    response::Response,
};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use protocol::coop;
use protocol::credentials::{
    AccountAdded, AccountStatus, DistributeRequest, DistributeResponse, ExchangeRequest,
    NewAccountRequest, ReauthRequest, ReauthResponse, SetTokenRequest,
};
use protocol::launch::{LaunchConfig, LaunchDetail, LaunchResponse};
use protocol::mux::{CachedScreen, CachedStatus, SessionInfo};
use protocol::ErrorEnvelope;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Launches listed by the dialog's "Recent launches".
const RECENT_LAUNCHES: usize = 20;
/// Largest upstream answer a server function reads back, in bytes (64 KiB).
const ACTION_REPLY_BYTES: usize = 64 << 10;

impl From<ApiError> for ApiFailure {
    fn from(err: ApiError) -> Self {
        let (status, code) = err.status_and_code();
        ApiFailure::with_code(status.as_u16(), code, err.to_string())
    }
}

/// Any error of the hub as a server function's failure, through [`ApiError`].
fn fail(err: impl Into<ApiError>) -> ApiFailure {
    ApiFailure::from(err.into())
}

/// The hub as the server functions see it (a newtype so the trait's futures can own an `Arc`).
#[derive(Debug, Clone)]
pub struct DashboardApi(pub Arc<Hub>);

impl MuxApi for DashboardApi {
    fn session_count(&self) -> usize {
        self.0.registry.len()
    }

    fn list_sessions(&self) -> Vec<SessionInfo> {
        self.0.registry.list()
    }

    fn launch_config(&self) -> LaunchConfig {
        crate::hub::launch::api::config(&self.0.launcher)
    }

    fn launch(&self, env: BTreeMap<String, String>) -> Result<LaunchResponse, ApiFailure> {
        self.0.launcher.launch(&env).map_err(fail)
    }

    fn launches(&self) -> Vec<LaunchDetail> {
        self.0.launcher.tracker().recent(RECENT_LAUNCHES)
    }

    fn session_action(&self, id: String, action: SessionAction) -> ApiFuture<serde_json::Value> {
        let hub = self.0.clone();
        Box::pin(async move {
            let (method, path, body) = upstream_call(action);
            let response =
                crate::hub::proxy::forward(&hub.registry, &id, method, path, body).await?;
            read_reply(response).await
        })
    }

    fn session_states(&self, ids: Vec<String>) -> ApiFuture<BTreeMap<String, CachedStatus>> {
        let hub = self.0.clone();
        Box::pin(async move { Ok(operations::states(&hub.registry, ids).await?) })
    }

    fn session_screen(&self, id: String) -> ApiFuture<CachedScreen> {
        let hub = self.0.clone();
        Box::pin(async move { hub.registry.screen(&id).await.map_err(fail) })
    }

    fn dismiss_session(&self, id: String) -> ApiFuture<()> {
        let hub = self.0.clone();
        Box::pin(async move { Ok(operations::dismiss(&hub.registry, &id).await?) })
    }

    fn credential_status(&self) -> Result<Vec<AccountStatus>, ApiFailure> {
        Ok(self.0.credentials.broker.status())
    }

    fn credential_new(&self, req: NewAccountRequest) -> ApiFuture<AccountAdded> {
        let hub = self.0.clone();
        Box::pin(async move { hub.credentials.add(req).await.map_err(fail) })
    }

    fn credential_set(&self, req: SetTokenRequest) -> ApiFuture<()> {
        let hub = self.0.clone();
        Box::pin(async move { hub.credentials.set(req).await.map_err(fail) })
    }

    fn credential_reauth(&self, req: ReauthRequest) -> ApiFuture<ReauthResponse> {
        let hub = self.0.clone();
        Box::pin(async move { hub.credentials.reauth(req).await.map_err(fail) })
    }

    fn credential_exchange(&self, req: ExchangeRequest) -> ApiFuture<()> {
        let hub = self.0.clone();
        Box::pin(async move { hub.credentials.exchange(req).await.map_err(fail) })
    }

    fn credential_distribute(&self, req: DistributeRequest) -> ApiFuture<DistributeResponse> {
        let hub = self.0.clone();
        Box::pin(async move { hub.credentials.distribute(req).await.map_err(fail) })
    }
}

/// The upstream method, path and JSON body of a dashboard action on a session.
fn upstream_call(action: SessionAction) -> (Method, &'static str, Option<Bytes>) {
    let post = |path, body: Bytes| (Method::POST, path, Some(body));
    match action {
        SessionAction::Nudge { message } => post(
            "/api/v1/agent/nudge",
            to_body(&coop::NudgeRequest { message }),
        ),
        // Coop's respond body is passed on as the dashboard built it.
        SessionAction::Respond { body } => post("/api/v1/agent/respond", to_body(&body)),
        SessionAction::Keys { keys } => {
            post("/api/v1/input/keys", to_body(&coop::InputKeys { keys }))
        }
        SessionAction::Upload { filename, data } => {
            post("/api/v1/upload", to_body(&coop::Upload { filename, data }))
        }
        SessionAction::Profiles => (Method::GET, "/api/v1/session/profiles", None),
        SessionAction::Switch { profile } => {
            let body = coop::SessionSwitch {
                profile: Some(profile),
                ..coop::SessionSwitch::default()
            };
            post("/api/v1/session/switch", to_body(&body))
        }
        SessionAction::Restart => (Method::POST, "/api/v1/session/restart", None),
        SessionAction::Shutdown => (Method::POST, "/api/v1/shutdown", None),
    }
}

/// A request body for a session's API.
fn to_body(body: &impl serde::Serialize) -> Bytes {
    // Serialising these plain structs (strings, lists, JSON values) cannot fail.
    Bytes::from(serde_json::to_vec(body).unwrap_or_default())
}

/// The session's answer as the server function's result: its JSON, or the status, code and
/// message of its error (the REST proxy's answer, passed on).
async fn read_reply(response: Response) -> Result<serde_json::Value, ApiFailure> {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), ACTION_REPLY_BYTES)
        .await
        .map_err(|e| fail(ApiError::Upstream(format!("cannot read its answer: {e}"))))?;
    if status.is_success() {
        return Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null));
    }
    let error = serde_json::from_slice::<ErrorEnvelope>(&bytes).map_or_else(
        |_| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            fail(ApiError::UpstreamStatus(status, text))
        },
        |e| ApiFailure::with_code(status.as_u16(), e.error.code, e.error.message),
    );
    Err(error)
}

/// Gives a failed server function the HTTP status of its [`ApiFailure`] (the status the REST
/// endpoint answers), instead of the 500 Leptos sends for every error. A failure that never
/// reached a handler (arguments that do not decode) is the caller's: 400.
pub async fn failure_status(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ACTION_REPLY_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut failure) = serde_json::from_slice::<ApiFailure>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if failure.status == 0 {
        failure.status = StatusCode::BAD_REQUEST.as_u16();
    }
    if let Ok(status) = StatusCode::from_u16(failure.status) {
        if status.is_client_error() || status.is_server_error() {
            parts.status = status;
        }
    }
    let body = serde_json::to_vec(&failure).map_or_else(|_| Body::from(bytes), Body::from);
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, body)
}
