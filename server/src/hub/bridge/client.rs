//! One client of a bridge, served by [`crate::edge::coop_ws`]: what is the bridge's own is here.
//! Requests go upstream under ids mapped by [`super::ids`]; `replay:get` is answered from the
//! bridge's log, or forwarded when the log does not reach back; replies leave in the order of
//! the requests ([`super::replies`]); the client is told when its pushes had to be dropped
//! (`LAGGED`) or its output is gone (`OUTPUT_DROPPED`, with the reason); the connection closes
//! when the session is removed or the mux shuts down.

use super::ids::{ClientId, Kind, Pending, Refused};
use super::log::BridgeLog;
use super::replies::{Ticket, MAX_REPLY_SLOTS};
use super::{Attachment, Bridge, Subs};
use crate::edge::coop_ws::{self, frame, Handler, Outgoing, Request, SharedLog, Source};
use axum::extract::ws::WebSocket;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use protocol::coop::WsRequest;
use serde_json::{Map, Value};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Serves one client until it leaves, the session is removed or the mux shuts down.
pub async fn run(
    socket: WebSocket,
    attachment: Attachment,
    subs: Subs,
    shutdown: CancellationToken,
) {
    let bridge = attachment.bridge.clone();
    let (tx, rx) = coop_ws::queue();
    let lagged = Arc::new(AtomicBool::new(false));
    let id = bridge.add_client(tx.clone(), subs, lagged.clone());
    let forward = Forward {
        bridge: bridge.clone(),
        id,
        slots: Arc::new(Semaphore::new(MAX_REPLY_SLOTS)),
    };
    let client = Client {
        bridge: bridge.clone(),
        lagged,
        shutdown,
    };
    coop_ws::serve(socket, (tx, rx), forward, client, subs, true).await;
    bridge.remove_client(id);
    drop(attachment);
}

/// Forwards one client's requests upstream, or answers them from the bridge, each reply in
/// the order of the requests ([`super::replies`]).
struct Forward {
    bridge: Arc<Bridge>,
    id: ClientId,
    /// The client's reply slots; the reader waits when they are all taken.
    slots: Arc<Semaphore>,
}

impl Handler for Forward {
    async fn handle(&mut self, request: Request) -> Option<Outgoing> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        match request {
            // The client is already authenticated to the mux, and the mux authenticates
            // upstream with the session's own token; coop answers a successful auth with
            // nothing.
            Request::Other { body, .. } if body.get("event") == Some(&Value::from("auth")) => None,
            Request::Other { request_id, body } => {
                let ticket = self.bridge.open_reply(self.id, permit)?;
                let refused = self
                    .forward(body, request_id.clone(), Kind::Request, ticket)
                    .await
                    .err()?;
                let frame = refusal(refused, request_id.as_ref());
                self.bridge
                    .fill_reply(self.id, ticket, Outgoing::Frame(frame));
                None
            }
            // Bytes older than the log holds may still be upstream.
            Request::Replay(ask) if ask.offset < self.bridge.log.held().start => {
                let ticket = self.bridge.open_reply(self.id, permit)?;
                let request = WsRequest::ReplayGet {
                    offset: ask.offset,
                    limit: ask.limit,
                };
                let forwarded = match serde_json::to_value(request) {
                    Ok(Value::Object(body)) => {
                        let original = ask.request_id.clone();
                        self.forward(body, original, Kind::Replay, ticket).await
                    }
                    _ => Err(Refused::Disconnected),
                };
                // Not sent: the log answers with what it has.
                if forwarded.is_err() {
                    self.bridge
                        .fill_reply(self.id, ticket, Outgoing::Replay(ask));
                }
                None
            }
            Request::Replay(ask) => self
                .bridge
                .ready_reply(self.id, permit, Outgoing::Replay(ask)),
        }
    }

    async fn rejected(&mut self, frame: String) -> Option<Outgoing> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        self.bridge
            .ready_reply(self.id, permit, Outgoing::Frame(frame))
    }
}

impl Forward {
    async fn forward(
        &self,
        body: Map<String, Value>,
        original: Option<Value>,
        kind: Kind,
        ticket: Ticket,
    ) -> Result<(), Refused> {
        let pending = Pending {
            client: Some(self.id),
            ticket,
            original,
            kind,
        };
        self.bridge.request(body, pending).await
    }
}

fn refusal(refused: Refused, request_id: Option<&Value>) -> String {
    match refused {
        Refused::Disconnected => frame::error(
            "UPSTREAM_RECONNECTING",
            "the session's upstream connection is down; the request was not sent",
            request_id,
        ),
        Refused::Full => frame::error("BUSY", "too many requests awaiting replies", request_id),
    }
}

/// The bridge's side of one client's writer.
struct Client {
    bridge: Arc<Bridge>,
    /// Set when a push had to be dropped because the client's queue was full.
    lagged: Arc<AtomicBool>,
    shutdown: CancellationToken,
}

impl Source for Client {
    type Ring = BridgeLog;
    type End = Option<u64>;

    fn log(&self) -> &SharedLog<BridgeLog, Option<u64>> {
        &self.bridge.log
    }

    fn closed(&self) -> BoxFuture<'static, &'static str> {
        let bridge = self.bridge.cancel.clone();
        let session = self.bridge.session.cancel.clone();
        let shutdown = self.shutdown.clone();
        async move {
            tokio::select! {
                biased;
                () = bridge.cancelled() => {
                    if session.is_cancelled() { "session removed" } else { "bridge closed" }
                }
                () = shutdown.cancelled() => "mux shutting down",
            }
        }
        .boxed()
    }

    fn notice(&mut self) -> Option<String> {
        self.lagged.swap(false, Ordering::AcqRel).then(|| {
            let message = "this client fell behind; some pushed events were dropped";
            frame::error("LAGGED", message, None)
        })
    }

    /// Tells the client exactly why: bytes the session itself no longer held when the mux
    /// asked for them (a hole in the log), or bytes the mux held but this client fell too far
    /// behind to read.
    fn output_dropped(&self, lost: Range<u64>) -> Option<String> {
        let holes = self.bridge.log.lock().holes_in(lost.clone());
        let upstream: u64 = holes.iter().map(|h| h.end - h.start).sum();
        let behind = (lost.end - lost.start).saturating_sub(upstream);
        let mut reasons = Vec::new();
        if upstream > 0 {
            let ranges: Vec<String> = holes
                .iter()
                .map(|h| format!("{}..{}", h.start, h.end))
                .collect();
            reasons.push(format!(
                "{upstream} bytes (offsets {}) were gone from the session's own output log before the mux could read them",
                ranges.join(", ")
            ));
        }
        if behind > 0 {
            reasons.push(format!(
                "{behind} bytes are no longer held by the mux: this client fell behind its log"
            ));
        }
        let message = format!("{}; continuing at offset {}", reasons.join("; "), lost.end);
        Some(frame::error("OUTPUT_DROPPED", message, None))
    }

    fn sent(&self, bytes: usize) {
        self.bridge.metrics.relayed(bytes);
    }
}
