//! The mux with real `coopmux session` hosts (coop-compatible upstreams): self-registration,
//! input through the proxy, screen through the cache, and eviction of a killed host.

use crate::support::{client, eventually, Opts, Session, TestServer};
use protocol::mux::MuxEvent;
use serde_json::{json, Value};

/// Starts `coopmux session -- sh` registering with `mux` as `id`.
async fn spawn_host(mux: &TestServer, id: &str) -> Session {
    spawn_host_with(mux, id, &[], &["sh"]).await
}

/// Starts `coopmux session FLAGS -- CMD` registering with `mux` as `id`.
async fn spawn_host_with(mux: &TestServer, id: &str, flags: &[&str], cmd: &[&str]) -> Session {
    let opts = Opts {
        env: vec![
            ("COOP_MUX_URL", mux.base.clone()),
            ("COOP_MUX_SESSION_ID", id.to_owned()),
        ],
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ..Opts::default()
    };
    Session::start_with(opts, cmd).await
}

/// Calls the dashboard's server function `name` with a JSON `body`: status and JSON answer.
async fn rest_post(mux: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let res = client()
        .post(mux.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn server_fn(mux: &TestServer, name: &str, body: Value) -> (u16, Value) {
    let res = client()
        .post(format!("{}/api/fn/{name}", mux.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn session_ids(mux: &TestServer) -> Vec<String> {
    let list: Vec<Value> = client()
        .get(format!("{}/api/v1/sessions", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn real_session_host_registers_takes_input_and_shows_its_screen() {
    let mux = TestServer::with(|_| {}).await;
    let host = spawn_host(&mux, "real-1").await;
    assert!(host.url.starts_with("http://127.0.0.1:"), "{}", host.url);
    eventually("self-registration", || async {
        session_ids(&mux)
            .await
            .contains(&"real-1".to_owned())
            .then_some(())
    })
    .await;

    let reply = client()
        .post(format!("{}/api/v1/sessions/real-1/input", mux.base))
        .json(&json!({"text": "echo mux-$((6*7))", "enter": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert!(body["bytes_written"].as_u64().unwrap() > 0, "{body}");

    let screen: Value = eventually("the output on the cached screen", || async {
        let screen: Value = client()
            .get(format!("{}/api/v1/sessions/real-1/screen", mux.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let lines = screen["lines"].as_array()?;
        lines
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.trim() == "mux-42"))
            .then_some(screen)
    })
    .await;
    assert_eq!(screen["cols"], 80);
    assert_eq!(screen["rows"], 24);
    let status: Value = client()
        .get(format!("{}/api/v1/sessions/real-1/status", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["state"].is_string(), "{status}");
    assert!(status["pid"].as_i64().is_some(), "{status}");
}

#[tokio::test]
async fn killed_session_host_is_evicted_with_one_offline_event() {
    let mux = TestServer::with(|a| {
        a.health_check_ms = 150;
        a.max_health_failures = 2;
    })
    .await;
    let mut host = spawn_host(&mux, "doomed").await;
    eventually("self-registration", || async {
        session_ids(&mux)
            .await
            .contains(&"doomed".to_owned())
            .then_some(())
    })
    .await;
    let mut events = mux.hub.registry.subscribe();
    // SIGKILL: no chance to deregister, like a crashed pod.
    host.child.kill().await.unwrap();
    eventually("eviction", || async {
        session_ids(&mux).await.is_empty().then_some(())
    })
    .await;
    // Further sweeps must not announce it again.
    for _ in 0..3 {
        mux.hub.registry.health_sweep().await;
    }
    let mut offline = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let MuxEvent::SessionOffline { session } = event {
            offline.push(session);
        }
    }
    assert_eq!(offline, ["doomed"]);
}

#[tokio::test]
async fn the_dashboard_reads_exit_codes_and_dismisses_only_exited_sessions() {
    let mux = TestServer::with(|_| {}).await;
    let _running = spawn_host(&mux, "running").await;
    // The host keeps answering after its child exited, as coop does.
    let mut exited = spawn_host_with(&mux, "exited", &[], &["sh", "-c", "exit 3"]).await;
    eventually("both registered", || async {
        (session_ids(&mux).await.len() == 2).then_some(())
    })
    .await;
    let states = eventually("the exit in the states", || async {
        let ids = json!({"ids": ["running", "exited", "unknown"]});
        let (status, states) = server_fn(&mux, "session_states", ids).await;
        assert_eq!(status, 200, "{states}");
        (states["exited"]["state"] == "exited").then_some(states)
    })
    .await;
    assert_eq!(states["exited"]["exit_code"], 3, "{states}");
    assert_ne!(states["running"]["state"], "exited", "{states}");
    assert!(states.get("unknown").is_none(), "{states}");
    // The REST twin is the same operation: the same answer for the exited session.
    let rest = rest_post(
        &mux,
        "/api/v1/states",
        json!({"ids": ["exited", "unknown"]}),
    )
    .await;
    assert_eq!(rest.0, 200, "{}", rest.1);
    for field in ["state", "exit_code", "pid", "session_id"] {
        assert_eq!(
            rest.1["exited"][field], states["exited"][field],
            "{}",
            rest.1
        );
    }
    assert!(rest.1.get("unknown").is_none(), "{}", rest.1);

    // A session still running is not dismissed.
    let (status, failure) = server_fn(&mux, "dismiss_session", json!({"id": "running"})).await;
    assert_eq!(status, 409, "{failure}");
    assert!(session_ids(&mux).await.contains(&"running".to_owned()));
    // Through REST it is refused the same way, in the envelope.
    let (status, envelope) = rest_post(&mux, "/api/v1/sessions/running/dismiss", json!({})).await;
    assert_eq!(status, 409, "{envelope}");
    assert_eq!(
        envelope["error"]["code"], "SESSION_NOT_EXITED",
        "{envelope}"
    );
    assert_eq!(
        envelope["error"]["message"], failure["message"],
        "{envelope} {failure}"
    );
    // A page of another origin cannot dismiss anything.
    let foreign = client()
        .post(mux.url("/api/v1/sessions/exited/dismiss"))
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Nor a page reached through a rebinding name (a Host the hub does not answer to).
    for path in ["/api/v1/sessions/exited/dismiss", "/api/v1/states"] {
        let rebound = client()
            .post(mux.url(path))
            .header("host", "evil.example")
            .json(&json!({"ids": ["exited"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403, "{path}");
    }
    assert_eq!(session_ids(&mux).await.len(), 2);
    // The exited one is shut down and removed.
    let (status, reply) = server_fn(&mux, "dismiss_session", json!({"id": "exited"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(session_ids(&mux).await, ["running"]);
    assert_eq!(
        exited.wait_exit(std::time::Duration::from_secs(10)).await,
        Some(3)
    );
}
