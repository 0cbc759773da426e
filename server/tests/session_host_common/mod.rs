//! Helpers for the session host tests: start the real `coopmux session` binary on 127.0.0.1:0,
//! talk to it over HTTP and WebSocket, and bound every wait with a timeout.

#![allow(dead_code)] // each test binary uses a different subset

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running `coopmux session` process.
pub struct Session {
    /// The host process.
    pub child: Child,
    /// Base URL printed by the host.
    pub url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Token to send, if any.
    pub token: Option<String>,
}

/// Options for [`Session::start_with`].
#[derive(Default)]
pub struct Opts<'a> {
    /// Flags before `--`.
    pub flags: Vec<String>,
    /// Extra environment.
    pub env: Vec<(&'a str, String)>,
    /// Working directory.
    pub cwd: Option<&'a Path>,
    /// Token to use for requests.
    pub token: Option<String>,
}

impl Session {
    /// Starts `coopmux session [flags] -- cmd…` with default options.
    pub async fn start(flags: &[&str], cmd: &[&str]) -> Session {
        let opts = Opts {
            flags: flags.iter().map(|s| s.to_string()).collect(),
            ..Opts::default()
        };
        Self::start_with(opts, cmd).await
    }

    /// Starts the host and waits for the URL line on stdout.
    pub async fn start_with(opts: Opts<'_>, cmd: &[&str]) -> Session {
        let mut command = Command::new(env!("CARGO_BIN_EXE_coopmux"));
        command
            .arg("session")
            .args(["--port", "0"])
            .args(&opts.flags)
            .arg("--")
            .args(cmd)
            .env_remove("COOP_MUX_URL")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .env("PS1", "$ ")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in &opts.env {
            command.env(k, v);
        }
        if let Some(cwd) = opts.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().expect("spawn coopmux");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("URL line in time")
            .expect("read stdout");
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected first line {url:?}"
        );
        Session {
            child,
            url,
            http: reqwest::Client::new(),
            token: opts.token,
        }
    }

    /// `http://…/api/v1{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// GET returning status and JSON (Null when the body is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = timeout(WAIT, self.auth(self.http.get(self.api(path))).send())
            .await
            .expect("GET in time")
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GET that must succeed.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST of a JSON body returning status and JSON.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.auth(self.http.post(self.api(path))).json(&body);
        let resp = timeout(WAIT, req.send())
            .await
            .expect("POST in time")
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST that must succeed.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {reply}");
        reply
    }

    /// Types text followed by Enter.
    pub async fn type_line(&self, text: &str) {
        self.post_ok("/input", json!({"text": text, "enter": true}))
            .await;
    }

    /// Polls `/screen` until `pred` holds; panics with the last screen after `within`.
    pub async fn wait_screen(&self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.get_ok("/screen").await;
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "screen never matched: {screen:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `/screen` until some line contains `needle`.
    pub async fn wait_text(&self, needle: &str) -> Value {
        self.wait_screen(WAIT, |s| screen_has(s, needle)).await
    }

    /// Opens `/ws?{query}`.
    pub async fn ws(&self, query: &str) -> Ws {
        let url = format!("{}/ws?{query}", self.url.replacen("http://", "ws://", 1));
        let (stream, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connect in time")
            .expect("ws connect");
        Ws { stream }
    }

    /// Waits for the host process to exit and returns its code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        timeout(within, self.child.wait())
            .await
            .expect("host exits in time")
            .expect("wait")
            .code()
    }

    /// Pid of the host process.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}

/// Whether any screen line contains `needle`.
pub fn screen_has(screen: &Value, needle: &str) -> bool {
    screen["lines"].as_array().is_some_and(|lines| {
        lines
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains(needle)))
    })
}

/// A WebSocket client.
pub struct Ws {
    /// The connection.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
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
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
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
