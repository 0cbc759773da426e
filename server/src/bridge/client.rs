//! One client of a bridge: a reader that turns the client's frames into upstream requests,
//! and a writer that owns the socket's send half and the client's own output offset.
//!
//! The writer pulls PTY bytes from the shared log at its own pace, woken by the log's end
//! `watch`: a slow client only falls behind in the log (and is told when the log no longer
//! holds its bytes); it never makes the mux buffer anything for it and never slows the rest.

use super::ids::{ClientId, Kind, Pending, Refused};
use super::{error_frame, lock, Attachment, Bridge, Outgoing, Subs};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Frames queued for one client: replies and pushes other than PTY bytes (messages).
pub const CLIENT_QUEUE: usize = 256; // messages
/// Most PTY bytes in one `pty` frame to a client.
const PTY_FRAME_BYTES: usize = 64 << 10; // 64 KiB
/// Close code "going away" (RFC 6455).
const CLOSE_GOING_AWAY: u16 = 1001; // WebSocket close code

/// Serves one client until it leaves, the session is removed or the mux shuts down.
pub async fn run(
    socket: WebSocket,
    attachment: Attachment,
    subs: Subs,
    shutdown: CancellationToken,
) {
    let bridge = attachment.bridge.clone();
    let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
    let lagged = Arc::new(AtomicBool::new(false));
    let id = bridge.add_client(tx.clone(), subs, lagged.clone());
    let (sink, stream) = socket.split();
    let mut writer = Writer {
        id,
        bridge: bridge.clone(),
        sink,
        subs,
        pos: None,
        buf: Vec::with_capacity(PTY_FRAME_BYTES),
        lagged,
    };
    tokio::select! {
        () = writer.run(rx, bridge.end.subscribe(), shutdown) => {}
        () = read(&bridge, id, stream, tx) => {}
    }
    bridge.remove_client(id);
    drop(attachment);
}

async fn read(
    bridge: &Bridge,
    id: ClientId,
    mut stream: SplitStream<WebSocket>,
    tx: mpsc::Sender<Outgoing>,
) {
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return,
        };
        if let Some(reply) = request(bridge, id, &text).await {
            if tx.send(reply).await.is_err() {
                return;
            }
        }
    }
}

/// Handles one client frame; returns what to queue for the client itself, if anything.
async fn request(bridge: &Bridge, id: ClientId, text: &str) -> Option<Outgoing> {
    let mut value: Value = match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            return Some(Outgoing::Frame(error_frame(
                "BAD_REQUEST",
                "invalid JSON request",
                None,
            )))
        }
    };
    let original = value.as_object_mut().and_then(|m| m.remove("request_id"));
    match value.get("event").and_then(Value::as_str) {
        Some("replay:get") => Some(Outgoing::Replay {
            offset: value.get("offset").and_then(Value::as_u64).unwrap_or(0),
            limit: value.get("limit").and_then(Value::as_u64),
            request_id: original,
        }),
        // The client is already authenticated to the mux, and the mux authenticates upstream
        // with the session's own token; coop answers a successful auth with nothing.
        Some("auth") => None,
        _ => {
            let pending = Pending {
                client: Some(id),
                original: original.clone(),
                kind: Kind::Request,
            };
            match bridge.request(value, pending).await {
                Ok(()) => None,
                Err(refused) => Some(Outgoing::Frame(refusal(refused, original))),
            }
        }
    }
}

fn refusal(refused: Refused, request_id: Option<Value>) -> String {
    match refused {
        Refused::Disconnected => error_frame(
            "UPSTREAM_RECONNECTING",
            "the session's upstream connection is down; the request was not sent",
            request_id,
        ),
        Refused::Full => error_frame("BUSY", "too many requests awaiting replies", request_id),
    }
}

struct Writer {
    id: ClientId,
    bridge: Arc<Bridge>,
    sink: SplitSink<WebSocket, Message>,
    subs: Subs,
    /// Next offset this client needs; `None` until the log is seeded.
    pos: Option<u64>,
    buf: Vec<u8>,
    lagged: Arc<AtomicBool>,
}

/// The client went away.
struct Gone;

impl Writer {
    async fn send(&mut self, frame: String) -> Result<(), Gone> {
        self.bridge.metrics.relayed(frame.len());
        self.sink
            .send(Message::Text(frame.into()))
            .await
            .map_err(|_| Gone)
    }

    async fn close(&mut self, reason: &'static str) {
        let frame = CloseFrame {
            code: CLOSE_GOING_AWAY,
            reason: reason.into(),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
    }

    async fn run(
        &mut self,
        mut rx: mpsc::Receiver<Outgoing>,
        mut end_rx: watch::Receiver<Option<u64>>,
        shutdown: CancellationToken,
    ) {
        // A replay asked for before the log is seeded waits for it.
        let mut deferred: Option<Outgoing> = None;
        loop {
            let end = *end_rx.borrow_and_update();
            if let Some(end) = end {
                let pos = *self.pos.get_or_insert(end);
                // `end` may trail the log by one append (the watch is updated after the log's
                // lock is released), so only the log itself can tell that the upstream
                // restarted its output below this client's position.
                if pos > end {
                    let log = lock(&self.bridge.log);
                    if pos > log.end() {
                        self.pos = Some(log.oldest());
                    }
                }
                if let Some(replay) = deferred.take() {
                    if self.handle(replay).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
            if self.lagged.swap(false, Ordering::AcqRel) {
                let frame = error_frame(
                    "LAGGED",
                    "this client fell behind; some pushed events were dropped",
                    None,
                );
                if self.send(frame).await.is_err() {
                    return;
                }
            }
            let want_pty = self.subs.pty && matches!((self.pos, end), (Some(p), Some(e)) if p < e);
            let step = tokio::select! {
                biased;
                () = self.bridge.cancel.cancelled() => {
                    let reason = if self.bridge.session.cancel.is_cancelled() { "session removed" } else { "bridge closed" };
                    self.close(reason).await;
                    return;
                }
                () = shutdown.cancelled() => {
                    self.close("mux shutting down").await;
                    return;
                }
                out = rx.recv() => match out {
                    None => return,
                    Some(replay @ Outgoing::Replay { .. }) if end.is_none() => {
                        deferred = Some(replay);
                        Ok(())
                    }
                    Some(out) => self.handle(out).await,
                },
                () = std::future::ready(()), if want_pty => self.send_pty().await,
                changed = end_rx.changed(), if !want_pty => changed.map_err(|_| Gone),
            };
            if step.is_err() {
                return;
            }
        }
    }

    async fn handle(&mut self, out: Outgoing) -> Result<(), Gone> {
        match out {
            Outgoing::Frame(frame) => self.send(frame).await,
            Outgoing::ReplayReply { frame, next_offset } => {
                self.advance(next_offset);
                self.send(frame).await
            }
            Outgoing::Replay {
                offset,
                limit,
                request_id,
            } => self.replay(offset, limit, request_id).await,
        }
    }

    /// Later `pty` frames ending at or before a replay's end are skipped (coop's rule).
    fn advance(&mut self, next_offset: u64) {
        self.pos = Some(self.pos.map_or(next_offset, |p| p.max(next_offset)));
    }

    /// Answers `replay:get` from the log, or forwards it when the log does not reach back to
    /// `offset` (and the upstream is connected; otherwise the log answers with what it has).
    async fn replay(
        &mut self,
        offset: u64,
        limit: Option<u64>,
        request_id: Option<Value>,
    ) -> Result<(), Gone> {
        let oldest = lock(&self.bridge.log).oldest();
        if offset < oldest {
            let mut ask = json!({"event": "replay:get", "offset": offset});
            if let Some(limit) = limit {
                ask["limit"] = json!(limit);
            }
            let pending = Pending {
                client: Some(self.id),
                original: request_id.clone(),
                kind: Kind::Replay,
            };
            if self.bridge.request(ask, pending).await.is_ok() {
                return Ok(());
            }
        }
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let mut data = Vec::new();
        let (start, total) = {
            let log = lock(&self.bridge.log);
            (log.read_into(offset, limit, &mut data), log.end())
        };
        let next_offset = start + data.len() as u64;
        let mut reply = json!({
            "event": "replay",
            "data": base64::engine::general_purpose::STANDARD.encode(&data),
            "offset": start,
            "next_offset": next_offset,
            "total_written": total,
        });
        if let Some(id) = request_id {
            reply["request_id"] = id;
        }
        self.advance(next_offset);
        self.send(reply.to_string()).await
    }

    async fn send_pty(&mut self) -> Result<(), Gone> {
        let Some(pos) = self.pos else {
            return Ok(());
        };
        self.buf.clear();
        let start = lock(&self.bridge.log).read_into(pos, PTY_FRAME_BYTES, &mut self.buf);
        if start > pos {
            let message = format!(
                "{} bytes of output are no longer held by the mux; continuing at offset {start}",
                start - pos
            );
            self.send(error_frame("OUTPUT_DROPPED", &message, None))
                .await?;
        }
        self.pos = Some(start + self.buf.len() as u64);
        if self.buf.is_empty() {
            return Ok(());
        }
        // Built by hand: the hot path, and base64 needs no JSON escaping.
        let mut frame = String::with_capacity(self.buf.len() * 4 / 3 + 64);
        frame.push_str(r#"{"event":"pty","data":""#);
        base64::engine::general_purpose::STANDARD.encode_string(&self.buf, &mut frame);
        frame.push_str(r#"","offset":"#);
        frame.push_str(&start.to_string());
        frame.push('}');
        self.send(frame).await
    }
}
