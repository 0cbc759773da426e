//! The hook receiver: a listener of its own on 127.0.0.1 (whatever address the API binds), one
//! route, `POST /hook`, taking Claude Code's hook events from `coopmux agent-hook` with the
//! host's secret as a bearer token. A browser's request (an `Origin`, or a `Host` that is not
//! the loopback address, as after DNS rebinding) is refused before the secret is looked at;
//! anything else without the secret too (docs/security.md, "Agents inside sessions").

use super::hook_client::MAX_HOOK_BYTES;
use crate::edge::headers::bearer;
use crate::host::session::Host;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
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
    if !from_the_hook_command(&headers) {
        tracing::warn!("hook event refused: not from the hook command");
        return StatusCode::FORBIDDEN;
    }
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

/// What the hook command sends: no `Origin`, and `Host` the loopback address it connected to.
fn from_the_hook_command(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let loopback = host.is_some_and(|h| h.rsplit_once(':').map_or(h, |(ip, _)| ip) == "127.0.0.1");
    loopback && !headers.contains_key(header::ORIGIN)
}
