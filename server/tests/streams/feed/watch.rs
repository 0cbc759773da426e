//! `/ws/mux` watching: one poller pair and one event feed per watched session whatever the
//! number of clients, across unsubscribes, disconnects and re-registrations under the same id;
//! no `session:offline` from an unsubscribe; screens re-sent only when their `seq` changes.

use crate::support::{
    client, eventually, metric, metrics, register, Session, TempDir, TestServer, Ws, WAIT,
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// How long a poller count must hold to count as settled: a late duplicate start is an
/// absence to watch for over a window, not an event to await.
const STEADY: Duration = Duration::from_millis(150);

async fn feed(mux: &TestServer) -> Ws {
    let mut ws = Ws::connect(&mux.ws_url("/ws/mux")).await;
    let first = ws.next(WAIT).await.expect("snapshot");
    assert_eq!(first["event"], "sessions", "{first}");
    ws
}

async fn pollers(mux: &TestServer) -> (f64, f64) {
    let text = metrics(mux).await;
    (
        metric(&text, "coopmux_pollers_running{kind=\"screen\"}"),
        metric(&text, "coopmux_pollers_running{kind=\"status\"}"),
    )
}

async fn expect_pollers(mux: &TestServer, n: f64, what: &str) {
    eventually(what, || async {
        (pollers(mux).await == (n, n)).then_some(())
    })
    .await;
    // And it stays there: no late duplicate start within a window of time.
    tokio::time::sleep(STEADY).await;
    assert_eq!(pollers(mux).await, (n, n), "{what}");
}

/// Frames received within `window`, until the connection closes.
async fn frames_for(ws: &mut Ws, window: Duration) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        match tokio::time::timeout(left, ws.next(Duration::from_secs(30))).await {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) | Err(_) => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_per_watched_session_across_clients_and_reregistration() {
    let dir = TempDir::new("feed-watch");
    let host = Session::sh("sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("w1"), json!({}))
            .await
            .status(),
        200
    );
    let mut a = feed(&mux).await;
    let mut b = feed(&mux).await;
    a.send(json!({"event": "subscribe", "sessions": ["w1"]}))
        .await;
    let t = a.wait_event("transition").await;
    assert_eq!(t["session"], "w1", "{t}");
    expect_pollers(&mux, 1.0, "pollers for one watcher").await;
    b.send(json!({"event": "subscribe", "sessions": ["w1", "w1"]}))
        .await;
    a.send(json!({"event": "subscribe", "sessions": ["w1"]}))
        .await;
    expect_pollers(&mux, 1.0, "still one poller pair for two watchers").await;
    assert_eq!(mux.hub.event_feeds.running(), 1);

    // Removal: one offline each, pollers gone; re-registration under the same id: pollers
    // and the event feed come back for the clients still subscribed.
    let del = client()
        .delete(format!("{}/api/v1/sessions/w1", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    expect_pollers(&mux, 0.0, "pollers stop with the session").await;
    let seen = frames_for(&mut b, Duration::from_millis(400)).await;
    let offline = seen
        .iter()
        .filter(|f| f["event"] == "session:offline")
        .count();
    assert_eq!(offline, 1, "exactly one offline per removal: {seen:?}");
    assert_eq!(
        register(&mux, &host.url, Some("w1"), json!({}))
            .await
            .status(),
        200
    );
    expect_pollers(&mux, 1.0, "pollers restart on re-registration").await;
    a.wait_for(Duration::from_secs(10), |f| f["event"] == "session:online")
        .await;
    let t = a
        .wait_for(Duration::from_secs(10), |f| f["event"] == "transition")
        .await;
    assert_eq!(
        t["session"], "w1",
        "the event feed follows the new registration: {t}"
    );

    // A disconnect releases only that client's hold.
    drop(a);
    expect_pollers(&mux, 1.0, "b still watches").await;
    assert_eq!(mux.hub.event_feeds.running(), 1);
    b.send(json!({"event": "unsubscribe", "sessions": ["w1", "never-watched"]}))
        .await;
    expect_pollers(&mux, 0.0, "last watcher left").await;
    eventually("event feed stopped", || async {
        (mux.hub.event_feeds.running() == 0).then_some(())
    })
    .await;
    let seen = frames_for(&mut b, Duration::from_millis(400)).await;
    assert!(
        seen.iter().all(|f| f["event"] != "session:offline"),
        "an unsubscribe is not a removal: {seen:?}"
    );
    assert_eq!(mux.hub.registry.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_batches_carry_only_changed_screens() {
    let dir = TempDir::new("feed-screens");
    let host = Session::sh(
        "stty -echo; echo hello; read x; echo \"changed $x\"; sleep 60",
        dir.path(),
        &[],
    )
    .await;
    let mux = TestServer::with(|a| a.screen_poll_ms = 100).await;
    assert_eq!(
        register(&mux, &host.url, Some("s1"), json!({}))
            .await
            .status(),
        200
    );
    let mut ws = feed(&mux).await;
    ws.send(json!({"event": "subscribe", "sessions": ["s1"]}))
        .await;
    let first = ws
        .wait_for(Duration::from_secs(10), |f| {
            f["event"] == "screen_batch" && f["screens"][0]["lines"].to_string().contains("hello")
        })
        .await;
    let entry = &first["screens"][0];
    assert_eq!(entry["session"], "s1");
    for key in ["lines", "ansi", "cols", "rows", "seq"] {
        assert!(entry.get(key).is_some(), "{key} in {entry}");
    }
    assert!(entry.get("alt_screen").is_none() && entry.get("fetched_at").is_none());
    // Ten ticks of an unchanged screen: nothing re-sent.
    let quiet = frames_for(&mut ws, Duration::from_millis(1000)).await;
    assert!(
        quiet.iter().all(|f| f["event"] != "screen_batch"),
        "unchanged screen re-sent: {quiet:?}"
    );
    ws.send(json!({"event": "input:send", "session": "s1", "text": "now", "enter": true}))
        .await;
    let changed = ws
        .wait_for(Duration::from_secs(10), |f| f["event"] == "screen_batch")
        .await;
    let entry = &changed["screens"][0];
    assert!(entry["seq"] != first["screens"][0]["seq"], "{changed}");
    assert!(
        entry["lines"].to_string().contains("changed now"),
        "{changed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_and_failed_proxies_come_back_as_errors() {
    let mux = TestServer::with(|_| {}).await;
    let mut ws = feed(&mux).await;
    ws.send_text("not json").await;
    let err = ws.wait_event("error").await;
    assert_eq!(err, json!({"event": "error", "message": "invalid message"}));
    ws.send(json!({"event": "subscribe", "sessions": "not-a-list"}))
        .await;
    assert_eq!(ws.wait_event("error").await["message"], "invalid message");
    ws.send(json!({"event": "input:send", "session": "ghost", "text": "x"}))
        .await;
    let err = ws.wait_event("error").await;
    assert_eq!(err["session"], "ghost", "{err}");
    // Subscribing to an unknown id is recorded but starts nothing.
    ws.send(json!({"event": "subscribe", "sessions": ["ghost"]}))
        .await;
    ws.send(json!({"event": "resize", "session": "ghost", "cols": 100, "rows": 30}))
        .await;
    let err = ws.wait_event("error").await;
    assert_eq!(err["session"], "ghost", "{err}");
    assert_eq!(pollers(&mux).await, (0.0, 0.0));
    let text = metrics(&mux).await;
    assert_eq!(metric(&text, "coopmux_ws_clients"), 1.0);
    drop(ws);
    eventually("client gauge back to 0", || async {
        (metric(&metrics(&mux).await, "coopmux_ws_clients") == 0.0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_exit_becomes_a_transition_to_exited() {
    let dir = TempDir::new("feed-exit");
    let host = Session::sh("stty -echo; read go; exit 4", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("e1"), json!({}))
            .await
            .status(),
        200
    );
    let mut ws = feed(&mux).await;
    ws.send(json!({"event": "subscribe", "sessions": ["e1"]}))
        .await;
    ws.wait_event("transition").await;
    ws.send(json!({"event": "input:send", "session": "e1", "text": "go", "enter": true}))
        .await;
    let exited = ws
        .wait_for(Duration::from_secs(10), |f| {
            f["event"] == "transition" && f["next"] == "exited"
        })
        .await;
    assert_eq!(exited["session"], "e1", "{exited}");
    // The feed must not announce the session itself.
    let rest = frames_for(&mut ws, Duration::from_millis(300)).await;
    assert!(
        rest.iter().all(|f| f["event"] != "session:online"),
        "{rest:?}"
    );
}
