//! One client of a bridge, served by [`crate::coop_ws`]: what is the bridge's own is here.
//! Requests go upstream under ids mapped by [`super::ids`]; `replay:get` is answered from the
//! bridge's log, or forwarded when the log does not reach back; the client is told when its
//! pushes had to be dropped (`LAGGED`) or its output is no longer held (`OUTPUT_DROPPED`);
//! the connection closes when the session is removed or the mux shuts down.

use super::ids::{ClientId, Kind, Pending, Refused};
use super::log::BridgeLog;
use super::{Attachment, Bridge, Subs};
use crate::coop_ws::{self, frame, Handler, Outgoing, ReplayAsk, Request, SharedLog, Source};
use axum::extract::ws::WebSocket;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use protocol::coop::WsRequest;
use serde_json::Value;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    };
    let client = Client {
        bridge: bridge.clone(),
        id,
        lagged,
        shutdown,
    };
    coop_ws::serve(socket, (tx, rx), forward, client, subs, true).await;
    bridge.remove_client(id);
    drop(attachment);
}

/// Forwards one client's requests upstream.
struct Forward {
    bridge: Arc<Bridge>,
    id: ClientId,
}

impl Handler for Forward {
    async fn handle(&mut self, request: Request) -> Option<Outgoing> {
        match request {
            Request::Replay(ask) => Some(Outgoing::Replay(ask)),
            // The client is already authenticated to the mux, and the mux authenticates
            // upstream with the session's own token; coop answers a successful auth with
            // nothing.
            Request::Other { body, .. } if body.get("event") == Some(&Value::from("auth")) => None,
            Request::Other { request_id, body } => {
                let pending = Pending {
                    client: Some(self.id),
                    original: request_id.clone(),
                    kind: Kind::Request,
                };
                let refused = self.bridge.request(body, pending).await.err()?;
                Some(Outgoing::Frame(refusal(refused, request_id.as_ref())))
            }
        }
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
    id: ClientId,
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

    fn output_dropped(&self, lost: Range<u64>) -> Option<String> {
        let message = format!(
            "{} bytes of output are no longer held by the mux; continuing at offset {}",
            lost.end - lost.start,
            lost.end
        );
        Some(frame::error("OUTPUT_DROPPED", message, None))
    }

    fn sent(&self, bytes: usize) {
        self.bridge.metrics.relayed(bytes);
    }

    /// Forwards a `replay:get` the log does not reach back to, when the upstream is connected
    /// (otherwise the log answers with what it has).
    async fn replay_elsewhere(&self, ask: &ReplayAsk) -> bool {
        if ask.offset >= self.bridge.log.held().start {
            return false;
        }
        let request = WsRequest::ReplayGet {
            offset: ask.offset,
            limit: ask.limit,
        };
        let Ok(Value::Object(body)) = serde_json::to_value(request) else {
            return false;
        };
        let pending = Pending {
            client: Some(self.id),
            original: ask.request_id.clone(),
            kind: Kind::Replay,
        };
        self.bridge.request(body, pending).await.is_ok()
    }
}
