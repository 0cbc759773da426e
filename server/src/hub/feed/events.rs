//! The event feed of one watched session: an upstream `/ws?subscribe=state` connection whose
//! transitions become mux `transition` events (docs/architecture.md, "The path of a `/ws/mux`
//! event").
//!
//! It emits no `session:online`/`session:offline` (those come from the registry only), and
//! forwards upstream `exit` as a transition to `exited`. It follows one registration: when
//! the session is removed it ends, and the watchers start a new one if the id registers
//! again.
//!
//! A feed is also the hub's ear on the session: every frame marks the session heard, a feed
//! that hears nothing for a health interval sends a WebSocket ping (whose pong does the
//! same), and a feed that closes marks it unheard, so an open feed stands in for health
//! requests and a closed one does not (docs/architecture.md, "What a session costs").

use crate::edge::backoff::{self, Backoff};
use crate::hub::bridge::upstream::ws_url;
use crate::hub::bridge::BridgeError;
use crate::hub::registry::{Registry, Session};
use futures_util::{SinkExt, StreamExt};
use protocol::mux::{MuxEvent, MuxTransition};
use protocol::AgentState;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Where a feed's transitions go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The registry's event channel, to `/ws/mux` clients watching the session.
    Mux,
    /// One consumer (the inbox), which is waited for when it lags.
    Queue(mpsc::Sender<MuxTransition>),
}

/// Largest prompt a [`Sink::Queue`] takes, as JSON text; a larger one (the agent's to make)
/// arrives as its `type` alone, so that the queue's bytes stay bounded.
pub const MAX_QUEUED_PROMPT_BYTES: usize = 256 * 1024;

impl Sink {
    async fn deliver(
        &self,
        registry: &Registry,
        mut transition: MuxTransition,
        frame_bytes: usize,
    ) {
        match self {
            Self::Mux => drop(
                registry
                    .event_sender()
                    .send(MuxEvent::Transition(transition)),
            ),
            Self::Queue(queue) => {
                if frame_bytes > MAX_QUEUED_PROMPT_BYTES {
                    if let Some(prompt) = &mut transition.prompt {
                        let kind = prompt.get("type").cloned().unwrap_or(Value::Null);
                        *prompt = serde_json::json!({ "type": kind });
                    }
                }
                drop(queue.send(transition).await)
            }
        }
    }
}

/// Follows the session registered as `id` until it is removed or `stop` is cancelled (the
/// last watcher left, or shutdown); returns at once when no session holds `id`. A later
/// registration of the id gets a new feed ([`super::watch`]).
pub async fn run(registry: &Arc<Registry>, id: &str, stop: CancellationToken, sink: Sink) {
    let Ok(session) = registry.get(id) else {
        return;
    };
    let gone = session.cancel.clone();
    tokio::select! {
        () = stop.cancelled() => {}
        () = gone.cancelled() => {}
        () = follow(registry, &session, &sink) => {}
    }
}

/// Read buffer a state feed starts with: state frames are small, and the inbox keeps one feed
/// per session (tungstenite's default reserves 128 KiB per connection, and every read zeroes
/// the whole buffer, so each byte of it is resident); a larger frame grows it.
const FEED_READ_BUFFER_BYTES: usize = 256;

/// The upstream fields of a `transition` or `exit` frame.
#[derive(Debug, Deserialize)]
struct Upstream {
    event: String,
    prev: Option<AgentState>,
    next: Option<AgentState>,
    seq: Option<u64>,
    cause: Option<String>,
    last_message: Option<String>,
    prompt: Option<Value>,
    error_detail: Option<String>,
    error_category: Option<String>,
    parked_reason: Option<String>,
    resume_at_epoch_ms: Option<u64>,
}

/// Keeps a state connection to one registration, reconnecting with backoff; returns only
/// for the inbox's feed of a session that serves no coop `/ws`.
async fn follow(registry: &Registry, session: &Session, sink: &Sink) {
    let mut backoff = Backoff::new(backoff::UPSTREAM_RECONNECT);
    let mut refused = Backoff::new(backoff::UPSTREAM_REFUSED);
    // Last state and seq seen, to turn `exit` into a transition (and not twice).
    let mut last: Option<(AgentState, u64)> = None;
    loop {
        let url = ws_url(&session.connection(), "state");
        let connected = match url {
            // Boxed: the handshake's state is large and needed only while it runs; inline
            // it would stay in every feed task for the feed's whole life.
            Ok(url) => Box::pin(super::handshake::connect(&url, FEED_READ_BUFFER_BYTES)).await,
            Err(e) => Err(e),
        };
        if let Err(BridgeError::WebSocket(WsError::Http(_))) = connected {
            // No coop `/ws` there (the upgrade got an HTTP answer). The inbox, which follows
            // every session, gives up on it until it registers again: thousands of such
            // sessions must cost nothing while idle. A watcher asks again rarely.
            if matches!(sink, Sink::Queue(_)) {
                tracing::debug!(session = %session.id, "no coop /ws: not followed for the inbox");
                return;
            }
            refused.wait(&CancellationToken::new()).await;
            continue;
        }
        if let Ok(mut socket) = connected {
            backoff.reset();
            refused.reset();
            session.heard();
            // The feed judges the session now; the registration's health socket can go.
            registry.upstream().close_idle_health(&session.url());
            // An idle feed pings on every other tick (docs/architecture.md, "What a session
            // costs").
            let quiet = registry.ping_after();
            // One tick for every feed (one wakeup of the hub for thousands of pings), and no
            // timer of its own in each idle feed.
            let mut grid = registry.ping_grid();
            grid.borrow_and_update();
            loop {
                let msg = tokio::select! {
                    msg = socket.next() => msg,
                    ticked = grid.changed() => {
                        if ticked.is_err() {
                            break;
                        }
                        if !session.heard_within(quiet)
                            && socket.send(Message::Ping(Default::default())).await.is_err()
                        {
                            break;
                        }
                        continue;
                    }
                };
                let Some(Ok(msg)) = msg else { break };
                session.heard();
                let Message::Text(text) = msg else { continue };
                let Ok(frame) = serde_json::from_str::<Upstream>(text.as_str()) else {
                    continue;
                };
                let transition = match (frame.event.as_str(), frame.prev, frame.next, frame.seq) {
                    ("transition", Some(prev), Some(next), Some(seq)) => MuxTransition {
                        session: session.id.clone(),
                        prev,
                        next,
                        seq,
                        cause: frame.cause.filter(|c| !c.is_empty()),
                        last_message: frame.last_message,
                        prompt: frame.prompt.filter(|p| !p.is_null()),
                        error_detail: frame.error_detail,
                        error_category: frame.error_category,
                        parked_reason: frame.parked_reason,
                        resume_at_epoch_ms: frame.resume_at_epoch_ms,
                    },
                    ("exit", ..) => {
                        let (prev, seq) = last.clone().unwrap_or((AgentState::Unknown, 0));
                        if prev == AgentState::Exited {
                            continue;
                        }
                        MuxTransition::exited(session.id.clone(), prev, seq + 1)
                    }
                    _ => continue,
                };
                last = Some((transition.next.clone(), transition.seq));
                // Boxed like the handshake: a waiting delivery holds two transitions, which
                // would otherwise be part of every idle feed task.
                Box::pin(sink.deliver(registry, transition, text.len())).await;
            }
            session.unheard();
        }
        // The caller cancels this task as a whole (the last watcher left).
        backoff.wait(&CancellationToken::new()).await;
    }
}
