//! WebSocket clients: [`Ws`] for one connection, [`bridge`] for a hub's `/ws/{id}`,
//! [`Collector`] rebuilding a client's PTY byte stream from `replay` and `pty` frames (failing on
//! any gap or duplicate), and [`Events`] recording a hub's `/ws/mux` feed.

use super::{wait_for, TestServer, LONG_WAIT, WAIT};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket client.
pub struct Ws {
    /// The connection.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to `url` (`ws://…`).
    pub async fn connect(url: &str) -> Ws {
        let (stream, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connect in time")
            .expect("ws connect");
        Ws { stream }
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        timeout(WAIT, self.stream.send(Message::text(text)))
            .await
            .expect("ws send in time")
            .expect("ws send");
    }

    /// Next JSON text frame; `None` when the connection closed.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = timeout(left, self.stream.next())
                .await
                .expect("ws frame in time");
            match msg {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"))
                }
                Some(Ok(Message::Close(frame))) => {
                    // Why the peer closed: what a failing test most needs to say.
                    eprintln!("ws closed by the peer: {frame:?}");
                    return None;
                }
                Some(Err(err)) => {
                    eprintln!("ws failed: {err}");
                    return None;
                }
                None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Skips frames until one matches `pred`.
    pub async fn wait_for(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next(left).await.expect("connection open");
            if pred(&frame) {
                return frame;
            }
        }
    }

    /// Skips frames until one with `event == name`.
    pub async fn wait_event(&mut self, name: &str) -> Value {
        self.wait_for(WAIT, |f| f["event"] == name).await
    }

    /// Sends a request with `request_id` and returns the frame that echoes it.
    pub async fn request(&mut self, mut value: Value, request_id: Value) -> Value {
        value["request_id"] = request_id.clone();
        self.send(value).await;
        self.wait_for(WAIT, |f| f.get("request_id") == Some(&request_id))
            .await
    }
}

/// Opens `/ws/{id}?{query}` on the hub.
pub async fn bridge(server: &TestServer, id: &str, query: &str) -> Ws {
    Ws::connect(&server.ws_url(&format!("/ws/{id}?{query}"))).await
}

/// What a terminal shows for `text` written by a program: the PTY turns `\n` into `\r\n`.
pub fn onlcr(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 50);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A client's view of the PTY stream, built like the dashboard builds it: `pty` frames before
/// the first replay are dropped; after it, every byte must continue exactly where the last
/// one ended (a gap or an overlap fails the test).
#[derive(Debug, Default)]
pub struct Collector {
    /// Offset of the first byte held (from the first replay).
    pub start: Option<u64>,
    /// Offset just after the last byte.
    pub end: u64,
    /// The bytes from `start`.
    pub data: Vec<u8>,
    /// `error` events seen.
    pub errors: Vec<Value>,
}

/// The output fields of a frame, parsed without building a JSON tree for the payload.
#[derive(serde::Deserialize)]
struct Output<'a> {
    event: &'a str,
    #[serde(default)]
    data: Option<&'a str>,
    #[serde(default)]
    offset: Option<u64>,
}

/// Next text frame, unparsed; `None` when the connection closed.
pub async fn next_text(ws: &mut Ws, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, ws.stream.next())
            .await
            .expect("ws frame in time")
        {
            Some(Ok(Message::Text(text))) => return Some(text.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

fn b64(frame: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(frame["data"].as_str().expect("data"))
        .expect("base64")
}

impl Collector {
    /// Takes one raw frame; `pty` frames are decoded without a JSON tree (the hot path).
    /// Returns the parsed frame when it was not output.
    pub fn feed_text(&mut self, text: &str) -> Option<Value> {
        let head: Output<'_> = serde_json::from_str(text).expect("JSON frame");
        if head.event == "pty" {
            if self.start.is_some() {
                let offset = head.offset.expect("offset");
                assert_eq!(
                    offset, self.end,
                    "pty frame not contiguous (gap or duplicate); errors before it: {:?}",
                    self.errors
                );
                let data = base64::engine::general_purpose::STANDARD
                    .decode(head.data.expect("data"))
                    .expect("base64");
                self.end += data.len() as u64;
                self.data.extend_from_slice(&data);
            }
            return None;
        }
        let frame: Value = serde_json::from_str(text).expect("JSON frame");
        (!self.feed(&frame)).then_some(frame)
    }

    /// Takes one frame; returns whether it was output.
    pub fn feed(&mut self, frame: &Value) -> bool {
        match frame["event"].as_str() {
            Some("replay") => {
                let offset = frame["offset"].as_u64().expect("offset");
                let data = b64(frame);
                if self.start.is_none() {
                    self.start = Some(offset);
                    self.end = offset;
                }
                assert!(
                    offset <= self.end,
                    "replay leaves a gap: {offset} > {}",
                    self.end
                );
                let skip = (self.end - offset) as usize;
                if skip < data.len() {
                    self.data.extend_from_slice(&data[skip..]);
                    self.end = offset + data.len() as u64;
                }
                true
            }
            Some("pty") => {
                if self.start.is_some() {
                    let offset = frame["offset"].as_u64().expect("offset");
                    assert_eq!(
                        offset, self.end,
                        "pty frame not contiguous (gap or duplicate); errors before it: {:?}",
                        self.errors
                    );
                    let data = b64(frame);
                    self.end += data.len() as u64;
                    self.data.extend_from_slice(&data);
                }
                true
            }
            Some("error") => {
                self.errors.push(frame.clone());
                false
            }
            _ => false,
        }
    }

    /// Whether the stream ends with `marker`.
    pub fn ends_with(&self, marker: &[u8]) -> bool {
        self.data.ends_with(marker)
    }
}

/// Reads frames into `collector` until its data ends with `marker`; other frames go to
/// `other`. Fails after `within`.
pub async fn collect_until(
    ws: &mut Ws,
    collector: &mut Collector,
    marker: &[u8],
    within: Duration,
    mut other: impl FnMut(&Value),
) {
    let deadline = Instant::now() + within;
    while !collector.ends_with(marker) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out at {} bytes",
            collector.data.len()
        );
        let text = next_text(ws, left).await.expect("connection open");
        if let Some(frame) = collector.feed_text(&text) {
            other(&frame);
        }
    }
}

/// A `/ws/mux` connection that keeps every event it sees.
pub struct Events {
    events: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Events {
    /// Connects to `/ws/mux` of the hub at `base` (`http://…`) and returns once it is live.
    pub async fn connect(base: &str) -> Events {
        let url = format!("{}/ws/mux", base.replacen("http://", "ws://", 1));
        let mut ws = Ws::connect(&url).await;
        // The feed subscribes before it sends its `sessions` snapshot: once that is here, no
        // later event can be missed.
        let snapshot = ws.next(WAIT).await.expect("snapshot");
        assert_eq!(snapshot["event"], "sessions", "{snapshot}");
        let events = Arc::new(Mutex::new(vec![snapshot]));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.stream.next().await {
                if let Ok(text) = msg.into_text() {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        sink.lock().unwrap().push(value);
                    }
                }
            }
        });
        Events { events, task }
    }

    /// Waits (up to [`LONG_WAIT`]) for an event matching `pred`.
    pub async fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(LONG_WAIT, || async {
            self.events
                .lock()
                .unwrap()
                .iter()
                .find(|e| pred(e))
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no {what} event; saw {:?}", self.events.lock().unwrap()))
    }

    /// Every raw event seen so far, as text.
    pub fn text(&self) -> String {
        serde_json::to_string(&*self.events.lock().unwrap()).unwrap()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}
