//! Registry over HTTP: registration, heartbeat, listing, deregistration, ids, events.

use crate::support::{client, eventually, expect_envelope, register, MockUpstream, TestServer};
use protocol::mux::MuxEvent;
use serde_json::{json, Value};
use tokio::sync::broadcast::{error::TryRecvError, Receiver};

async fn list(mux: &TestServer) -> Vec<Value> {
    client()
        .get(format!("{}/api/v1/sessions", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Events received so far: the registry sends them before it answers, so every event of a
/// finished request is already there.
fn drain(rx: &mut Receiver<MuxEvent>) -> Vec<MuxEvent> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(e) => out.push(e),
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("event feed: {e}"),
        }
    }
}

#[tokio::test]
async fn health_counts_registered_sessions() {
    let mux = TestServer::with(|_| {}).await;
    let (a, b) = (MockUpstream::start().await, MockUpstream::start().await);
    assert_eq!(
        register(&mux, &a.url, Some("a"), json!({})).await.status(),
        200
    );
    assert_eq!(
        register(&mux, &b.url, Some("b"), json!({})).await.status(),
        200
    );
    let health: Value = client()
        .get(format!("{}/api/v1/health", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status":"running","session_count":2}));
}

#[tokio::test]
async fn register_list_and_remove() {
    let mux = TestServer::with(|_| {}).await;
    let (a, b) = (MockUpstream::start().await, MockUpstream::start().await);
    let mut events = mux.hub.registry.subscribe();

    let reply = register(
        &mux,
        &format!("{}/", a.url),
        Some("sess-a"),
        json!({"auth_token":"upstream-secret","metadata":{"agent":"claude"}}),
    )
    .await;
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body, json!({"id":"sess-a","registered":true}));
    // Registration checks health without sending any token.
    assert_eq!(a.state.health_auth.lock().unwrap().as_slice(), [None]);

    // No id: the mux generates a UUID.
    let body: Value = register(&mux, &b.url, None, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let generated = body["id"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "{generated}");

    let sessions = list(&mux).await;
    assert_eq!(sessions.len(), 2);
    // Registration order, trailing slash removed, no token, metadata defaults to null.
    assert_eq!(sessions[0]["id"], "sess-a");
    assert_eq!(sessions[0]["url"], a.url.as_str());
    assert_eq!(sessions[0]["metadata"], json!({"agent":"claude"}));
    assert_eq!(sessions[0]["health_failures"], 0);
    assert!(sessions[0]["registered_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(sessions[0].get("auth_token").is_none());
    assert!(sessions[0].get("cached_state").is_none());
    assert_eq!(sessions[1]["id"], generated.as_str());
    assert_eq!(sessions[1]["metadata"], Value::Null);

    let reply = client()
        .delete(format!("{}/api/v1/sessions/sess-a", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"id":"sess-a","removed":true})
    );
    let ids: Vec<_> = list(&mux).await.iter().map(|s| s["id"].clone()).collect();
    assert_eq!(ids, [json!(generated)]);

    let reply = client()
        .delete(format!("{}/api/v1/sessions/sess-a", mux.base))
        .send()
        .await
        .unwrap();
    let message = expect_envelope(reply, 404, "SESSION_NOT_FOUND").await;
    assert_eq!(message, "session not found");

    let events = drain(&mut events);
    assert_eq!(
        events,
        [
            MuxEvent::SessionOnline {
                session: "sess-a".into(),
                url: a.url.clone(),
                metadata: json!({"agent":"claude"}),
            },
            MuxEvent::SessionOnline {
                session: generated.clone(),
                url: b.url.clone(),
                metadata: Value::Null,
            },
            MuxEvent::SessionOffline {
                session: "sess-a".into()
            },
        ]
    );
}

#[tokio::test]
async fn heartbeat_updates_url_token_and_metadata_without_events() {
    let mux = TestServer::with(|_| {}).await;
    let (old, new) = (MockUpstream::start().await, MockUpstream::start().await);
    assert_eq!(
        register(
            &mux,
            &old.url,
            Some("pod-1"),
            json!({"auth_token":"t1","metadata":{"v":1}})
        )
        .await
        .status(),
        200
    );
    let mut events = mux.hub.registry.subscribe();
    // The pod moved: same id, new URL, new token, new metadata.
    let reply = register(
        &mux,
        &new.url,
        Some("pod-1"),
        json!({"auth_token":"t2","metadata":{"v":2}}),
    )
    .await;
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"id":"pod-1","registered":true})
    );
    let sessions = list(&mux).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["url"], new.url.as_str());
    assert_eq!(sessions[0]["metadata"], json!({"v":2}));
    assert!(drain(&mut events).is_empty(), "a heartbeat emits nothing");

    // The new token is the one sent upstream.
    let reply = client()
        .post(format!("{}/api/v1/sessions/pod-1/input", mux.base))
        .json(&json!({"text":"x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        new.state.auth_headers.lock().unwrap().as_slice(),
        [Some("Bearer t2".to_owned())]
    );
    assert!(old.state.posts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn heartbeat_resets_health_failures() {
    let mux = TestServer::with(|a| a.max_health_failures = 10).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    up.state
        .unhealthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    mux.hub.registry.health_sweep().await;
    mux.hub.registry.health_sweep().await;
    assert_eq!(list(&mux).await[0]["health_failures"], 2);
    up.state
        .unhealthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    register(&mux, &up.url, Some("s"), json!({})).await;
    assert_eq!(list(&mux).await[0]["health_failures"], 0);
}

#[tokio::test]
async fn new_id_with_same_url_evicts_the_old_one() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("before-restart"), json!({})).await;
    let mut events = mux.hub.registry.subscribe();
    register(&mux, &up.url, Some("after-restart"), json!({})).await;
    let ids: Vec<_> = list(&mux).await.iter().map(|s| s["id"].clone()).collect();
    assert_eq!(ids, [json!("after-restart")]);
    assert_eq!(
        drain(&mut events),
        [
            MuxEvent::SessionOffline {
                session: "before-restart".into()
            },
            MuxEvent::SessionOnline {
                session: "after-restart".into(),
                url: up.url.clone(),
                metadata: Value::Null,
            },
        ]
    );
}

#[tokio::test]
async fn unreachable_upstream_is_refused_with_502() {
    let mux = TestServer::with(|_| {}).await;
    let mut up = MockUpstream::start().await;
    let url = up.url.clone();
    up.kill().await;
    let reply = register(&mux, &url, Some("x"), json!({})).await;
    let message = expect_envelope(reply, 502, "UPSTREAM_ERROR").await;
    assert!(message.starts_with("upstream unreachable: "), "{message}");

    let sick = MockUpstream::start().await;
    sick.state
        .unhealthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = register(&mux, &sick.url, Some("y"), json!({})).await;
    expect_envelope(reply, 502, "UPSTREAM_ERROR").await;
    assert!(list(&mux).await.is_empty());
}

#[tokio::test]
async fn invalid_ids_and_urls_are_400() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    let long = "a".repeat(129);
    for id in [
        "",
        "has space",
        "a/b",
        "launch",
        "mux",
        "ünï",
        long.as_str(),
    ] {
        let reply = register(&mux, &up.url, Some(id), json!({})).await;
        expect_envelope(reply, 400, "BAD_REQUEST").await;
    }
    for url in ["ftp://x", "not a url"] {
        let reply = register(&mux, url, Some("ok"), json!({})).await;
        expect_envelope(reply, 400, "BAD_REQUEST").await;
    }
    // Invalid ids in paths: 400, not 404.
    for path in ["has%20space", "a*b", &long] {
        let reply = client()
            .delete(format!("{}/api/v1/sessions/{path}", mux.base))
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 400, "BAD_REQUEST").await;
    }
    // `launch` is a route name: a clear envelope, not 405.
    let reply = client()
        .delete(format!("{}/api/v1/sessions/launch", mux.base))
        .send()
        .await
        .unwrap();
    let message = expect_envelope(reply, 400, "BAD_REQUEST").await;
    assert!(message.contains("reserved"), "{message}");
    assert!(list(&mux).await.is_empty());
}

#[tokio::test]
async fn unknown_ids_are_404_everywhere() {
    let mux = TestServer::with(|_| {}).await;
    for (method, path) in [
        ("GET", "screen"),
        ("GET", "status"),
        ("GET", "agent"),
        ("POST", "input"),
        ("POST", "input/raw"),
        ("POST", "input/keys"),
        ("POST", "agent/nudge"),
        ("POST", "agent/respond"),
        ("POST", "upload"),
    ] {
        let url = format!("{}/api/v1/sessions/nope/{path}", mux.base);
        let request = if method == "GET" {
            client().get(url)
        } else {
            client().post(url).json(&json!({}))
        };
        let message =
            expect_envelope(request.send().await.unwrap(), 404, "SESSION_NOT_FOUND").await;
        assert_eq!(message, "session not found");
    }
}

#[tokio::test]
async fn dashboard_page_is_html() {
    let mux = TestServer::with(|_| {}).await;
    let reply = client()
        .get(format!("{}/mux", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("<html") || text.contains("<!DOCTYPE"),
        "{text}"
    );
    let reply = client().get(format!("{}/", mux.base)).send().await.unwrap();
    assert!(reply.status().is_redirection());
    assert_eq!(reply.headers()["location"], "/mux");
}

#[tokio::test]
async fn server_function_lists_the_same_sessions() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("via-fn"), json!({"metadata":{"k":"v"}})).await;
    let reply = client()
        .post(format!("{}/api/fn/list_sessions", mux.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let from_fn: Value = reply.json().await.unwrap();
    assert_eq!(from_fn, Value::Array(list(&mux).await));
    assert_eq!(from_fn[0]["id"], "via-fn");
}

/// Connections the mux holds open at `upstream`, once they reach `wanted`.
async fn open_at(upstream: &MockUpstream, wanted: impl Fn(usize) -> bool) -> Option<usize> {
    let open = upstream
        .state
        .open_connections
        .load(std::sync::atomic::Ordering::SeqCst);
    wanted(open).then_some(open)
}

#[tokio::test]
async fn removal_closes_every_upstream_connection() {
    let mux = TestServer::with(|_| {}).await;
    let upstream = MockUpstream::start().await;
    assert_eq!(
        register(&mux, &upstream.url, Some("gone"), json!({}))
            .await
            .status(),
        200
    );
    // Live reads through the mux: pooled connections to the upstream.
    for path in ["screen", "status", "agent"] {
        let reply = client()
            .get(mux.url(&format!("/api/v1/sessions/gone/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{path}");
    }
    eventually("a pooled connection", || open_at(&upstream, |n| n > 0)).await;
    let deleted = client()
        .delete(mux.url("/api/v1/sessions/gone"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // Far below the pool's idle timeout: the removal itself closes them.
    eventually("no connection left", || open_at(&upstream, |n| n == 0)).await;
    assert_eq!(mux.hub.registry.upstream().pooled_origins(), 0);
}

#[tokio::test]
async fn health_sweeps_reuse_one_connection() {
    let mux = TestServer::with(|_| {}).await;
    let upstream = MockUpstream::start().await;
    assert_eq!(
        register(&mux, &upstream.url, Some("kept"), json!({}))
            .await
            .status(),
        200
    );
    for _ in 0..3 {
        let report = mux.hub.registry.health_sweep().await;
        assert_eq!((report.checked, report.failed), (1, 0));
    }
    // The registration's check opened the one connection; every sweep reused it. (The
    // inbox's tries of the mock's `/ws`, each a connection of its own, are not the sweeps'.)
    let state = &upstream.state;
    let load = |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::SeqCst);
    eventually("one connection besides the /ws tries", || async {
        (load(&state.accepted_connections) == 1 + load(&state.ws_attempts)).then_some(())
    })
    .await;
    eventually("one open connection", || open_at(&upstream, |n| n == 1)).await;
}
