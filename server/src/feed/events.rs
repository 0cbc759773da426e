//! The event feed of one watched session: an upstream `/ws?subscribe=state` connection whose
//! transitions become mux `transition` events (docs/architecture.md, "The path of a `/ws/mux`
//! event").
//!
//! It emits no `session:online`/`session:offline` (those come from the registry only), and
//! forwards upstream `exit` as a transition to `exited`. It follows one registration: when
//! the session is removed it ends, and the watchers start a new one if the id registers
//! again.

use crate::backoff::{self, Backoff};
use crate::bridge::upstream::{connect, ws_url};
use crate::registry::{Registry, Session};
use futures_util::StreamExt;
use protocol::mux::{MuxEvent, MuxTransition};
use protocol::AgentState;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Follows the session registered as `id` until it is removed or `stop` is cancelled (the
/// last watcher left, or shutdown); returns at once when no session holds `id`. A later
/// registration of the id gets a new feed ([`super::watch`]).
pub(super) async fn run(registry: &Arc<Registry>, id: &str, stop: CancellationToken) {
    let Ok(session) = registry.get(id) else {
        return;
    };
    let gone = session.cancel.clone();
    tokio::select! {
        () = stop.cancelled() => {}
        () = gone.cancelled() => {}
        () = follow(registry, &session) => {}
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
async fn follow(registry: &Registry, session: &Session) {
    let sender = registry.event_sender();
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
                let _ = sender.send(MuxEvent::Transition(transition));
            }
        }
        // The caller cancels this task as a whole (the last watcher left).
        backoff.wait(&CancellationToken::new()).await;
    }
}
