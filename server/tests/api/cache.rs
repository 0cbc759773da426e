//! Screen and status caches, pollers and prewarm: fresh reads are served from the cache,
//! stale ones read live, a failing upstream falls back to the cache.

use crate::support::{
    client, eventually, expect_envelope, metric, metrics, register, MockUpstream, TestServer,
};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Poll interval of the pollers a watcher starts.
const POLL_MS: u64 = 50;
/// How long the absence of polling is watched for: an absence takes a window of time (four
/// poll intervals), not an event.
const QUIET: Duration = Duration::from_millis(4 * POLL_MS);

async fn get_json(mux: &TestServer, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", mux.base))
        .send()
        .await
        .unwrap()
}

async fn pollers(mux: &TestServer) -> (f64, f64) {
    let text = metrics(mux).await;
    (
        metric(&text, "coopmux_pollers_running{kind=\"screen\"}"),
        metric(&text, "coopmux_pollers_running{kind=\"status\"}"),
    )
}

#[tokio::test]
async fn fresh_session_answers_screen_and_status_live() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({"auth_token":"tok"})).await;

    let reply = get_json(&mux, "/api/v1/sessions/s/screen").await;
    assert_eq!(reply.status(), 200);
    let screen: Value = reply.json().await.unwrap();
    assert_eq!(screen["cols"], 80);
    assert_eq!(screen["rows"], 24);
    assert_eq!(screen["alt_screen"], false);
    assert_eq!(screen["lines"].as_array().unwrap().len(), 24);
    assert!(screen["lines"][0]
        .as_str()
        .unwrap()
        .starts_with("hello from mock"));
    assert_eq!(screen["ansi"], screen["lines"]);
    assert!(screen["fetched_at"].as_u64().unwrap() > 1_600_000_000_000);

    let status: Value = get_json(&mux, "/api/v1/sessions/s/status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "idle");
    assert_eq!(status["session_id"], "mock");
    assert_eq!(status["pid"], 42);
    assert_eq!(status["exit_code"], Value::Null);
    assert!(status["fetched_at"].as_u64().is_some());
    // The session's token goes upstream on data reads.
    assert!(up
        .state
        .auth_headers
        .lock()
        .unwrap()
        .iter()
        .all(|h| h.as_deref() == Some("Bearer tok")));

    // The list now shows the cached state.
    let list: Value = get_json(&mux, "/api/v1/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["cached_state"], "idle");
}

#[tokio::test]
async fn fresh_cache_is_served_and_stale_cache_read_live() {
    let mux = TestServer::with(|a| a.screen_poll_ms = 300).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    get_json(&mux, "/api/v1/sessions/s/screen").await;
    get_json(&mux, "/api/v1/sessions/s/screen").await;
    assert_eq!(
        up.state.screen_calls.load(Ordering::SeqCst),
        1,
        "second read from cache"
    );
    *up.state.screen_text.lock().unwrap() = "changed".to_owned();
    // Read until the copy goes stale (300 ms): until then every read is the cached one.
    eventually("the stale copy is read live", || async {
        let screen: Value = get_json(&mux, "/api/v1/sessions/s/screen")
            .await
            .json()
            .await
            .unwrap();
        screen["lines"][0]
            .as_str()
            .unwrap()
            .starts_with("changed")
            .then_some(())
    })
    .await;
    assert_eq!(up.state.screen_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failing_upstream_falls_back_to_cache_and_502_without_one() {
    let mux = TestServer::with(|a| {
        a.screen_poll_ms = 1;
        a.status_poll_ms = 1;
    })
    .await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    let first: Value = get_json(&mux, "/api/v1/sessions/s/screen")
        .await
        .json()
        .await
        .unwrap();
    up.state.data_fails.store(true, Ordering::SeqCst);
    // Read until one read goes upstream (the 1 ms copy went stale) and fails: every answer,
    // that one included, is the cached copy.
    eventually("a live read that fails", || async {
        let reply = get_json(&mux, "/api/v1/sessions/s/screen").await;
        assert_eq!(reply.status(), 200);
        let second: Value = reply.json().await.unwrap();
        assert_eq!(
            second["fetched_at"], first["fetched_at"],
            "the cached copy, with its time"
        );
        (up.state.screen_calls.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    // Never read: no cache to fall back to.
    let reply = get_json(&mux, "/api/v1/sessions/s/status").await;
    let message = expect_envelope(reply, 502, "UPSTREAM_ERROR").await;
    assert!(message.starts_with("upstream error: "), "{message}");
}

#[tokio::test]
async fn watching_runs_one_poller_pair_per_session_with_reference_counting() {
    let mux = TestServer::with(|a| {
        a.screen_poll_ms = POLL_MS;
        a.status_poll_ms = POLL_MS;
    })
    .await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    let registry = &mux.hub.registry;
    assert_eq!(pollers(&mux).await, (0.0, 0.0));

    assert!(registry.start_watching("s"));
    assert!(registry.start_watching("s"));
    assert_eq!(
        pollers(&mux).await,
        (1.0, 1.0),
        "two watchers, one poller pair"
    );
    assert_eq!(registry.watch_count("s"), 2);
    eventually("pollers fill the cache", || async {
        (up.state.screen_calls.load(Ordering::SeqCst) >= 3
            && up.state.status_calls.load(Ordering::SeqCst) >= 3)
            .then_some(())
    })
    .await;
    let text = metrics(&mux).await;
    assert_eq!(metric(&text, "coopmux_watched_sessions"), 1.0);

    registry.stop_watching("s");
    assert_eq!(pollers(&mux).await, (1.0, 1.0), "one watcher left");
    registry.stop_watching("s");
    eventually("pollers stop", || async {
        (pollers(&mux).await == (0.0, 0.0)).then_some(())
    })
    .await;
    let calls = up.state.screen_calls.load(Ordering::SeqCst);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        up.state.screen_calls.load(Ordering::SeqCst),
        calls,
        "no polling after the last watcher left"
    );
    // Extra stops never go below zero or disturb a later watcher.
    registry.stop_watching("s");
    assert!(registry.start_watching("s"));
    assert_eq!(pollers(&mux).await, (1.0, 1.0));
    registry.stop_watching("s");
}

#[tokio::test]
async fn watchers_survive_removal_and_restart_pollers_on_reregistration() {
    let mux = TestServer::with(|a| {
        a.screen_poll_ms = 50;
        a.status_poll_ms = 50;
    })
    .await;
    let up = MockUpstream::start().await;
    let registry = &mux.hub.registry;
    // Watching an id before it exists records the watcher but runs nothing.
    assert!(!registry.start_watching("later"));
    assert_eq!(pollers(&mux).await, (0.0, 0.0));
    register(&mux, &up.url, Some("later"), json!({})).await;
    assert_eq!(pollers(&mux).await, (1.0, 1.0));
    assert!(registry.remove("later"));
    eventually("pollers stop on removal", || async {
        (pollers(&mux).await == (0.0, 0.0)).then_some(())
    })
    .await;
    register(&mux, &up.url, Some("later"), json!({})).await;
    assert_eq!(
        pollers(&mux).await,
        (1.0, 1.0),
        "the still-subscribed client gets pollers again"
    );
    registry.stop_watching("later");
    eventually("pollers stop", || async {
        (pollers(&mux).await == (0.0, 0.0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn prewarm_fills_caches_of_unwatched_sessions() {
    let mux = TestServer::with(|a| {
        a.prewarm_poll_ms = 100;
        a.prewarm_capacity = 1;
    })
    .await;
    let (a, b) = (MockUpstream::start().await, MockUpstream::start().await);
    register(&mux, &a.url, Some("a"), json!({})).await;
    register(&mux, &b.url, Some("b"), json!({})).await;
    // Capacity 1: only the most recent registration is prewarmed.
    eventually("prewarm polls b", || async {
        (b.state.screen_calls.load(Ordering::SeqCst) >= 2
            && b.state.status_calls.load(Ordering::SeqCst) >= 2)
            .then_some(())
    })
    .await;
    assert_eq!(a.state.screen_calls.load(Ordering::SeqCst), 0);
    let list: Value = get_json(&mux, "/api/v1/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[1]["cached_state"], "idle");
    assert!(list[0].get("cached_state").is_none());
}
