//! The bridge's main upstream connection: `{ws_base}/ws?subscribe=pty,state`, its flags never
//! changed (screen pushes come through [`super::screen`]).
//!
//! PTY bytes go into the bridge's log (never straight to clients), through [`Follow`]: after
//! every connect the bridge asks `replay:get` from the end of what it holds (0 the first time)
//! and ignores output until that reply; then `pty` frames and coop's uncorrelated lag replays
//! continue the log at their offsets, overlaps trimmed, and a gap is asked for with
//! `replay:get` before later output is taken. On a drop every pending request is answered
//! `UPSTREAM_RECONNECTING` and the bridge reconnects with backoff.

use super::follow::{Follow, Next, Piece};
use super::ids::{restore, Kind, Pending};
use super::log::BridgeLog;
use super::{lock, Bridge, BridgeError, Command, Subs};
use crate::edge::backoff::{self, Backoff};
use crate::edge::coop_ws::{frame, Outgoing};
use crate::hub::registry::Connection;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use protocol::coop::{Correlated, WsRequest};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest frame accepted from the upstream (a full-log replay is ~5.6 MB of JSON).
const MAX_UPSTREAM_FRAME_BYTES: usize = 64 << 20; // 64 MiB

/// An upstream WebSocket connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The upstream WebSocket URL for these flags, the session token URL-encoded (a token with
/// `&` or `=` must not break the query).
pub fn ws_url(connection: &Connection, flags: &str) -> Result<String, BridgeError> {
    let mut url = crate::hub::upstream::join(&connection.url, "/ws")
        .map_err(|e| BridgeError::Url(e.to_string()))?;
    let scheme = match url.scheme() {
        "https" => "wss",
        "http" => "ws",
        _ => return Err(BridgeError::Url("not an http(s) url".to_owned())),
    };
    url.set_scheme(scheme)
        .map_err(|()| BridgeError::Url("not an http(s) url".to_owned()))?;
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
    connect_reading(url, None).await
}

/// [`connect`], with a read buffer that starts at `read_buffer_bytes` (tungstenite's
/// default, 128 KiB, when `None`); a larger frame grows it.
pub async fn connect_reading(
    url: &str,
    read_buffer_bytes: Option<usize>,
) -> Result<Socket, BridgeError> {
    let config = websocket_config(read_buffer_bytes);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(socket)
}

/// The settings of every upstream WebSocket: frames up to [`MAX_UPSTREAM_FRAME_BYTES`], a read
/// buffer that starts at `read_buffer_bytes` (tungstenite's default when `None`).
pub fn websocket_config(
    read_buffer_bytes: Option<usize>,
) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM_FRAME_BYTES))
        .max_frame_size(Some(MAX_UPSTREAM_FRAME_BYTES));
    match read_buffer_bytes {
        Some(bytes) => config.read_buffer_size(bytes),
        None => config,
    }
}

/// How one connection ended.
enum Ended {
    Cancelled,
    Dropped(BridgeError),
}

/// The main connection's flags.
const FLAGS: &str = "pty,state";

/// The upstream task of a bridge; runs until the bridge is cancelled.
pub(super) async fn run(bridge: Arc<Bridge>, mut commands: mpsc::Receiver<Command>) {
    let mut backoff = Backoff::new(backoff::UPSTREAM_RECONNECT);
    loop {
        let connected = async {
            let url = ws_url(&bridge.session.connection(), FLAGS)?;
            connect(&url).await
        };
        let socket = tokio::select! {
            () = bridge.cancel.cancelled() => return,
            socket = connected => socket,
        };
        let ended = match socket {
            Ok(socket) => {
                backoff.reset();
                serve(&bridge, socket, &mut commands).await
            }
            Err(err) => Ended::Dropped(err),
        };
        fail_pending(&bridge);
        // Requests queued for the dead connection were just failed; never send them later.
        while commands.try_recv().is_ok() {}
        match ended {
            Ended::Cancelled => return,
            Ended::Dropped(err) => {
                // What the connection delivered no longer says the session lives.
                bridge.session.unheard();
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
            bridge.fill_reply(client, pending.ticket, Outgoing::Frame(frame));
        }
    }
}

/// Sends the bridge's own `replay:get` from `offset` (to the upstream's end).
async fn ask(bridge: &Bridge, socket: &mut Socket, kind: Kind, offset: u64) -> Result<(), Ended> {
    let pending = Pending {
        client: None,
        ticket: 0,
        original: None,
        kind,
    };
    let id = {
        let mut ids = lock(&bridge.ids);
        match ids.register(pending) {
            Ok(id) if ids.sending(&id) => id,
            _ => return Err(Ended::Dropped(BridgeError::Closed)),
        }
    };
    let ask = Correlated {
        message: WsRequest::ReplayGet {
            offset,
            limit: None,
        },
        request_id: Some(Value::String(id)),
    };
    // A typed request: serialising cannot fail.
    let ask = serde_json::to_string(&ask).unwrap_or_default();
    socket
        .send(Message::Text(ask.into()))
        .await
        .map_err(|err| Ended::Dropped(err.into()))
}

async fn serve(
    bridge: &Bridge,
    mut socket: Socket,
    commands: &mut mpsc::Receiver<Command>,
) -> Ended {
    let resume_from = bridge.log.lock().end();
    let seeded = bridge.log.end().is_some();
    lock(&bridge.ids).connected();
    bridge.connected_once.send_replace(true);
    let offset = if seeded { resume_from } else { 0 };
    if let Err(ended) = ask(bridge, &mut socket, Kind::Seed, offset).await {
        return ended;
    }
    let mut follow = Follow::default();
    loop {
        tokio::select! {
            () = bridge.cancel.cancelled() => {
                let _ = socket.close(None).await;
                return Ended::Cancelled;
            }
            Some(command) = commands.recv() => {
                if lock(&bridge.ids).sending(&command.id) {
                    if let Err(err) = socket.send(Message::Text(command.text.into())).await {
                        return Ended::Dropped(err.into());
                    }
                }
            }
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    bridge.session.heard();
                    if let Next::AskFrom(at) = on_frame(bridge, text.as_str(), &mut follow) {
                        if let Err(ended) = ask(bridge, &mut socket, Kind::Gap, at).await {
                            return ended;
                        }
                    }
                }
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

impl Head<'_> {
    /// The output this frame carries (a `pty` frame or a `replay`).
    fn piece(&self) -> Piece {
        let data = self
            .data
            .as_deref()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .unwrap_or_default();
        Piece {
            offset: self.offset.unwrap_or(0),
            data,
            total_written: self.total_written,
        }
    }
}

/// Runs `step` on the log and announces its new end.
fn with_log<R>(bridge: &Bridge, step: impl FnOnce(&mut BridgeLog) -> R) -> R {
    let (out, end) = {
        let mut log = bridge.log.lock();
        let out = step(&mut log);
        (out, log.end())
    };
    if bridge.log.end() != Some(end) {
        bridge.log.set_end(Some(end));
    }
    out
}

fn on_frame(bridge: &Bridge, text: &str, follow: &mut Follow) -> Next {
    let Ok(head) = serde_json::from_str::<Head<'_>>(text) else {
        // Not coop's shape; clients may still understand it.
        bridge.fan_out(|_| true, text);
        return Next::Continue;
    };
    if let Some(id) = &head.request_id {
        let pending = id.as_str().and_then(|id| lock(&bridge.ids).take(id));
        // A reply with no pending entry belongs to a request that was already failed.
        return match pending {
            Some(pending) => on_reply(bridge, text, &head, pending, follow),
            None => Next::Continue,
        };
    }
    match head.event.as_ref() {
        // coop's lag replay is output like any other, at its own offset.
        "pty" | "output" | "replay" => {
            if follow.synced() {
                let piece = head.piece();
                if head.event == "replay" {
                    tracing::debug!(session = %bridge.session.id, offset = piece.offset, bytes = piece.data.len(), "upstream lag replay");
                }
                return with_log(bridge, |log| follow.output(log, piece));
            }
        }
        "screen" => bridge.push_screen(text),
        "transition" | "exit" => bridge.push_state(text, head.event == "exit"),
        // coop's answer to a request it could not parse: the oldest one still waiting.
        "error" => {
            let oldest = lock(&bridge.ids).take_oldest();
            match oldest {
                Some(pending) => return on_reply(bridge, text, &head, pending, follow),
                None => bridge.fan_out(|_| true, text),
            }
        }
        "prompt:outcome" | "stop:outcome" | "start:outcome" => {
            bridge.fan_out(|s: Subs| s.state, text);
        }
        _ => bridge.fan_out(|_| true, text),
    }
    Next::Continue
}

fn on_reply(
    bridge: &Bridge,
    text: &str,
    head: &Head<'_>,
    pending: Pending,
    follow: &mut Follow,
) -> Next {
    let is_replay = head.event == "replay";
    match pending.kind {
        // A seed that failed still marks the log as started, so clients waiting on it go on.
        Kind::Seed => {
            let first = bridge.log.end().is_none();
            let piece = head.piece();
            with_log(bridge, |log| follow.seed(log, first, &piece));
            return Next::Continue;
        }
        Kind::Gap => {
            let reply = is_replay.then(|| head.piece());
            return with_log(bridge, |log| follow.gap_filled(log, reply));
        }
        // A client's replay from upstream continues the log when it reaches past its end.
        Kind::Replay if is_replay && follow.synced() => {
            let piece = head.piece();
            with_log(bridge, |log| log.ingest(piece.offset, &piece.data));
        }
        Kind::Replay | Kind::Request => {}
    }
    let Some(client) = pending.client else {
        return Next::Continue;
    };
    let Ok(mut reply) = serde_json::from_str::<Value>(text) else {
        return Next::Continue;
    };
    restore(&mut reply, pending.original);
    let frame = reply.to_string();
    let out = match (pending.kind, head.next_offset) {
        (Kind::Replay, Some(next_offset)) if is_replay => Outgoing::Replayed { frame, next_offset },
        _ => Outgoing::Frame(frame),
    };
    bridge.fill_reply(client, pending.ticket, out);
    Next::Continue
}
