//! Helpers of the `bridge_*` and `feed_*` tests: real `coopmux session` hosts running
//! `sh -c …`, WebSocket clients of the mux, and a collector that rebuilds a client's byte
//! stream from `replay` and `pty` frames while checking it has no gap and no duplicate.
#![allow(dead_code)] // each test binary uses a different subset

use crate::mux_support::Mux;
use crate::session_host_common::{Opts, Session, Ws};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

/// Starts a host running `sh -c script` in `cwd` with extra host flags.
pub async fn host(script: &str, cwd: &Path, flags: &[&str]) -> Session {
    let opts = Opts {
        flags: flags.iter().map(|s| s.to_string()).collect(),
        cwd: Some(cwd),
        ..Opts::default()
    };
    Session::start_with(opts, &["sh", "-c", script]).await
}

/// A fresh empty directory under the system temp dir.
pub fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "coopmux-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `ws://` URL of `path` on the mux.
pub fn ws_url(mux: &Mux, path: &str) -> String {
    format!("{}{path}", mux.base.replacen("http://", "ws://", 1))
}

/// Opens `/ws/{id}?{query}` on the mux.
pub async fn bridge(mux: &Mux, id: &str, query: &str) -> Ws {
    let url = ws_url(mux, &format!("/ws/{id}?{query}"));
    let (stream, _) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("ws connect in time")
    .expect("ws connect");
    Ws { stream }
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
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
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
                    "pty frame not contiguous (gap or duplicate)"
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
                        "pty frame not contiguous (gap or duplicate)"
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

/// Starts `coopmux` (the hub) as a child process and returns it with its base URL.
pub async fn start_mux_process(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coopmux"))
        .env(
            "COOP_MUX_STATE_DIR",
            std::env::temp_dir().join(format!("coopmux-test-state-{}", uuid::Uuid::new_v4())),
        )
        .args([
            "--port",
            "0",
            "--health-check-ms",
            "600000",
            "--prewarm-poll-ms",
            "600000",
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("COOP_MUX_AUTH_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mux");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("http://127.0.0.1:") {
                let url = &line[at..];
                let url = url.split_whitespace().next().unwrap();
                return url.trim_end_matches("/mux").to_owned();
            }
        }
        panic!("mux exited before listening");
    })
    .await
    .expect("mux listening in time");
    // Keep draining its log so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// Resident set size of a process (VmRSS), in bytes; 0 once it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
