//! `/ws/{id}`: the per-session PTY bridge (docs/architecture.md).
//!
//! Clients speak coop's own `/ws` protocol (docs/coop-protocol.md), served by
//! [`crate::coop_ws`]. Per session there is one [`Bridge`]: one upstream
//! connection ([`upstream`]) that feeds a bounded output log ([`log`]) and forwards requests
//! with ids mapped by [`ids`]; each client ([`client`]) reads the log at its own offset, so a
//! slow client never holds memory and never slows the others. [`Bridges`] creates a bridge
//! for the first client and drops it with the last, under one lock so two can never exist.

pub mod client;
pub mod ids;
pub mod log;
pub mod upstream;

use crate::coop_ws::{Outgoing, QueueError, QueueSender, SharedLog, MAX_CLIENT_FRAME_BYTES};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::{Registry, Session};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use ids::{ClientId, Ids, Pending, Refused};
use log::{BridgeLog, BRIDGE_LOG_BYTES};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

pub use crate::coop_ws::Subs;

/// Requests queued from clients to the upstream connection (messages).
const UPSTREAM_QUEUE: usize = 256; // messages
/// How long a request waits for a new bridge's first upstream connection before it is
/// refused (later drops refuse at once: a request is never held across a reconnect).
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(5); // 5 s

/// Why the bridge could not talk to its upstream.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The WebSocket connection failed or broke.
    #[error("upstream websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The session's URL cannot be turned into a WebSocket URL.
    #[error("invalid upstream url: {0}")]
    Url(String),
    /// The upstream closed the connection.
    #[error("upstream closed the connection")]
    Closed,
}

/// A connected client as the upstream side sees it.
#[derive(Debug)]
struct ClientHandle {
    tx: QueueSender,
    subs: Subs,
    /// Set when a frame had to be dropped because the queue was full.
    lagged: Arc<AtomicBool>,
}

/// A request for the upstream connection.
#[derive(Debug)]
pub struct Command {
    /// The bridge id it carries (checked before sending: a failed request is never sent).
    id: String,
    /// The encoded request.
    text: String,
}

/// Last state pushes, replayed to a `state` client that joins an existing bridge (coop sends
/// a synthetic transition on connect).
#[derive(Debug, Default)]
struct StateMemo {
    transition: Option<Value>,
    exit: Option<String>,
}

/// One session's bridge.
#[derive(Debug)]
pub struct Bridge {
    session: Arc<Session>,
    /// Child of the session's token: cancelled when the session goes or the last client leaves.
    cancel: CancellationToken,
    /// The session's output as the mux holds it; its end is `None` until the first `replay`
    /// seeded it.
    log: SharedLog<BridgeLog, Option<u64>>,
    clients: Mutex<HashMap<ClientId, ClientHandle>>,
    ids: Mutex<Ids>,
    to_upstream: mpsc::Sender<Command>,
    /// Woken when a client needs `screen` and the connection lacks it.
    resubscribe: Notify,
    upstream_has_screen: AtomicBool,
    /// Whether the client that created the bridge wants `screen`: the upstream task starts
    /// before that client is registered, and must not connect without it and reconnect.
    creator_wants_screen: bool,
    /// Becomes true at the first upstream connection.
    connected_once: watch::Sender<bool>,
    memo: Mutex<StateMemo>,
    metrics: Arc<Metrics>,
    next_client: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections leave their data consistent; a panic elsewhere must not wedge it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    fn new(
        session: Arc<Session>,
        metrics: Arc<Metrics>,
        creator_wants_screen: bool,
    ) -> (Arc<Self>, mpsc::Receiver<Command>) {
        let (to_upstream, commands) = mpsc::channel(UPSTREAM_QUEUE);
        let bridge = Arc::new(Self {
            cancel: session.cancel.child_token(),
            session,
            log: SharedLog::new(BridgeLog::new(BRIDGE_LOG_BYTES), None),
            clients: Mutex::new(HashMap::new()),
            ids: Mutex::new(Ids::default()),
            to_upstream,
            resubscribe: Notify::new(),
            upstream_has_screen: AtomicBool::new(false),
            creator_wants_screen,
            connected_once: watch::Sender::new(false),
            memo: Mutex::new(StateMemo::default()),
            metrics,
            next_client: AtomicU64::new(1),
        });
        (bridge, commands)
    }

    /// Adds a client; returns its id. A `state` client gets the last known state first.
    fn add_client(&self, tx: QueueSender, subs: Subs, lagged: Arc<AtomicBool>) -> ClientId {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        // The clients lock is held across reading the memo and joining (lock order: clients,
        // then memo, as in `push_state`), so a state push lands in the memo or reaches this
        // client, never neither.
        let mut clients = lock(&self.clients);
        if subs.state {
            let memo = lock(&self.memo);
            if let Some(Value::Object(last)) = &memo.transition {
                let mut synthetic = last.clone();
                if let Some(next) = last.get("next").cloned() {
                    synthetic.insert("prev".to_owned(), next);
                }
                let _ = tx.try_send(Outgoing::Frame(Value::Object(synthetic).to_string()));
            }
            if let Some(exit) = &memo.exit {
                let _ = tx.try_send(Outgoing::Frame(exit.clone()));
            }
        }
        clients.insert(id, ClientHandle { tx, subs, lagged });
        drop(clients);
        if subs.screen && !self.upstream_has_screen.load(Ordering::Acquire) {
            self.resubscribe.notify_one();
        }
        id
    }

    fn remove_client(&self, id: ClientId) {
        lock(&self.clients).remove(&id);
        lock(&self.ids).forget_client(id);
    }

    /// Whether any client wants `screen` pushes.
    fn wants_screen(&self) -> bool {
        self.creator_wants_screen || lock(&self.clients).values().any(|c| c.subs.screen)
    }

    /// Queues a frame for every client `wanted` selects; a full queue drops the frame and
    /// marks that client lagged (it is told), so one stalled client never blocks the rest.
    fn fan_out(&self, wanted: impl Fn(Subs) -> bool, frame: &str) {
        for client in lock(&self.clients).values() {
            if wanted(client.subs) {
                self.deliver(client, Outgoing::Frame(frame.to_owned()));
            }
        }
    }

    /// Records a `transition` or `exit` for clients that join later and sends it to the
    /// `state` clients, atomically with respect to [`Bridge::add_client`].
    fn push_state(&self, frame: &str, is_exit: bool) {
        let clients = lock(&self.clients);
        {
            let mut memo = lock(&self.memo);
            if is_exit {
                memo.exit = Some(frame.to_owned());
            } else {
                memo.transition = serde_json::from_str(frame).ok();
            }
        }
        for client in clients.values().filter(|c| c.subs.state) {
            self.deliver(client, Outgoing::Frame(frame.to_owned()));
        }
    }

    fn deliver(&self, client: &ClientHandle, out: Outgoing) {
        if let Err(QueueError::Full) = client.tx.try_send(out) {
            client.lagged.store(true, Ordering::Release);
        }
    }

    /// Queues a reply for one client.
    fn reply_to(&self, client: ClientId, out: Outgoing) {
        if let Some(handle) = lock(&self.clients).get(&client) {
            self.deliver(handle, out);
        }
    }

    /// Sends a client's request upstream under a fresh id. When the upstream is down the
    /// request is refused at once (the caller answers `UPSTREAM_RECONNECTING`).
    async fn request(&self, mut body: Map<String, Value>, pending: Pending) -> Result<(), Refused> {
        // A client that connects to a fresh bridge must not see its first request refused
        // just because the upstream handshake is still under way.
        let mut first = self.connected_once.subscribe();
        let _ = tokio::time::timeout(FIRST_CONNECT_WAIT, first.wait_for(|c| *c)).await;
        let id = lock(&self.ids).register(pending)?;
        body.insert("request_id".to_owned(), Value::String(id.clone()));
        let text = Value::Object(body).to_string();
        self.metrics.relayed(text.len());
        self.to_upstream
            .send(Command { id, text })
            .await
            .map_err(|_| Refused::Disconnected)
    }
}

/// The bridges of all sessions; at most one per session id.
#[derive(Debug, Default)]
pub struct Bridges {
    map: Mutex<HashMap<String, (Arc<Bridge>, usize)>>,
}

/// A client's hold on a bridge; dropping it detaches, and the last one drops the bridge.
#[derive(Debug)]
pub struct Attachment {
    bridges: Arc<Bridges>,
    bridge: Arc<Bridge>,
}

impl Bridges {
    /// Attaches a client to the session's bridge, creating it (and its upstream task) if
    /// none is running for this very session.
    pub fn attach(
        self: &Arc<Self>,
        session: Arc<Session>,
        subs: Subs,
        metrics: &Arc<Metrics>,
    ) -> Attachment {
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
        let (bridge, commands) = Bridge::new(session, metrics.clone(), subs.screen);
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

/// `GET /ws/{id}`: upgrades to a bridged coop `/ws` connection.
pub async fn ws_session(
    State(state): State<BridgeState>,
    Path(id): Path<String>,
    Query(query): Query<BridgeQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Ok(session) = state.registry.get(&id) else {
        return ApiError::SessionNotFound.into_response();
    };
    let subs = Subs::parse(query.subscribe.as_deref().unwrap_or("pty,screen,state"));
    let metrics = state.registry.metrics().clone();
    upgrade
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let gauge = metrics.ws_client();
            let attachment = state.bridges.attach(session, subs, &metrics);
            client::run(socket, attachment, subs, state.shutdown.clone()).await;
            drop(gauge);
        })
}
