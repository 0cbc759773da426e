//! The bridge's one upstream connection: `{ws_base}/ws?subscribe=pty,state[,screen]`.
//!
//! PTY bytes go into the bridge's log (never straight to clients). After every connect the
//! bridge asks `replay:get` from the end of what it holds (0 the first time) and ignores
//! `pty` frames until that reply: coop sends nothing that ends past the reply's end before
//! it, so the log continues exactly where it stopped. On a drop every pending request is
//! answered `UPSTREAM_RECONNECTING` and the bridge reconnects with backoff.

use super::ids::{restore, Kind, Pending};
use super::{lock, Bridge, BridgeError, Command, Subs};
use crate::backoff::{self, Backoff};
use crate::coop_ws::{frame, Outgoing};
use crate::registry::Connection;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use protocol::coop::{Correlated, WsRequest};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest frame accepted from the upstream (a full-log replay is ~5.6 MB of JSON).
const MAX_UPSTREAM_FRAME_BYTES: usize = 64 << 20; // 64 MiB

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The upstream WebSocket URL for these flags, the session token URL-encoded (a token with
/// `&` or `=` must not break the query).
pub fn ws_url(connection: &Connection, flags: &str) -> Result<String, BridgeError> {
    let base = if let Some(rest) = connection.url.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = connection.url.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        return Err(BridgeError::Url("not an http(s) url".to_owned()));
    };
    let mut url = reqwest::Url::parse(&base).map_err(|e| BridgeError::Url(e.to_string()))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("subscribe", flags);
        if let Some(token) = &connection.auth_token {
            query.append_pair("token", token);
        }
    }
    Ok(url.into())
}

/// Connects with TCP_NODELAY (keystroke echo must not wait for Nagle).
pub async fn connect(url: &str) -> Result<Socket, BridgeError> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM_FRAME_BYTES))
        .max_frame_size(Some(MAX_UPSTREAM_FRAME_BYTES));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(socket)
}

/// How one connection ended.
enum Ended {
    Cancelled,
    Resubscribe,
    Dropped(BridgeError),
}

/// The upstream task of a bridge; runs until the bridge is cancelled.
pub(super) async fn run(bridge: Arc<Bridge>, mut commands: mpsc::Receiver<Command>) {
    let mut backoff = Backoff::new(backoff::UPSTREAM_RECONNECT);
    loop {
        let screen = bridge.wants_screen();
        let flags = if screen {
            "pty,state,screen"
        } else {
            "pty,state"
        };
        let connected = async {
            let url = ws_url(&bridge.session.connection(), flags)?;
            connect(&url).await
        };
        let socket = tokio::select! {
            () = bridge.cancel.cancelled() => return,
            socket = connected => socket,
        };
        let ended = match socket {
            Ok(socket) => {
                backoff.reset();
                bridge.upstream_has_screen.store(screen, Ordering::Release);
                serve(&bridge, socket, &mut commands).await
            }
            Err(err) => Ended::Dropped(err),
        };
        fail_pending(&bridge);
        // Requests queued for the dead connection were just failed; never send them later.
        while commands.try_recv().is_ok() {}
        match ended {
            Ended::Cancelled => return,
            Ended::Resubscribe => continue,
            Ended::Dropped(err) => {
                tracing::debug!(session = %bridge.session.id, %err, "bridge upstream down; reconnecting");
                if !backoff.wait(&bridge.cancel).await {
                    return;
                }
            }
        }
    }
}

/// Answers every pending request with an error; they are never re-sent.
fn fail_pending(bridge: &Bridge) {
    let failed = lock(&bridge.ids).disconnected();
    for pending in failed {
        if let (Some(client), Kind::Request | Kind::Replay) = (pending.client, pending.kind) {
            let frame = frame::error(
                "UPSTREAM_RECONNECTING",
                "the upstream connection dropped before the reply; the request may or may not have run and is not re-sent",
                pending.original.as_ref(),
            );
            bridge.reply_to(client, Outgoing::Frame(frame));
        }
    }
}

async fn serve(
    bridge: &Bridge,
    mut socket: Socket,
    commands: &mut mpsc::Receiver<Command>,
) -> Ended {
    let resume_from = bridge.log.lock().end();
    let seeded = bridge.log.end().is_some();
    let seed = {
        let mut ids = lock(&bridge.ids);
        ids.connected();
        ids.register(Pending {
            client: None,
            original: None,
            kind: Kind::Seed,
        })
    };
    let Ok(seed) = seed else {
        return Ended::Dropped(BridgeError::Closed);
    };
    bridge.connected_once.send_replace(true);
    let offset = if seeded { resume_from } else { 0 };
    let ask = Correlated {
        message: WsRequest::ReplayGet {
            offset,
            limit: None,
        },
        request_id: Some(Value::String(seed)),
    };
    // A typed request: serialising cannot fail.
    let ask = serde_json::to_string(&ask).unwrap_or_default();
    if let Err(err) = socket.send(Message::Text(ask.into())).await {
        return Ended::Dropped(err.into());
    }
    let mut synced = false;
    loop {
        let needs_screen = !bridge.upstream_has_screen.load(Ordering::Acquire);
        tokio::select! {
            () = bridge.cancel.cancelled() => {
                let _ = socket.close(None).await;
                return Ended::Cancelled;
            }
            () = bridge.resubscribe.notified(), if needs_screen => {
                if bridge.wants_screen() {
                    let _ = socket.close(None).await;
                    return Ended::Resubscribe;
                }
            }
            Some(command) = commands.recv() => {
                if lock(&bridge.ids).is_pending(&command.id) {
                    if let Err(err) = socket.send(Message::Text(command.text.into())).await {
                        return Ended::Dropped(err.into());
                    }
                }
            }
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => on_frame(bridge, text.as_str(), &mut synced),
                Some(Ok(Message::Close(_))) | None => return Ended::Dropped(BridgeError::Closed),
                Some(Err(err)) => return Ended::Dropped(err.into()),
                // Pings are answered by tungstenite itself; binary frames are not coop's.
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The fields the bridge routes by; everything else is passed through untouched.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    request_id: Option<Value>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    next_offset: Option<u64>,
    #[serde(default)]
    total_written: Option<u64>,
}

fn decode(data: Option<&str>) -> Vec<u8> {
    data.and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .unwrap_or_default()
}

fn on_frame(bridge: &Bridge, text: &str, synced: &mut bool) {
    let Ok(head) = serde_json::from_str::<Head<'_>>(text) else {
        // Not coop's shape; clients may still understand it.
        bridge.fan_out(|_| true, text);
        return;
    };
    if let Some(id) = &head.request_id {
        let pending = id.as_str().and_then(|id| lock(&bridge.ids).take(id));
        // A reply with no pending entry belongs to a request that was already failed.
        if let Some(pending) = pending {
            on_reply(bridge, text, &head, pending, synced);
        }
        return;
    }
    match head.event.as_ref() {
        "pty" | "output" => {
            if *synced {
                let data = decode(head.data.as_deref());
                ingest(bridge, head.offset.unwrap_or(0), &data, None);
            }
        }
        // Uncorrelated replays belong to nobody.
        "replay" => {}
        "screen" => bridge.fan_out(|s: Subs| s.screen, text),
        "transition" | "exit" => bridge.push_state(text, head.event == "exit"),
        "prompt:outcome" | "stop:outcome" | "start:outcome" => {
            bridge.fan_out(|s: Subs| s.state, text);
        }
        _ => bridge.fan_out(|_| true, text),
    }
}

fn on_reply(bridge: &Bridge, text: &str, head: &Head<'_>, pending: Pending, synced: &mut bool) {
    let is_replay = head.event == "replay";
    // A seed that failed still marks the log as started, so clients waiting on it go on.
    if pending.kind == Kind::Seed || (is_replay && *synced) {
        let data = decode(head.data.as_deref());
        let restart = pending.kind == Kind::Seed;
        ingest(
            bridge,
            head.offset.unwrap_or(0),
            &data,
            restart.then_some(head.total_written),
        );
    }
    let Some(client) = pending.client else {
        // The bridge's own seed: from now on pty frames continue the log.
        *synced = true;
        return;
    };
    let Ok(mut reply) = serde_json::from_str::<Value>(text) else {
        return;
    };
    restore(&mut reply, pending.original);
    let frame = reply.to_string();
    let out = match (pending.kind, head.next_offset) {
        (Kind::Replay, Some(next_offset)) if is_replay => Outgoing::Replayed { frame, next_offset },
        _ => Outgoing::Frame(frame),
    };
    bridge.reply_to(client, out);
}

/// Adds bytes at `offset` to the log and wakes the clients. `seed` carries the seed reply's
/// `total_written`: the first seed, a gap, or an upstream whose output restarted (it wrote
/// less than the mux holds) start the log over at `offset`.
fn ingest(bridge: &Bridge, offset: u64, data: &[u8], seed: Option<Option<u64>>) {
    let end = {
        let mut log = bridge.log.lock();
        let first = bridge.log.end().is_none();
        let restarted = matches!(seed, Some(Some(total)) if total < log.end());
        if first || restarted || offset > log.end() {
            if !first {
                tracing::warn!(session = %bridge.session.id, held = log.end(), offset, "bridge output log restarts: bytes in between are lost");
            }
            log.restart_at(offset);
        }
        log.ingest(offset, data);
        log.end()
    };
    bridge.log.set_end(Some(end));
}
