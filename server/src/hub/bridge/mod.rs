//! `/ws/{id}`: the per-session PTY bridge (docs/architecture.md).
//!
//! Clients speak coop's own `/ws` protocol (docs/coop-protocol.md), served by
//! [`crate::edge::coop_ws`]. Per session there is one [`Bridge`]: one upstream connection
//! ([`upstream`], flags `pty,state`, never changed) that feeds a bounded output log ([`log`],
//! kept byte-exact by [`follow`]) and forwards requests with ids mapped by [`ids`]; a second
//! connection for `screen` pushes while a client wants them ([`screen`]); each client
//! ([`client`]) reads the log at its own offset, so a slow client never holds memory and never
//! slows the others, and gets its replies in the order of its requests ([`replies`]).
//! [`Bridges`] creates a bridge for the first client and drops it with the last ([`attach`]).

pub mod attach;
pub mod client;
pub mod follow;
pub mod ids;
pub mod log;
pub mod replies;
pub mod screen;
pub mod upstream;

pub use attach::{ws_session, Attachment, BridgeState, Bridges};

use crate::edge::coop_ws::{Outgoing, QueueError, QueueSender, SharedLog};
use crate::hub::metrics::Metrics;
use crate::hub::registry::Session;
use ids::{ClientId, Ids, Pending, Refused};
use log::{BridgeLog, BRIDGE_LOG_BYTES};
use replies::{Replies, Ticket};
use screen::ScreenFeed;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

pub use crate::edge::coop_ws::Subs;

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
    replies: Replies,
}

/// A request for the upstream connection.
#[derive(Debug)]
pub struct Command {
    /// The bridge id it carries (checked before sending: a failed request is never sent).
    id: String,
    /// The encoded request.
    text: String,
}

/// Last pushes, replayed to a client that joins an existing bridge: the state for `state`
/// clients (coop sends a synthetic transition on connect), the screen for `screen` clients.
#[derive(Debug, Default)]
struct Memo {
    transition: Option<Value>,
    exit: Option<String>,
    screen: Option<String>,
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
    /// The `screen` connection, run while a client wants screen pushes.
    screen: Mutex<ScreenFeed>,
    /// Becomes true at the first upstream connection.
    connected_once: watch::Sender<bool>,
    memo: Mutex<Memo>,
    metrics: Arc<Metrics>,
    next_client: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections leave their data consistent; a panic elsewhere must not wedge it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    fn new(session: Arc<Session>, metrics: Arc<Metrics>) -> (Arc<Self>, mpsc::Receiver<Command>) {
        let (to_upstream, commands) = mpsc::channel(UPSTREAM_QUEUE);
        let bridge = Arc::new(Self {
            cancel: session.cancel.child_token(),
            session,
            log: SharedLog::new(BridgeLog::new(BRIDGE_LOG_BYTES), None),
            clients: Mutex::new(HashMap::new()),
            ids: Mutex::new(Ids::default()),
            to_upstream,
            screen: Mutex::new(ScreenFeed::default()),
            connected_once: watch::Sender::new(false),
            memo: Mutex::new(Memo::default()),
            metrics,
            next_client: AtomicU64::new(1),
        });
        (bridge, commands)
    }

    /// Adds a client; returns its id. A `state` client gets the last known state first, a
    /// `screen` client the last screen (and starts the screen connection if it is the first).
    fn add_client(
        self: &Arc<Self>,
        tx: QueueSender,
        subs: Subs,
        lagged: Arc<AtomicBool>,
    ) -> ClientId {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        // The clients lock is held across reading the memo and joining (lock order: clients,
        // then memo, as in `push_state`), so a push lands in the memo or reaches this client,
        // never neither.
        let mut clients = lock(&self.clients);
        {
            let memo = lock(&self.memo);
            if subs.state {
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
            if let (true, Some(screen)) = (subs.screen, &memo.screen) {
                let _ = tx.try_send(Outgoing::Frame(screen.clone()));
            }
        }
        let handle = ClientHandle {
            tx,
            subs,
            lagged,
            replies: Replies::default(),
        };
        clients.insert(id, handle);
        drop(clients);
        if subs.screen {
            if let Some(stop) = lock(&self.screen).join(&self.cancel) {
                tokio::spawn(screen::run(self.clone(), stop));
            }
        }
        id
    }

    fn remove_client(&self, id: ClientId) {
        let handle = lock(&self.clients).remove(&id);
        lock(&self.ids).forget_client(id);
        if handle.is_some_and(|h| h.subs.screen) && lock(&self.screen).leave() {
            // The next screen client must not start from a stale screen.
            lock(&self.memo).screen = None;
        }
    }

    /// Queues a frame for every client `wanted` selects; a full queue drops the frame and
    /// marks that client lagged (it is told), so one stalled client never blocks the rest.
    fn fan_out(&self, wanted: impl Fn(Subs) -> bool, frame: &str) {
        for client in lock(&self.clients).values() {
            if wanted(client.subs) {
                deliver(client, Outgoing::Frame(frame.to_owned()));
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
            deliver(client, Outgoing::Frame(frame.to_owned()));
        }
    }

    /// Records a `screen` push for clients that join later and sends it to the `screen`
    /// clients.
    fn push_screen(&self, frame: &str) {
        let clients = lock(&self.clients);
        lock(&self.memo).screen = Some(frame.to_owned());
        for client in clients.values().filter(|c| c.subs.screen) {
            deliver(client, Outgoing::Frame(frame.to_owned()));
        }
    }

    /// Takes a client's next reply slot, for a reply that comes later; `None` when the
    /// client is gone.
    fn open_reply(&self, client: ClientId, permit: OwnedSemaphorePermit) -> Option<Ticket> {
        let mut clients = lock(&self.clients);
        Some(clients.get_mut(&client)?.replies.open(permit))
    }

    /// Fills a client's reply slot; replies leave in the order of the client's requests.
    fn fill_reply(&self, client: ClientId, ticket: Ticket, out: Outgoing) {
        if let Some(handle) = lock(&self.clients).get_mut(&client) {
            let ClientHandle { tx, replies, .. } = handle;
            // Bounded by the client's reply slots, never dropped for room: a lost reply would
            // leave the client waiting for ever (a closed queue means the client left).
            replies.fill(ticket, out, |out, slot| {
                let _ = tx.send_reply(out, slot);
            });
        }
    }

    /// A reply the mux has now: returned when none of the client's earlier requests still
    /// waits (the caller sends it), otherwise queued behind them.
    fn ready_reply(
        &self,
        client: ClientId,
        permit: OwnedSemaphorePermit,
        out: Outgoing,
    ) -> Option<Outgoing> {
        match lock(&self.clients).get_mut(&client) {
            Some(handle) => handle.replies.ready(permit, out),
            None => Some(out),
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

fn deliver(client: &ClientHandle, out: Outgoing) {
    deliver_to(&client.tx, &client.lagged, out);
}

/// Queues for one client; a full queue drops the frame and marks the client lagged.
fn deliver_to(tx: &QueueSender, lagged: &AtomicBool, out: Outgoing) {
    if let Err(QueueError::Full) = tx.try_send(out) {
        lagged.store(true, Ordering::Release);
    }
}
