//! Self-registration against a small recording HTTP server standing in for the mux.

use crate::support::{wait_for, Opts, Session, LONG_WAIT, WAIT};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One request the fake mux received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    bearer: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Registrations still to refuse with 503.
    fail_posts: Arc<Mutex<u32>>,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }

    async fn wait(&self, what: &str, pred: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        self.wait_within(WAIT, what, pred).await
    }

    async fn wait_within(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        let seen = wait_for(limit, || async {
            let seen = self.seen();
            pred(&seen).then_some(seen)
        })
        .await;
        seen.unwrap_or_else(|| panic!("never saw {what}: {:#?}", self.seen()))
    }
}

async fn record(State(rec): State<Recorder>, req: Request) -> impl IntoResponse {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let id = body["id"].clone();
    rec.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        bearer,
        body,
    });
    if method == "POST" {
        let mut fail = rec.fail_posts.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({}))).into_response();
        }
        return Json(json!({"id": id, "registered": true})).into_response();
    }
    let id = path.rsplit('/').next().unwrap_or("").to_owned();
    Json(json!({"id": id, "removed": true})).into_response()
}

/// Starts the fake mux; returns its URL and recorder.
async fn fake_mux(fail_posts: u32) -> (String, Recorder) {
    let rec = Recorder::default();
    *rec.fail_posts.lock().unwrap() = fail_posts;
    let app = Router::new().fallback(record).with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rec)
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn registers_heartbeats_through_the_childs_exit_and_deregisters_on_shutdown() {
    let (mux, rec) = fake_mux(0).await;
    let opts = Opts {
        flags: flags(&[
            "--auth-token",
            "own-tok",
            "--label",
            "team=core",
            "--label",
            "a.b=c",
            "--label",
            "bad",
            "--heartbeat-ms",
            "250",
        ]),
        env: vec![
            ("COOP_MUX_URL", mux),
            ("COOP_MUX_TOKEN", "mux-secret".into()),
            ("COOP_MUX_SESSION_ID", "sess-1".into()),
        ],
        token: Some("own-tok".into()),
        ..Opts::default()
    };
    let mut s = Session::start_with(opts, &["sh", "-c", "read go; exit 4"]).await;
    let seen = rec
        .wait("a registration and a heartbeat", |s| {
            s.iter().filter(|r| r.method == "POST").count() >= 2
        })
        .await;
    for post in seen.iter().filter(|r| r.method == "POST") {
        assert_eq!(post.path, "/api/v1/sessions");
        assert_eq!(post.bearer.as_deref(), Some("Bearer mux-secret"));
        assert_eq!(
            post.body,
            json!({
                "url": s.url,
                "auth_token": "own-tok",
                "id": "sess-1",
                "metadata": {"agent": "unknown", "command": "sh", "team": "core", "a": {"b": "c"}},
            })
        );
    }
    assert_eq!(s.get_ok("/health").await["session_id"], "sess-1");
    s.type_line("go").await;
    let mut ws = s.ws("subscribe=state&token=own-tok").await;
    assert_eq!(ws.wait_event("exit").await["code"], 4);
    // The host outlives its child: it keeps heartbeating and never deregisters by itself,
    // not even after the 5 s a host used to wait before leaving (24 heartbeats of 250 ms).
    let at_exit = rec.posts().len();
    let seen = rec
        .wait_within(LONG_WAIT, "6 s of heartbeats after the exit", |s| {
            s.iter().filter(|r| r.method == "POST").count() >= at_exit + 24
        })
        .await;
    assert!(seen.iter().all(|r| r.method == "POST"), "{seen:#?}");
    assert!(
        rec.seen().iter().all(|r| r.method == "POST"),
        "{:#?}",
        rec.seen()
    );
    assert_eq!(s.state().await, "exited");
    s.post_ok("/shutdown", json!({})).await;
    assert_eq!(s.wait_exit(WAIT).await, Some(4));
    let seen = rec.seen();
    let last = seen.last().expect("requests");
    assert_eq!(last.method, "DELETE");
    assert_eq!(last.path, "/api/v1/sessions/sess-1");
    assert_eq!(last.bearer.as_deref(), Some("Bearer mux-secret"));
}

#[tokio::test]
async fn an_empty_mux_url_turns_registration_off() {
    let (mux, rec) = fake_mux(0).await;
    // A host that registers shows when registration would have happened by now.
    let on = Opts {
        env: vec![("COOP_MUX_URL", mux.clone())],
        flags: flags(&["--heartbeat-ms", "100"]),
        ..Opts::default()
    };
    let registered = Session::start_with(on, &["sh"]).await;
    let first = rec
        .wait("the control host's registration", |s| !s.is_empty())
        .await;
    let control_url = first[0].body["url"].clone();
    assert_eq!(control_url, registered.url.as_str());
    let off = Opts {
        env: vec![("COOP_MUX_URL", String::new())],
        flags: flags(&["--heartbeat-ms", "100"]),
        ..Opts::default()
    };
    let silent = Session::start_with(off, &["sh"]).await;
    silent.type_line("echo up").await;
    silent.wait_text("up").await;
    // Two more heartbeats of the control host: the silent one had ten chances meanwhile.
    let before = rec.posts().len();
    rec.wait("control heartbeats", |s| s.len() >= before + 2)
        .await;
    assert!(
        rec.seen().iter().all(|r| r.body["url"] == control_url),
        "{:#?}",
        rec.seen()
    );
}

#[tokio::test]
async fn registration_retries_after_a_failure() {
    let (mux, rec) = fake_mux(1).await;
    let opts = Opts {
        env: vec![("COOP_MUX_URL", mux)],
        ..Opts::default()
    };
    let started = Instant::now();
    let s = Session::start_with(opts, &["sh"]).await;
    // The first attempt is refused; the retry comes 0.5 s later, long before a heartbeat.
    let posts = rec.wait("a retry", |s| s.len() >= 2).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(posts[0].body, posts[1].body);
    assert_eq!(posts[0].bearer, None);
    assert_eq!(posts[0].body["auth_token"], Value::Null);
    let id = posts[0].body["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().to_string(), id);
    assert_eq!(s.get_ok("/health").await["session_id"], id);
    assert_eq!(rec.posts().len(), 2);
}

#[tokio::test]
async fn sigterm_stops_the_child_deregisters_and_exits_within_2s() {
    let (mux, rec) = fake_mux(0).await;
    let opts = Opts {
        env: vec![
            ("COOP_MUX_URL", mux),
            ("COOP_URL", "http://advertised.example:1234".into()),
        ],
        ..Opts::default()
    };
    let mut s = Session::start_with(opts, &["bash", "--norc", "--noprofile"]).await;
    let posts = rec.wait("a registration", |s| !s.is_empty()).await;
    assert_eq!(posts[0].body["url"], "http://advertised.example:1234");
    let id = posts[0].body["id"].as_str().unwrap().to_owned();
    let child = s.get_ok("/health").await["pid"].as_u64().unwrap() as i32;
    s.wait_text("$").await;
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = s.wait_exit(Duration::from_secs(3)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // bash dies of the SIGHUP it got from the host.
    assert_eq!(code, Some(128 + 1));
    let seen = rec.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.clone()),
        ("DELETE", format!("/api/v1/sessions/{id}"))
    );
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), None).is_ok();
    assert!(!alive, "the child must be gone");
}

#[tokio::test]
async fn a_host_name_binds_and_is_advertised_as_given() {
    let (mux, rec) = fake_mux(0).await;
    let opts = Opts {
        flags: flags(&["--host", "localhost"]),
        env: vec![("COOP_MUX_URL", mux)],
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh"]).await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let posts = rec.wait("a registration", |s| !s.is_empty()).await;
    assert_eq!(posts[0].body["url"], format!("http://localhost:{port}"));
    assert_eq!(s.get_ok("/health").await["status"], "running");
}
