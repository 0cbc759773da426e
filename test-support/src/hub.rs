//! The hub in-process on 127.0.0.1:0, and the HTTP helpers of tests that talk to a hub.

use super::{state_dir, WAIT};
use coopmux::{cli::ServeArgs, hub::serve::Bound, hub::state::Hub};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A hub running inside the test process; shut down (and its state directory removed) on
/// drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The hub's state.
    pub hub: Arc<Hub>,
    /// Cancel to shut it down.
    pub shutdown: CancellationToken,
    /// The credential state directory it was given.
    state_dir: Option<PathBuf>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(dir) = &self.state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Test flags: loopback, port 0, no token, a private state directory, and background timers
/// long enough not to disturb request counts; `tweak` changes what a test needs.
pub fn hub_args(tweak: impl FnOnce(&mut ServeArgs)) -> ServeArgs {
    let mut args = ServeArgs::loopback_ephemeral();
    args.auth_token = None;
    args.health_check_ms = 600_000;
    args.prewarm_poll_ms = 600_000;
    args.state_dir = Some(state_dir());
    tweak(&mut args);
    args
}

impl TestServer {
    /// Starts a hub with [`hub_args`] changed by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut ServeArgs)) -> TestServer {
        Self::start(hub_args(tweak)).await
    }

    /// Starts a hub with these flags (a private state directory when they name none).
    pub async fn start(mut args: ServeArgs) -> TestServer {
        let state_dir = args.state_dir.get_or_insert_with(state_dir).clone();
        let bound = Bound::bind(args).await.expect("bind hub");
        let base = format!("http://{}", bound.local_addr());
        let hub = bound.hub();
        let shutdown = bound.shutdown_token();
        tokio::spawn(async move {
            bound.serve().await.expect("serve");
        });
        TestServer {
            base,
            hub,
            shutdown,
            state_dir: Some(state_dir),
        }
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET {path}` answered 200 with JSON: the JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let reply = client().get(self.url(path)).send().await.expect("GET");
        assert_eq!(reply.status(), 200, "GET {path}");
        reply.json().await.expect("a JSON body")
    }

    /// `ws://…{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }
}

/// Registers the upstream at `url` under `id` (generated when `None`) on `server`, with the
/// fields of `extra` added to the body; returns the reply.
pub async fn register(
    server: &TestServer,
    url: &str,
    id: Option<&str>,
    extra: Value,
) -> reqwest::Response {
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
        .post(server.url("/api/v1/sessions"))
        .json(&body)
        .send()
        .await
        .expect("register request")
}

/// `GET url` with `client`, its body as JSON (`null` when it is not JSON).
pub async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let reply = client.get(url).send().await.expect("GET");
    reply.json().await.unwrap_or(Value::Null)
}

/// A plain HTTP client (no cookies, no redirects followed, bounded by [`WAIT`]).
pub fn client() -> reqwest::Client {
    crate::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .expect("client")
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

/// `GET /metrics` of `server` as text.
pub async fn metrics(server: &TestServer) -> String {
    client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}
