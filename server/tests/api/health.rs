//! Health checker and eviction: a session is evicted after the configured number of
//! consecutive failed health checks, with exactly one `session:offline`.

use crate::support::{client, eventually, metric, metrics, register, MockUpstream, TestServer};
use protocol::mux::MuxEvent;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

async fn sessions(mux: &TestServer) -> Vec<Value> {
    client()
        .get(format!("{}/api/v1/sessions", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn dead_session_is_evicted_once_and_healthy_one_survives() {
    let mux = TestServer::with(|a| {
        a.health_check_ms = 100;
        a.max_health_failures = 3;
    })
    .await;
    let (mut dead, alive) = (MockUpstream::start().await, MockUpstream::start().await);
    register(&mux, &dead.url, Some("dead"), json!({})).await;
    register(&mux, &alive.url, Some("alive"), json!({})).await;
    // Watching the dead one too: its pollers must stop, and must not add a second offline.
    assert!(mux.hub.registry.start_watching("dead"));
    let mut events = mux.hub.registry.subscribe();
    dead.kill().await;

    // Failures are visible before the eviction.
    eventually("health_failures > 0 or eviction", || async {
        let list = sessions(&mux).await;
        let dead = list.iter().find(|s| s["id"] == "dead");
        dead.is_none_or(|s| s["health_failures"].as_u64() > Some(0))
            .then_some(())
    })
    .await;
    eventually("eviction", || async {
        let list = sessions(&mux).await;
        (!list.iter().any(|s| s["id"] == "dead")).then_some(())
    })
    .await;
    // A few more sweeps must not produce another offline event.
    for _ in 0..3 {
        mux.hub.registry.health_sweep().await;
    }
    // The pollers stop in the background once the session is gone.
    eventually("pollers stopped", || async {
        let text = metrics(&mux).await;
        (metric(&text, "coopmux_pollers_running{kind=\"screen\"}") == 0.0
            && metric(&text, "coopmux_pollers_running{kind=\"status\"}") == 0.0)
            .then_some(())
    })
    .await;
    let mut offline = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            MuxEvent::SessionOffline { session } => {
                assert_eq!(session, "dead");
                offline += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(offline, 1, "exactly one session:offline");
    let list = sessions(&mux).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], "alive");
    assert_eq!(list[0]["health_failures"], 0);

    let text = metrics(&mux).await;
    assert_eq!(metric(&text, "coopmux_evictions_total"), 1.0);
    assert!(metric(&text, "coopmux_health_failures_total") >= 3.0);
    assert_eq!(
        metric(&text, "coopmux_pollers_running{kind=\"screen\"}"),
        0.0
    );
    assert_eq!(
        metric(&text, "coopmux_pollers_running{kind=\"status\"}"),
        0.0
    );
    mux.hub.registry.stop_watching("dead");
}

#[tokio::test]
async fn eviction_needs_the_configured_number_of_consecutive_failures() {
    let mux = TestServer::with(|a| a.max_health_failures = 3).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("flaky"), json!({})).await;
    let registry = &mux.hub.registry;
    up.state.unhealthy.store(true, Ordering::SeqCst);
    registry.health_sweep().await;
    registry.health_sweep().await;
    // A success in between resets the count.
    up.state.unhealthy.store(false, Ordering::SeqCst);
    registry.health_sweep().await;
    assert_eq!(sessions(&mux).await[0]["health_failures"], 0);
    up.state.unhealthy.store(true, Ordering::SeqCst);
    let first = registry.health_sweep().await;
    assert_eq!((first.checked, first.failed, first.evicted), (1, 1, 0));
    registry.health_sweep().await;
    assert_eq!(sessions(&mux).await[0]["health_failures"], 2);
    let third = registry.health_sweep().await;
    assert_eq!(third.evicted, 1);
    assert!(sessions(&mux).await.is_empty());
}

#[tokio::test]
async fn zero_max_failures_evicts_on_first_failure() {
    let mux = TestServer::with(|a| a.max_health_failures = 0).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    up.state.unhealthy.store(true, Ordering::SeqCst);
    assert_eq!(mux.hub.registry.health_sweep().await.evicted, 1);
}

#[tokio::test]
async fn same_id_registers_again_after_eviction() {
    let mux = TestServer::with(|a| a.max_health_failures = 1).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("phoenix"), json!({})).await;
    up.state.unhealthy.store(true, Ordering::SeqCst);
    mux.hub.registry.health_sweep().await;
    assert!(sessions(&mux).await.is_empty());
    up.state.unhealthy.store(false, Ordering::SeqCst);
    assert_eq!(
        register(&mux, &up.url, Some("phoenix"), json!({}))
            .await
            .status(),
        200
    );
    let list = sessions(&mux).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["health_failures"], 0);
}

#[tokio::test]
async fn health_checks_send_no_token() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({"auth_token":"secret"})).await;
    mux.hub.registry.health_sweep().await;
    assert_eq!(
        up.state.health_auth.lock().unwrap().as_slice(),
        [None, None]
    );
}
