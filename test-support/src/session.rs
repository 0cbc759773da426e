//! `coopmux session` as a child process on 127.0.0.1:0 (killed on drop): start it, talk to it
//! over HTTP and WebSocket, read its log, and bound every wait with a timeout.

use super::procs::bin;
use super::{wait_every, Ws, WAIT};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Log lines of a host, each with the time it arrived.
type Log = Arc<Mutex<Vec<(std::time::Instant, String)>>>;

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
    log: Log,
}

/// Options for [`Session::start_with`].
#[derive(Default)]
pub struct Opts<'a> {
    /// Flags before `--`.
    pub flags: Vec<String>,
    /// Extra environment (`RUST_LOG` defaults to `warn`).
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

    /// Starts `sh -c script` in `cwd` with extra host flags.
    pub async fn sh(script: &str, cwd: &Path, flags: &[&str]) -> Session {
        let opts = Opts {
            flags: flags.iter().map(|s| s.to_string()).collect(),
            cwd: Some(cwd),
            ..Opts::default()
        };
        Self::start_with(opts, &["sh", "-c", script]).await
    }

    /// Starts the host and waits for the URL line on stdout. The test's `COOP_MUX_*` and
    /// `COOP_URL` variables are removed and registration is off (`COOP_MUX_URL` empty; unset
    /// would register at the default port), so only `opts.env` registers it anywhere.
    pub async fn start_with(opts: Opts<'_>, cmd: &[&str]) -> Session {
        let mut command = Command::new(bin());
        command.arg("session");
        // Port 0 unless the test picked one (to name it in `COOP_URL` beforehand).
        if !opts.flags.iter().any(|f| f == "--port") {
            command.args(["--port", "0"]);
        }
        command.args(&opts.flags).arg("--").args(cmd);
        for (name, _) in std::env::vars() {
            if name.starts_with("COOP_MUX_") || name == "COOP_URL" {
                command.env_remove(name);
            }
        }
        command
            .env("COOP_MUX_URL", "")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env("PS1", "$ ")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &opts.env {
            command.env(k, v);
        }
        if let Some(cwd) = opts.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().expect("spawn coopmux");
        let log = Log::default();
        let sink = log.clone();
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                sink.lock().unwrap().push((std::time::Instant::now(), line));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = timeout(WAIT, stdout.next_line())
            .await
            .expect("URL line in time")
            .expect("read stdout")
            .unwrap_or_default();
        // Keep reading so that the host never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let url = line.trim().to_owned();
        // Loopback unless the flags name another address (the scale bench's wildcard hosts).
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("http://0.0.0.0:"),
            "unexpected first line {url:?}"
        );
        Session {
            child,
            url,
            http: crate::http_client().build().expect("client"),
            token: opts.token,
            log,
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
        let matched = wait_every(within, Duration::from_millis(20), || async {
            let screen = self.get_ok("/screen").await;
            pred(&screen).then_some(screen)
        })
        .await;
        match matched {
            Some(screen) => screen,
            None => panic!("screen never matched: {:#}", self.get_ok("/screen").await),
        }
    }

    /// Polls `/screen` until some line contains `needle`.
    pub async fn wait_text(&self, needle: &str) -> Value {
        self.wait_screen(WAIT, |s| screen_has(s, needle)).await
    }

    /// Opens `/ws?{query}`.
    pub async fn ws(&self, query: &str) -> Ws {
        Ws::connect(&format!(
            "{}/ws?{query}",
            self.url.replacen("http://", "ws://", 1)
        ))
        .await
    }

    /// The profile list of `GET /session/profiles`.
    pub async fn profiles(&self) -> Value {
        self.get("/session/profiles").await.1
    }

    /// Profile names the host holds, in order.
    pub async fn profile_names(&self) -> Vec<String> {
        self.profiles().await["profiles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Its agent state (`""` when `/status` does not say).
    pub async fn state(&self) -> String {
        let (_, status) = self.get("/status").await;
        status["state"].as_str().unwrap_or("").to_owned()
    }

    /// The host's log lines containing `needle`, with the time each arrived.
    pub fn log_lines(&self, needle: &str) -> Vec<(std::time::Instant, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, line)| line.contains(needle))
            .cloned()
            .collect()
    }

    /// The host's whole log.
    pub fn log(&self) -> String {
        let lines = self.log.lock().unwrap();
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Kills the host and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
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

impl Drop for Session {
    fn drop(&mut self) {
        // The log is captured, not shown; a failing test shows it.
        if std::thread::panicking() {
            eprintln!("log of the session host at {}:\n{}", self.url, self.log());
        }
    }
}
