//! Attaching clients to bridges, one bridge per session, and the `/ws/{id}` route itself.

use super::{client, lock, upstream, Bridge, Subs};
use crate::edge::coop_ws::MAX_CLIENT_FRAME_BYTES;
use crate::edge::error::ApiError;
use crate::hub::metrics::Metrics;
use crate::hub::registry::{Registry, Session};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The bridges of all sessions; at most one per session id.
#[derive(Debug, Default)]
pub struct Bridges {
    map: Mutex<HashMap<String, (Arc<Bridge>, usize)>>,
}

/// A client's hold on a bridge; dropping it detaches, and the last one drops the bridge.
#[derive(Debug)]
pub struct Attachment {
    bridges: Arc<Bridges>,
    pub(super) bridge: Arc<Bridge>,
}

impl Bridges {
    /// Attaches a client to the session's bridge, creating it (and its upstream task) if
    /// none is running for this very session.
    pub fn attach(self: &Arc<Self>, session: Arc<Session>, metrics: &Arc<Metrics>) -> Attachment {
        let mut map = lock(&self.map);
        if let Some((bridge, clients)) = map.get_mut(&session.id) {
            if Arc::ptr_eq(&bridge.session, &session) && !bridge.cancel.is_cancelled() {
                *clients += 1;
                return Attachment {
                    bridges: self.clone(),
                    bridge: bridge.clone(),
                };
            }
            // A bridge of an earlier registration under the same id.
            bridge.cancel.cancel();
        }
        let (bridge, commands) = Bridge::new(session, metrics.clone());
        tokio::spawn(upstream::run(bridge.clone(), commands));
        map.insert(bridge.session.id.clone(), (bridge.clone(), 1));
        Attachment {
            bridges: self.clone(),
            bridge,
        }
    }

    /// Number of running bridges.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// True when no bridge runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut map = lock(&self.bridges.map);
        let id = &self.bridge.session.id;
        if let Some((bridge, clients)) = map.get_mut(id) {
            if Arc::ptr_eq(bridge, &self.bridge) {
                *clients -= 1;
                if *clients == 0 {
                    bridge.cancel.cancel();
                    map.remove(id);
                }
            }
        }
    }
}

/// Query of `/ws/{id}`; `token` is checked by the auth middleware.
#[derive(Debug, Deserialize)]
pub struct BridgeQuery {
    /// Comma-separated flags; default `pty,screen,state`.
    subscribe: Option<String>,
}

/// What `/ws/{id}` needs from the hub.
#[derive(Debug, Clone)]
pub struct BridgeState {
    /// Sessions, to look the id up.
    pub registry: Arc<Registry>,
    /// The live bridges, one per watched session.
    pub bridges: Arc<Bridges>,
    /// Cancelled when the hub shuts down.
    pub shutdown: CancellationToken,
}

/// `GET /ws/{id}`: upgrades to a bridged coop `/ws` connection. The session is looked up
/// first: an unknown id is a 404 whatever the request (as coop: docs/coop-protocol.md), and only then
/// is a request that is not a valid upgrade refused, in the envelope like every rejection.
pub async fn ws_session(
    State(state): State<BridgeState>,
    Path(id): Path<String>,
    query: Result<Query<BridgeQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(session) = state.registry.get(&id) else {
        return ApiError::SessionNotFound.into_response();
    };
    let (query, upgrade) = match (query, upgrade) {
        (Ok(Query(query)), Ok(upgrade)) => (query, upgrade),
        (Err(e), _) => return ApiError::BadRequest(e.body_text()).into_response(),
        (_, Err(e)) => {
            let message = format!("expected a WebSocket upgrade: {}", e.body_text());
            return ApiError::BadRequest(message).into_response();
        }
    };
    let subs = Subs::parse(query.subscribe.as_deref().unwrap_or("pty,screen,state"));
    let metrics = state.registry.metrics().clone();
    upgrade
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        // The dashboard offers it beside its login (docs/security.md).
        .protocols([crate::hub::auth::WS_PROTOCOL])
        .on_upgrade(move |socket| async move {
            let gauge = metrics.ws_client();
            let attachment = state.bridges.attach(session, &metrics);
            client::run(socket, attachment, subs, state.shutdown.clone()).await;
            drop(gauge);
        })
}
