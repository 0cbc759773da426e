//! Shared helpers of the `mux_*` tests: an in-process mux on 127.0.0.1:0 and a small
//! coop-like upstream (a stand-in for a real coop session) whose answers tests can steer.
#![allow(dead_code)] // each test binary uses a different subset

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use coopmux::{cli::ServeArgs, serve::Bound, state::Hub};
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running in-process mux.
pub struct Mux {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The hub's state.
    pub hub: Arc<Hub>,
    /// Cancel to shut it down.
    pub shutdown: CancellationToken,
    /// The serve task.
    pub task: JoinHandle<()>,
    /// The credential state directory the test gave it (removed on drop).
    state_dir: Option<PathBuf>,
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(dir) = &self.state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A unique credential state directory under the OS temp dir (created only if the broker
/// saves), so that no test hub opens the developer's own state directory.
pub fn temp_state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("coopmux-test-state-{}", uuid::Uuid::new_v4()))
}

/// Default test flags: loopback, port 0, quick intervals unless overridden by `tweak`.
pub fn args(tweak: impl FnOnce(&mut ServeArgs)) -> ServeArgs {
    let mut args = ServeArgs::loopback_ephemeral();
    args.auth_token = None;
    // Long by default so background polling does not disturb request counts; tests that
    // exercise a timer shorten it.
    args.health_check_ms = 600_000;
    args.prewarm_poll_ms = 600_000;
    args.state_dir = Some(temp_state_dir());
    tweak(&mut args);
    args
}

/// Starts a mux with these flags.
pub async fn start_mux(mut args: ServeArgs) -> Mux {
    let state_dir = args.state_dir.get_or_insert_with(temp_state_dir).clone();
    let bound = Bound::bind(args).await.expect("bind mux");
    let base = format!("http://{}", bound.local_addr());
    let hub = bound.hub();
    let shutdown = bound.shutdown_token();
    let task = tokio::spawn(async move {
        bound.serve().await.expect("serve");
    });
    Mux {
        base,
        hub,
        shutdown,
        task,
        state_dir: Some(state_dir),
    }
}

/// A plain HTTP client (no cookies, no redirects followed).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .expect("client")
}

/// What the mock upstream saw and how it should answer.
#[derive(Default)]
pub struct MockState {
    /// Health answers 503 while set.
    pub unhealthy: AtomicBool,
    /// Screen and status answer 500 while set (health stays fine).
    pub data_fails: AtomicBool,
    /// First screen line.
    pub screen_text: Mutex<String>,
    /// Agent state in `/status`.
    pub state: Mutex<String>,
    /// Status code for `POST /input` (200 = success).
    pub input_status: AtomicU16,
    /// Bodies received on the POST endpoints, with their path.
    pub posts: Mutex<Vec<(String, Value)>>,
    /// `Authorization` headers received on non-health calls.
    pub auth_headers: Mutex<Vec<Option<String>>>,
    /// `Authorization` headers received on `/health`.
    pub health_auth: Mutex<Vec<Option<String>>>,
    /// Calls of `/screen`.
    pub screen_calls: AtomicUsize,
    /// Calls of `/status`.
    pub status_calls: AtomicUsize,
    /// Screen sequence number.
    pub seq: AtomicUsize,
}

/// A coop-like upstream on 127.0.0.1:0.
pub struct MockUpstream {
    /// `http://127.0.0.1:PORT` (plus a prefix, if any).
    pub url: String,
    /// Steering and observations.
    pub state: Arc<MockState>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Stops answering at all (connection refused from now on).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn auth_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn coop_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error":{"code":code,"message":message}})),
    )
        .into_response()
}

async fn record_post(state: &MockState, path: &str, headers: &HeaderMap, body: Value) {
    state.auth_headers.lock().unwrap().push(auth_of(headers));
    state.posts.lock().unwrap().push((path.to_owned(), body));
}

/// Starts a mock upstream.
pub async fn start_upstream() -> MockUpstream {
    let state = Arc::new(MockState {
        screen_text: Mutex::new("hello from mock".to_owned()),
        state: Mutex::new("idle".to_owned()),
        input_status: AtomicU16::new(200),
        ..MockState::default()
    });
    let app = Router::new()
        .route(
            "/api/v1/health",
            get(|State(s): State<Arc<MockState>>, h: HeaderMap| async move {
                s.health_auth.lock().unwrap().push(auth_of(&h));
                if s.unhealthy.load(Ordering::SeqCst) {
                    return coop_error(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", "down");
                }
                Json(json!({"status":"running","session_id":"mock"})).into_response()
            }),
        )
        .route(
            "/api/v1/screen",
            get(|State(s): State<Arc<MockState>>, h: HeaderMap| async move {
                s.screen_calls.fetch_add(1, Ordering::SeqCst);
                s.auth_headers.lock().unwrap().push(auth_of(&h));
                if s.data_fails.load(Ordering::SeqCst) {
                    return coop_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "boom");
                }
                let line = s.screen_text.lock().unwrap().clone();
                let mut lines = vec![format!("{line:<80}")];
                lines.resize(24, " ".repeat(80));
                Json(json!({
                    "lines": lines, "ansi": lines, "cols": 80, "rows": 24,
                    "alt_screen": false, "cursor": null, "seq": s.seq.load(Ordering::SeqCst),
                }))
                .into_response()
            }),
        )
        .route(
            "/api/v1/status",
            get(|State(s): State<Arc<MockState>>, h: HeaderMap| async move {
                s.status_calls.fetch_add(1, Ordering::SeqCst);
                s.auth_headers.lock().unwrap().push(auth_of(&h));
                if s.data_fails.load(Ordering::SeqCst) {
                    return coop_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "boom");
                }
                let state = s.state.lock().unwrap().clone();
                Json(json!({
                    "session_id": "mock", "state": state, "pid": 42, "uptime_secs": 7,
                    "exit_code": null, "screen_seq": 3, "bytes_read": 10, "bytes_written": 5,
                    "ws_clients": 0,
                }))
                .into_response()
            }),
        )
        .route(
            "/api/v1/agent",
            get(|State(s): State<Arc<MockState>>, h: HeaderMap| async move {
                s.auth_headers.lock().unwrap().push(auth_of(&h));
                Json(json!({"agent":"mock","state":"idle"}))
            }),
        )
        .route(
            "/api/v1/input",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    record_post(&s, "/api/v1/input", &h, body).await;
                    match s.input_status.load(Ordering::SeqCst) {
                        200 => Json(json!({"bytes_written": 5})).into_response(),
                        409 => coop_error(StatusCode::CONFLICT, "AGENT_BUSY", "agent is busy"),
                        other => (
                            StatusCode::from_u16(other).unwrap(),
                            "plain text failure",
                        )
                            .into_response(),
                    }
                },
            ),
        )
        .route(
            "/api/v1/input/raw",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    record_post(&s, "/api/v1/input/raw", &h, body).await;
                    Json(json!({"bytes_written": 3}))
                },
            ),
        )
        .route(
            "/api/v1/input/keys",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    record_post(&s, "/api/v1/input/keys", &h, body).await;
                    Json(json!({"bytes_written": 1}))
                },
            ),
        )
        .route(
            "/api/v1/agent/nudge",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    record_post(&s, "/api/v1/agent/nudge", &h, body).await;
                    // Like coop's switch: 202 with an empty body.
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/api/v1/agent/respond",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    record_post(&s, "/api/v1/agent/respond", &h, body).await;
                    coop_error(StatusCode::CONFLICT, "NO_PROMPT", "no prompt is active")
                },
            ),
        )
        .route(
            "/api/v1/upload",
            post(
                |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                    let len = body["data"].as_str().map_or(0, str::len);
                    record_post(&s, "/api/v1/upload", &h, json!({"len": len})).await;
                    Json(json!({"path": "uploads/f", "bytes_written": len}))
                },
            ),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    MockUpstream { url, state, task }
}

/// Registers `upstream` under `id` and returns the reply.
pub async fn register(mux: &Mux, url: &str, id: Option<&str>, extra: Value) -> reqwest::Response {
    let mut body = json!({"url": url});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    if let Value::Object(map) = extra {
        for (k, v) in map {
            body[k] = v;
        }
    }
    client()
        .post(format!("{}/api/v1/sessions", mux.base))
        .json(&body)
        .send()
        .await
        .expect("register request")
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that `response` is the error envelope with this status and code; returns the
/// message.
pub async fn expect_envelope(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status");
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(
        ct.starts_with("application/json"),
        "content type {ct:?} for {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("message is a string")
        .to_owned()
}

/// The value of one sample in a Prometheus text exposition.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"))
}

/// `GET /metrics` as text.
pub async fn metrics(mux: &Mux) -> String {
    client()
        .get(format!("{}/metrics", mux.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}
