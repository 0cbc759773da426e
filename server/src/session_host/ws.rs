//! `/ws`: coop's WebSocket protocol.
//!
//! Each connection has two tasks. The reader parses requests and answers them through a bounded
//! queue. The writer owns the socket's send half and the connection's output offset: it pulls
//! PTY bytes from the output log at its own pace, so a slow client never makes the host buffer
//! anything, and a client that falls behind the log simply continues from the oldest byte held.
//! `replay:get` is executed by the writer too, so moving the offset and sending the reply are
//! one step and no `pty` frame can slip between them.

use super::error::HostError;
use super::host::Host;
use super::http::HttpState;
use crate::auth::headers::bearer;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use protocol::coop::{self, WsEvent, WsRequest};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// Replies and commands queued from the reader to the writer of one connection.
const OUTGOING_QUEUE: usize = 64; // messages
/// Most PTY bytes sent in one `pty` frame.
const PTY_FRAME_BYTES: usize = 64 << 10; // 64 KiB
/// Minimum spacing of `screen` pushes.
const SCREEN_INTERVAL: Duration = Duration::from_millis(100); // 100 ms
/// Largest frame accepted from a client (big raw input in base64).
const MAX_CLIENT_FRAME_BYTES: usize = 16 << 20; // 16 MiB
/// Close code "going away", sent when the session ends.
const CLOSE_GOING_AWAY: u16 = 1001; // WebSocket close code

/// Query parameters of `/ws`.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// Comma-separated subscription flags.
    subscribe: Option<String>,
    /// The session's token.
    token: Option<String>,
    /// When present, no synthetic transition is sent on connect.
    since_seq: Option<String>,
}

/// Which pushes a connection asked for.
#[derive(Debug, Clone, Copy, Default)]
struct Subs {
    pty: bool,
    screen: bool,
    state: bool,
}

impl Subs {
    fn parse(flags: Option<&str>) -> Self {
        let mut subs = Self::default();
        for flag in flags.unwrap_or("").split(',').map(str::trim) {
            match flag {
                "pty" | "output" => subs.pty = true,
                "screen" => subs.screen = true,
                "state" => subs.state = true,
                // Other coop flags (hooks, usage, …) have no source in this host.
                _ => {}
            }
        }
        subs
    }
}

enum Outgoing {
    /// An encoded event.
    Frame(String),
    /// A `replay:get` to run in the writer.
    Replay {
        offset: u64,
        limit: Option<u64>,
        request_id: Option<Value>,
    },
    /// The connection authenticated with `auth`; pushes may start.
    Authenticated,
}

/// The reader's side of the queue is gone or the writer ended.
struct Closed;

/// `GET /ws`: checks the token (query or bearer) and upgrades.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    State(state): State<HttpState>,
) -> Response {
    let host = state.host;
    let authed = match query.token.or_else(|| bearer(&headers)) {
        Some(token) if host.token_matches(&token) => true,
        Some(_) => return HostError::Unauthorized.into_response(),
        None => !host.requires_token(),
    };
    let subs = Subs::parse(query.subscribe.as_deref());
    let synthetic = query.since_seq.is_none();
    ws.max_message_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| connection(socket, host, subs, authed, synthetic))
}

async fn connection(socket: WebSocket, host: Arc<Host>, subs: Subs, authed: bool, synthetic: bool) {
    let _guard = host.client_guard();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
    let writer = Writer::new(Arc::clone(&host), subs, synthetic, sink);
    let mut writer = tokio::spawn(writer.run(rx, authed));
    let mut authed = authed;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if handle_frame(&host, &text, &mut authed, &tx).await.is_err() {
                    break;
                }
            }
            _ = &mut writer => break,
        }
    }
    writer.abort();
}

/// Encodes an event, adding the client's `request_id` unchanged when it gave one.
fn encode(event: &WsEvent, request_id: Option<&Value>) -> String {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let (Some(id), Value::Object(map)) = (request_id, &mut value) {
        map.insert("request_id".into(), id.clone());
    }
    value.to_string()
}

fn error_event(code: &str, message: impl Into<String>) -> WsEvent {
    WsEvent::Error {
        code: code.into(),
        message: message.into(),
    }
}

async fn handle_frame(
    host: &Arc<Host>,
    text: &str,
    authed: &mut bool,
    tx: &mpsc::Sender<Outgoing>,
) -> Result<(), Closed> {
    let send =
        |frame: String| async move { tx.send(Outgoing::Frame(frame)).await.map_err(|_| Closed) };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let ev = error_event("BAD_REQUEST", format!("invalid JSON: {e}"));
            return send(encode(&ev, None)).await;
        }
    };
    let request_id = value.get("request_id").cloned();
    let id = request_id.as_ref();
    let request: WsRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            let ev = error_event("BAD_REQUEST", format!("invalid request: {e}"));
            return send(encode(&ev, id)).await;
        }
    };
    let open = matches!(
        request,
        WsRequest::Ping | WsRequest::HealthGet | WsRequest::ReadyGet | WsRequest::Auth { .. }
    );
    if !*authed && !open {
        let ev = error_event("UNAUTHORIZED", "authenticate first");
        return send(encode(&ev, id)).await;
    }
    let reply: Result<Option<WsEvent>, HostError> = match request {
        WsRequest::ReplayGet { offset, limit } => {
            let replay = Outgoing::Replay {
                offset,
                limit,
                request_id,
            };
            return tx.send(replay).await.map_err(|_| Closed);
        }
        WsRequest::Auth { token } => {
            if !host.token_matches(&token) {
                Err(HostError::Unauthorized)
            } else if *authed {
                Ok(None)
            } else {
                *authed = true;
                return tx.send(Outgoing::Authenticated).await.map_err(|_| Closed);
            }
        }
        WsRequest::ScreenGet => Ok(Some(WsEvent::Screen((*host.screen()).clone()))),
        WsRequest::StatusGet => Ok(Some(WsEvent::Status(host.status()))),
        WsRequest::HealthGet => Ok(Some(WsEvent::Health(host.health()))),
        WsRequest::ReadyGet => Ok(Some(WsEvent::Ready(coop::Ready {
            ready: host.state.exit().is_none(),
        }))),
        WsRequest::AgentGet => Ok(Some(WsEvent::Agent(host.agent()))),
        WsRequest::InputSend(input) => host
            .input_text(input)
            .await
            .map(|r| Some(WsEvent::InputSent(r))),
        WsRequest::InputSendRaw(input) => host
            .input_raw(input)
            .await
            .map(|r| Some(WsEvent::InputSent(r))),
        WsRequest::KeysSend(input) => host
            .input_keys(input)
            .await
            .map(|r| Some(WsEvent::InputSent(r))),
        WsRequest::Resize(size) => host.resize(size).map(|r| Some(WsEvent::Resized(r))),
        WsRequest::SignalSend(sig) => host.signal(&sig).map(|r| Some(WsEvent::SignalSent(r))),
        WsRequest::Shutdown => Ok(Some(WsEvent::Shutdown(host.request_shutdown()))),
        WsRequest::Ping => Ok(Some(WsEvent::Pong)),
    };
    match reply {
        Ok(Some(event)) => send(encode(&event, id)).await,
        Ok(None) => Ok(()),
        Err(e) => {
            let ev = error_event(e.status_and_code().1, e.to_string());
            send(encode(&ev, id)).await
        }
    }
}

/// The send half of one connection and everything it pushes.
struct Writer {
    host: Arc<Host>,
    subs: Subs,
    synthetic: bool,
    sink: SplitSink<WebSocket, Message>,
    /// Next PTY offset this client needs.
    pos: u64,
    buf: Vec<u8>,
    last_screen_seq: Option<u64>,
    last_screen_at: Option<Instant>,
    exit_sent: bool,
}

impl Writer {
    fn new(
        host: Arc<Host>,
        subs: Subs,
        synthetic: bool,
        sink: SplitSink<WebSocket, Message>,
    ) -> Self {
        let pos = host.total();
        Self {
            host,
            subs,
            synthetic,
            sink,
            pos,
            buf: Vec::with_capacity(PTY_FRAME_BYTES),
            last_screen_seq: None,
            last_screen_at: None,
            exit_sent: false,
        }
    }

    async fn send(&mut self, frame: String) -> Result<(), Closed> {
        self.sink
            .send(Message::Text(frame.into()))
            .await
            .map_err(|_| Closed)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Outgoing>, authed: bool) {
        let mut total_rx = self.host.subscribe_total();
        let mut screen_rx = self.host.subscribe_screen();
        let mut exit_rx = self.host.state.subscribe_exit();
        let stopping = self.host.stopping.clone();
        let mut transitions: Option<broadcast::Receiver<coop::Transition>> = None;
        let mut active = false;
        let mut screen_due: Option<Instant> = None;
        if authed
            && self
                .activate(&mut transitions, &mut screen_due)
                .await
                .is_err()
        {
            return;
        }
        active |= authed;
        loop {
            let want_pty = active && self.subs.pty && self.pos < *total_rx.borrow();
            let wants_exit = active && (self.subs.pty || self.subs.state) && !self.exit_sent;
            let step = tokio::select! {
                biased;
                () = stopping.cancelled() => {
                    let close = CloseFrame { code: CLOSE_GOING_AWAY, reason: "session ended".into() };
                    let _ = self.sink.send(Message::Close(Some(close))).await;
                    return;
                }
                msg = rx.recv() => match msg {
                    None => return,
                    Some(Outgoing::Frame(frame)) => self.send(frame).await,
                    Some(Outgoing::Replay { offset, limit, request_id }) => {
                        let replay = self.host.replay(offset, limit);
                        // Later pty frames ending at or before the replay's end are skipped.
                        self.pos = self.pos.max(replay.next_offset);
                        self.send(encode(&WsEvent::Replay(replay), request_id.as_ref())).await
                    }
                    Some(Outgoing::Authenticated) => {
                        active = true;
                        self.pos = self.host.total();
                        self.activate(&mut transitions, &mut screen_due).await
                    }
                },
                () = std::future::ready(()), if want_pty => self.send_pty().await,
                changed = total_rx.changed(), if active && self.subs.pty && !want_pty => {
                    // The sender lives as long as the host; an error means it is going away.
                    if changed.is_err() { return; }
                    Ok(())
                }
                () = sleep_until_opt(screen_due) => {
                    screen_due = None;
                    screen_rx.borrow_and_update();
                    self.send_screen().await
                }
                changed = screen_rx.changed(), if active && self.subs.screen && screen_due.is_none() => {
                    if changed.is_err() { return; }
                    let earliest = self.last_screen_at.map_or_else(Instant::now, |t| t + SCREEN_INTERVAL);
                    screen_due = Some(earliest.max(Instant::now()));
                    Ok(())
                }
                t = recv_opt(&mut transitions) => match t {
                    Ok(t) => self.send(encode(&WsEvent::Transition(t), None)).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let t = self.host.state.synthetic();
                        self.send(encode(&WsEvent::Transition(t), None)).await
                    }
                    Err(broadcast::error::RecvError::Closed) => { transitions = None; Ok(()) }
                },
                changed = exit_rx.changed(), if wants_exit => {
                    if changed.is_err() { return; }
                    let exit = *exit_rx.borrow_and_update();
                    self.send_exit(exit).await
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// Initial pushes once the connection is authenticated.
    async fn activate(
        &mut self,
        transitions: &mut Option<broadcast::Receiver<coop::Transition>>,
        screen_due: &mut Option<Instant>,
    ) -> Result<(), Closed> {
        if self.subs.state {
            *transitions = Some(self.host.state.subscribe());
            if self.synthetic {
                let t = self.host.state.synthetic();
                self.send(encode(&WsEvent::Transition(t), None)).await?;
            }
        }
        if self.subs.screen {
            *screen_due = Some(Instant::now());
        }
        if self.subs.pty || self.subs.state {
            let exit = self.host.state.exit();
            self.send_exit(exit).await?;
        }
        Ok(())
    }

    async fn send_exit(&mut self, exit: Option<coop::Exit>) -> Result<(), Closed> {
        match exit {
            Some(exit) if !self.exit_sent => {
                self.exit_sent = true;
                self.send(encode(&WsEvent::Exit(exit), None)).await
            }
            _ => Ok(()),
        }
    }

    async fn send_pty(&mut self) -> Result<(), Closed> {
        self.buf.clear();
        let start = self
            .host
            .read_output(self.pos, PTY_FRAME_BYTES, &mut self.buf);
        self.pos = start + self.buf.len() as u64;
        if self.buf.is_empty() {
            return Ok(());
        }
        // Built by hand: this is the hot path and base64 needs no JSON escaping.
        let mut frame = String::with_capacity(self.buf.len() * 4 / 3 + 64);
        frame.push_str(r#"{"event":"pty","data":""#);
        base64::engine::general_purpose::STANDARD.encode_string(&self.buf, &mut frame);
        frame.push_str(r#"","offset":"#);
        frame.push_str(&start.to_string());
        frame.push('}');
        self.send(frame).await
    }

    async fn send_screen(&mut self) -> Result<(), Closed> {
        let snap = self.host.screen();
        if self.last_screen_seq == Some(snap.seq) {
            return Ok(());
        }
        self.last_screen_seq = Some(snap.seq);
        self.last_screen_at = Some(Instant::now());
        self.send(encode(&WsEvent::Screen((*snap).clone()), None))
            .await
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
