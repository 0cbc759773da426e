//! The hook receiver: a listener of its own on 127.0.0.1 (whatever address the API binds), one
//! route, `POST /hook`, taking Claude Code's hook events from `coopmux agent-hook` with the
//! host's secret as a bearer token. Anything else is refused before a byte is parsed.

use super::hook_client::MAX_HOOK_BYTES;
use crate::auth::headers::bearer;
use crate::session_host::host::Host;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use protocol::claude::HookInput;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

#[derive(Clone)]
struct Receiver {
    host: Arc<Host>,
    token: Arc<str>,
}

/// The receiver's routes.
pub fn router(host: Arc<Host>, token: &str) -> Router {
    let state = Receiver {
        host,
        token: Arc::from(token),
    };
    Router::new()
        .route("/hook", post(receive))
        .layer(DefaultBodyLimit::max(
            usize::try_from(MAX_HOOK_BYTES).unwrap_or(usize::MAX),
        ))
        .with_state(state)
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let authorised = bearer(&headers)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(r.token.as_bytes())));
    if !authorised {
        tracing::warn!("hook event refused: wrong or missing secret");
        return StatusCode::UNAUTHORIZED;
    }
    let hook: HookInput = match serde_json::from_slice(&body) {
        Ok(hook) => hook,
        Err(err) => {
            tracing::warn!(%err, "hook event is not Claude Code's JSON");
            return StatusCode::BAD_REQUEST;
        }
    };
    tracing::debug!(event = %hook.hook_event_name, tool = ?hook.tool_name, "hook event");
    if let Some(claude) = r.host.claude() {
        claude.on_hook(&r.host, &hook);
    }
    StatusCode::NO_CONTENT
}
