//! Shared helpers of the `credentials_*` tests: a real `coopmux` hub process whose whole log
//! is captured (so tests can prove no secret reached it), real `coopmux session` hosts that
//! register with it, a `/ws/mux` event reader, and a local OAuth server on loopback that
//! speaks the refresh, authorisation-code (PKCE S256) and device-code grants.
#![allow(dead_code)] // each test binary uses a different subset

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh private directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coopmux-cred-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `coopmux` hub whose stdout and stderr are captured.
pub struct Mux {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
}

/// Every line any hub of this test binary logged (for the final secret scan).
static ALL_LOGS: Mutex<String> = Mutex::new(String::new());

fn drain(
    stream: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<String>>,
    tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut tx = tx;
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(sender) = &tx {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                    let _ = sender.send(addr);
                    tx = None;
                }
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
            let mut all = ALL_LOGS.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
}

/// The directory of the built `coopmux` (for `sh -c 'coopmux session …'` launches).
pub fn bin_dir() -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_coopmux"));
    exe.parent().unwrap().display().to_string()
}

impl Mux {
    /// Starts `coopmux --port 0 ARGS…` with `ENV` (debug logging, so leaks would show).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).unwrap_or_else(|log| panic!("coopmux did not start:\n{log}"))
    }

    /// Like [`Mux::start`]; `Err(log)` when the hub exits before listening.
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coopmux"));
        let path = format!(
            "{}:{}",
            bin_dir(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--health-check-ms",
            "600000",
        ])
        .args(args)
        .env("PATH", path)
        .env(
            "RUST_LOG",
            "debug,hyper=info,reqwest=info,h2=info,tungstenite=info",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("COOP_MUX_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn coopmux");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stderr.take().unwrap(), log.clone(), Some(tx.clone()));
        drain(child.stdout.take().unwrap(), log.clone(), Some(tx));
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(_) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        return Err(log.lock().unwrap().clone());
                    }
                }
            }
        };
        Ok(Self {
            child: Some(child),
            base: format!("http://{addr}"),
            log,
            http: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
        })
    }

    /// Everything the hub logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// GET returning status and JSON (Null when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST of JSON returning status and JSON.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST that must answer 200.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {reply}");
        reply
    }

    /// The status entry of one account.
    pub async fn account(&self, name: &str) -> Value {
        let (_, status) = self.get("/api/v1/credentials/status").await;
        status
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// SIGTERM and wait for the exit (graceful shutdown flushes the credential state).
    pub fn stop(mut self) -> String {
        self.terminate();
        self.log()
    }

    /// SIGKILL: no flush, no cleanup.
    pub fn kill(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.log()
    }

    /// Waits for the process to exit by itself (e.g. after an abort).
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let mut code = None;
        if let Some(mut child) = self.child.take() {
            for _ in 0..200 {
                if let Ok(Some(status)) = child.try_wait() {
                    code = Some(status.code().unwrap_or(-1));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if code.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        (code, self.log())
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..200 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Fails if any hub of this test binary logged one of `secrets`.
pub fn assert_no_secret_logged(secrets: &[&str]) {
    let all = ALL_LOGS.lock().unwrap().clone();
    assert!(!all.is_empty(), "no hub output was captured");
    for secret in secrets {
        assert!(
            !all.contains(secret),
            "secret {secret:?} appeared in a hub log"
        );
    }
}

/// Polls `probe` every 50 ms until it yields a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A real `coopmux session` host registered with a hub.
pub struct Host {
    child: tokio::process::Child,
    /// Its base URL.
    pub url: String,
    /// The id it registered under.
    pub id: String,
}

impl Host {
    /// Starts `coopmux session --idle-ms 300 [--label L]… -- CMD…` registered with `mux_base`
    /// as `id`, and waits for the hub to list it.
    pub async fn start(mux: &Mux, id: &str, labels: &[&str], cmd: &[&str]) -> Host {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coopmux"));
        command.args(["session", "--port", "0", "--idle-ms", "300"]);
        for label in labels {
            command.args(["--label", label]);
        }
        command
            .arg("--")
            .args(cmd)
            .env("COOP_MUX_URL", &mux.base)
            .env("COOP_MUX_SESSION_ID", id)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn session host");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let url = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("host URL in time")
            .unwrap()
            .expect("host URL line")
            .trim()
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let registered = wait_for(WAIT, || async {
            let (_, list) = mux.get("/api/v1/sessions").await;
            list.as_array()?.iter().any(|s| s["id"] == id).then_some(())
        })
        .await;
        assert!(registered.is_some(), "session {id} did not register");
        Host {
            child,
            url,
            id: id.to_owned(),
        }
    }

    /// `GET /api/v1/session/profiles` of the host.
    pub async fn profiles(&self) -> Value {
        reqwest::get(format!("{}/api/v1/session/profiles", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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

    /// Its agent state.
    pub async fn state(&self) -> String {
        let status: Value = reqwest::get(format!("{}/api/v1/status", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["state"].as_str().unwrap_or("").to_owned()
    }

    /// Sends text (plus Enter) to the terminal.
    pub async fn type_line(&self, text: &str) {
        reqwest::Client::new()
            .post(format!("{}/api/v1/input", self.url))
            .json(&json!({"text": text, "enter": true}))
            .send()
            .await
            .unwrap();
    }

    /// Kills the host.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A `/ws/mux` connection that keeps every event it sees.
pub struct Events {
    events: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Events {
    /// Connects to the hub's `/ws/mux`.
    pub async fn connect(mux: &Mux) -> Events {
        let url = format!("{}/ws/mux", mux.base.replace("http://", "ws://"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws/mux");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Ok(text) = msg.into_text() {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        sink.lock().unwrap().push(value);
                    }
                }
            }
        });
        Events { events, task }
    }

    /// Waits for an event matching `pred`.
    pub async fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(WAIT, || async {
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

/// What the test OAuth server knows and how it behaves.
#[derive(Default)]
pub struct OAuthState {
    /// Live refresh tokens → account label; a used one is removed (rotation).
    pub refresh_tokens: Mutex<HashMap<String, String>>,
    /// Lifetime of issued access tokens, in seconds.
    pub expires_in: AtomicU64,
    /// The next N token requests answer 500.
    pub fail_next: AtomicUsize,
    /// Delay of every token answer, in milliseconds.
    pub delay_ms: AtomicU64,
    /// Counter for issued tokens.
    pub issued: AtomicUsize,
    /// Refresh grants received (including failed ones).
    pub refresh_calls: AtomicUsize,
    /// Issued access tokens, in order.
    pub access_tokens: Mutex<Vec<String>>,
    /// Authorisation codes → (code_challenge, redirect_uri, client_id).
    pub codes: Mutex<HashMap<String, (String, String, String)>>,
    /// Device codes → polls so far; approved ones are in `approved`.
    pub device_polls: Mutex<HashMap<String, usize>>,
    /// Approved user codes.
    pub approved: Mutex<Vec<String>>,
    /// Times of device polls (ms since the server started).
    pub poll_times: Mutex<Vec<u64>>,
    started: Mutex<Option<std::time::Instant>>,
}

/// The local OAuth server.
pub struct OAuthServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its state.
    pub state: Arc<OAuthState>,
    task: JoinHandle<()>,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": format!("test server: {code}")})),
    )
        .into_response()
}

fn issue(state: &OAuthState, prefix: &str) -> Value {
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let access = format!("{prefix}-access-{n}-sekret");
    let refresh = format!("{prefix}-refresh-{n}-sekret");
    state.access_tokens.lock().unwrap().push(access.clone());
    state
        .refresh_tokens
        .lock()
        .unwrap()
        .insert(refresh.clone(), prefix.to_owned());
    json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": state.expires_in.load(Ordering::SeqCst),
    })
}

async fn token(
    State(state): State<Arc<OAuthState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant == "refresh_token" {
        state.refresh_calls.fetch_add(1, Ordering::SeqCst);
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    }
    match grant {
        "refresh_token" => {
            let Some(token) = form.get("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let removed = state.refresh_tokens.lock().unwrap().remove(token);
            match removed {
                Some(label) if form.get("client_id").is_some_and(|c| c == "test-client") => {
                    Json(issue(&state, &label)).into_response()
                }
                _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, redirect, client)) = state.codes.lock().unwrap().remove(&code)
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != challenge
                || form.get("redirect_uri") != Some(&redirect)
                || form.get("client_id") != Some(&client)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            Json(issue(&state, "pkce")).into_response()
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let device = form.get("device_code").cloned().unwrap_or_default();
            let started = state
                .started
                .lock()
                .unwrap()
                .get_or_insert_with(std::time::Instant::now)
                .elapsed();
            state
                .poll_times
                .lock()
                .unwrap()
                .push(started.as_millis() as u64);
            let polls = {
                let mut polls = state.device_polls.lock().unwrap();
                let Some(n) = polls.get_mut(&device) else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                };
                *n += 1;
                *n
            };
            // First poll: pending; second: slow_down; then pending until approved.
            let user_code = device.replace("device-", "USER-");
            if polls == 2 {
                return oauth_error(StatusCode::BAD_REQUEST, "slow_down");
            }
            if !state.approved.lock().unwrap().contains(&user_code) {
                return oauth_error(StatusCode::BAD_REQUEST, "authorization_pending");
            }
            state.device_polls.lock().unwrap().remove(&device);
            Json(issue(&state, "device")).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn device_code(
    State(state): State<Arc<OAuthState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("client_id").is_none_or(|c| c != "test-client") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let device = format!("device-{n}");
    state.device_polls.lock().unwrap().insert(device.clone(), 0);
    state
        .started
        .lock()
        .unwrap()
        .get_or_insert_with(std::time::Instant::now);
    Json(json!({
        "device_code": device,
        "user_code": format!("USER-{n}"),
        "verification_uri": "https://verify.example/device",
        "expires_in": 60,
        "interval": 1,
    }))
    .into_response()
}

/// The user's side of PKCE: `GET /authorize?…` records the challenge and returns the code.
async fn authorize(
    State(state): State<Arc<OAuthState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let code = format!("code-{n}");
    state.codes.lock().unwrap().insert(
        code.clone(),
        (
            q.get("code_challenge").cloned().unwrap_or_default(),
            q.get("redirect_uri").cloned().unwrap_or_default(),
            q.get("client_id").cloned().unwrap_or_default(),
        ),
    );
    Json(json!({"code": code, "state": q.get("state")})).into_response()
}

impl OAuthServer {
    /// Starts the server on 127.0.0.1:0; issued tokens live `expires_in` seconds.
    pub async fn start(expires_in: u64) -> OAuthServer {
        let state = Arc::new(OAuthState::default());
        state.expires_in.store(expires_in, Ordering::SeqCst);
        let app = Router::new()
            .route("/token", post(token))
            .route("/device", post(device_code))
            .route("/authorize", get(authorize))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        OAuthServer { base, state, task }
    }

    /// Registers a refresh token the server will accept once.
    pub fn grant_refresh(&self, token: &str, label: &str) {
        self.state
            .refresh_tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), label.to_owned());
    }

    /// An account definition using this server (`device`: also a device endpoint).
    pub fn account(&self, name: &str, device: bool) -> Value {
        let mut account = json!({
            "name": name,
            "provider": "other",
            "env_key": "ANTHROPIC_API_KEY",
            "token_url": format!("{}/token", self.base),
            "auth_url": format!("{}/authorize", self.base),
            "client_id": "test-client",
        });
        if device {
            account["device_auth_url"] = json!(format!("{}/device", self.base));
        }
        account
    }
}

/// Writes `{"accounts": accounts}` to `dir/accounts.json` and returns its path.
pub fn write_config(dir: &Path, accounts: Value) -> String {
    let path = dir.join("accounts.json");
    std::fs::write(&path, json!({ "accounts": accounts }).to_string()).unwrap();
    path.display().to_string()
}
