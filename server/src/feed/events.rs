//! The event feed of one watched session: an upstream `/ws?subscribe=state` connection whose
//! transitions become mux `transition` events (docs/architecture.md, "The path of a `/ws/mux`
//! event").
//!
//! It emits no `session:online`/`session:offline` (those come from the registry only), and
//! forwards upstream `exit` as a transition to `exited`. It follows the id, not one
//! registration: when the session is removed it waits for the id to register again.

use crate::backoff::{self, Backoff};
use crate::bridge::upstream::{connect, ws_url};
use crate::registry::{Registry, Session};
use futures_util::StreamExt;
use protocol::mux::{MuxEvent, MuxTransition};
use protocol::AgentState;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
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

/// Runs until `stop` is cancelled (the last watcher of `id` left, or shutdown).
pub async fn run(registry: Arc<Registry>, id: String, stop: CancellationToken, sink: Sink) {
    loop {
        // Subscribed before looking the id up, so a registration in between is not missed.
        let mut events = registry.subscribe();
        match registry.get(&id) {
            Ok(session) => {
                let gone = session.cancel.clone();
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = gone.cancelled() => {}
                    () = follow(&registry, &session, &sink) => {}
                }
            }
            Err(_) => loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    event = events.recv() => match event {
                        Ok(MuxEvent::SessionOnline { session, .. }) if session == id => break,
                        Ok(_) => {}
                        // Missed events: look the id up again.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            },
        }
    }
}

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

/// Keeps a state connection to one registration, reconnecting with backoff; never returns.
async fn follow(registry: &Registry, session: &Session, sink: &Sink) {
    let mut backoff = Backoff::new(backoff::UPSTREAM_RECONNECT);
    // Last state and seq seen, to turn `exit` into a transition (and not twice).
    let mut last: Option<(AgentState, u64)> = None;
    loop {
        let url = ws_url(&session.connection(), "state");
        if let Ok(mut socket) = match url {
            Ok(url) => connect(&url).await,
            Err(e) => Err(e),
        } {
            backoff.reset();
            while let Some(Ok(msg)) = socket.next().await {
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
                sink.deliver(registry, transition, text.len()).await;
            }
        }
        // The caller cancels this task as a whole (the last watcher left).
        backoff.wait(&CancellationToken::new()).await;
    }
}
