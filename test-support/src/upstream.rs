//! A coop-like upstream on 127.0.0.1:0 (a stand-in for a real coop session) whose answers
//! tests steer and whose requests they inspect.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

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
    /// Connections accepted and not yet closed (by either side).
    pub open_connections: Arc<AtomicUsize>,
    /// Connections accepted so far, closed or not.
    pub accepted_connections: Arc<AtomicUsize>,
    /// Requests for `/ws` (the mock has none: 404), each on a connection of its own (the
    /// hub's inbox follows every session's state there).
    pub ws_attempts: AtomicUsize,
}

/// The mock's listener: counts the connections it accepted that are still open.
struct CountingListener {
    inner: tokio::net::TcpListener,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

/// An accepted connection; uncounted when dropped (the server drops it once it is closed).
struct Counted {
    stream: tokio::net::TcpStream,
    open: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = Counted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Counted, std::net::SocketAddr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.open.fetch_add(1, Ordering::SeqCst);
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let open = self.open.clone();
        (Counted { stream, open }, addr)
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A coop-like upstream on 127.0.0.1:0.
pub struct MockUpstream {
    /// `http://127.0.0.1:PORT` (plus a prefix, if any).
    pub url: String,
    /// Steering and observations.
    pub state: Arc<MockState>,
    task: JoinHandle<()>,
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

impl MockUpstream {
    /// Starts a mock upstream.
    pub async fn start() -> MockUpstream {
        let state = Arc::new(MockState {
            screen_text: Mutex::new("hello from mock".to_owned()),
            state: Mutex::new("idle".to_owned()),
            input_status: AtomicU16::new(200),
            ..MockState::default()
        });
        let app = Router::new()
            .route(
                "/ws",
                get(|State(s): State<Arc<MockState>>| async move {
                    s.ws_attempts.fetch_add(1, Ordering::SeqCst);
                    StatusCode::NOT_FOUND
                }),
            )
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
                "/api/v1/session/profiles",
                post(
                    |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                        let registered = body["profiles"].as_array().map_or(0, Vec::len);
                        record_post(&s, "/api/v1/session/profiles", &h, body).await;
                        Json(json!({"registered": registered}))
                    },
                ),
            )
            .route(
                "/api/v1/session/switch",
                post(
                    |State(s): State<Arc<MockState>>, h: HeaderMap, Json(body): Json<Value>| async move {
                        record_post(&s, "/api/v1/session/switch", &h, body).await;
                        // Coop accepts a switch with 202 and waits until it can restart.
                        StatusCode::ACCEPTED
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
        let listener = CountingListener {
            inner: listener,
            open: state.open_connections.clone(),
            accepted: state.accepted_connections.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockUpstream { url, state, task }
    }

    /// Stops answering at all: returns once its listener is closed (connection refused from
    /// now on).
    pub async fn kill(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}
