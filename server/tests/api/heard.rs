//! Health checks spare a session the hub heard from within the interval (its state feed
//! delivering frames or pongs) and still judge one that is silent, or whose feed closed.

use crate::support::{eventually, metric, metrics, register, wait_for, MockUpstream, Session};
use crate::support::{TestServer, WAIT};
use serde_json::json;
use std::time::Duration;

/// Whether the hub heard from `id` lately enough to send it no health request.
fn heard(mux: &TestServer, id: &str) -> bool {
    let window = mux.hub.registry.heard_window();
    (mux.hub.registry.get(id)).is_ok_and(|s| s.heard_within(window))
}

/// A real `coopmux session` host (it serves coop's `/ws`), registered as `id` by the test
/// (so it never heartbeats), once the hub's inbox follows its state.
async fn followed_host(mux: &TestServer, id: &str) -> Session {
    let host = Session::start(&["--agent", "none"], &["sh"]).await;
    assert_eq!(
        register(mux, &host.url, Some(id), json!({})).await.status(),
        200
    );
    eventually("its state feed heard", || async {
        heard(mux, id).then_some(())
    })
    .await;
    host
}

/// Health requests the mock answered (the registration's included).
fn health_requests(up: &MockUpstream) -> usize {
    up.state.health_auth.lock().unwrap().len()
}

#[tokio::test]
async fn a_session_heard_within_the_interval_gets_no_health_request_and_a_silent_one_does() {
    let mux = TestServer::with(|_| {}).await;
    let _talking = followed_host(&mux, "talking").await;
    // The mock serves no `/ws`: nothing is heard from it.
    let silent = MockUpstream::start().await;
    register(&mux, &silent.url, Some("silent"), json!({})).await;
    assert!(!heard(&mux, "silent"));
    let before = health_requests(&silent);

    let report = mux.hub.registry.health_sweep().await;
    assert_eq!((report.checked, report.failed), (2, 0));
    // One request in all, and it went to the silent session.
    assert_eq!(health_requests(&silent), before + 1);
    let text = metrics(&mux).await;
    assert_eq!(metric(&text, "coopmux_health_checks_total"), 1.0);
}

#[tokio::test]
async fn pongs_keep_an_idle_feed_heard_across_many_intervals() {
    let interval = Duration::from_millis(100);
    let mux = TestServer::with(|a| a.health_check_ms = interval.as_millis() as u64).await;
    let _idle = followed_host(&mux, "idle").await;
    let silent = MockUpstream::start().await;
    register(&mux, &silent.url, Some("silent"), json!({})).await;
    // The idle host sends nothing by itself after its first state: wait for sweeps past the
    // window in which that first frame counts, so that only pongs can keep it heard.
    let window = mux.hub.registry.heard_window();
    let needed = (window.as_millis() / interval.as_millis()) as usize + 5;
    wait_for(2 * window + WAIT, || async {
        (health_requests(&silent) > needed).then_some(())
    })
    .await
    .expect("the silent session checked every interval");
    // Every request the checker sent went to the silent session (one of them may still be on
    // its way there), none to the idle host.
    let checks = metric(&metrics(&mux).await, "coopmux_health_checks_total") as usize;
    let silent_checks = health_requests(&silent) - 1;
    assert!(
        checks <= silent_checks + 1,
        "{checks} checks, {silent_checks} to the silent one"
    );
    assert!(heard(&mux, "idle"));
}

#[tokio::test]
async fn a_dead_host_whose_feed_was_just_heard_is_still_evicted() {
    let mux = TestServer::with(|a| a.max_health_failures = 1).await;
    let mut host = followed_host(&mux, "doomed").await;
    // SIGKILL: the feed closes with the process, well within the health interval.
    host.child.kill().await.unwrap();
    eventually("the closed feed unheard", || async {
        (!heard(&mux, "doomed")).then_some(())
    })
    .await;
    let report = mux.hub.registry.health_sweep().await;
    assert_eq!((report.checked, report.failed, report.evicted), (1, 1, 1));
    assert!(mux.hub.registry.get("doomed").is_err());
}
