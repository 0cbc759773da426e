//! Memory a registrant or a `/ws/mux` client can make the hub hold (docs/security.md,
//! "Bounds"): registration metadata is capped per session, and the subscriptions of all
//! `/ws/mux` connections together are bounded in bytes, ids nobody registered costing no task.

use super::registrants::recording_upstream;
use crate::support::procs::rss_bytes;
use crate::support::{expect_envelope, register, HubProcess, TestServer, Ws, WAIT};
use coopmux::hub::feed::{MAX_WATCHED_PER_CONNECTION, MAX_WATCH_BYTES, WATCH_ENTRY_BYTES};
use serde_json::{json, Value};

#[tokio::test]
async fn registration_metadata_is_bounded_in_bytes() {
    let (upstream, _) = recording_upstream().await;
    let mux = TestServer::with(|_| {}).await;
    let limit = coopmux::hub::registry::MAX_METADATA_BYTES;
    // 15 MiB of metadata, three times: the hub grew by 1.5 GiB for it.
    let huge = json!({"metadata": {"blob": "x".repeat(15 << 20)}});
    for id in ["a", "b", "c"] {
        let reply = register(&mux, &upstream, Some(id), huge.clone()).await;
        let message = expect_envelope(reply, 413, "PAYLOAD_TOO_LARGE").await;
        assert!(message.contains(&limit.to_string()), "{message}");
    }
    assert_eq!(mux.hub.registry.len(), 0);
    // Just under the limit is fine; a heartbeat cannot grow it past the limit either.
    let fits = json!({"metadata": {"blob": "x".repeat(limit - 100)}});
    assert_eq!(
        register(&mux, &upstream, Some("a"), fits).await.status(),
        200
    );
    let grown = json!({"metadata": {"blob": "x".repeat(limit + 1)}});
    let reply = register(&mux, &upstream, Some("a"), grown).await;
    expect_envelope(reply, 413, "PAYLOAD_TOO_LARGE").await;
    let list = mux.get_json("/api/v1/sessions").await;
    let kept = list[0]["metadata"]["blob"].as_str().unwrap().len();
    assert_eq!(kept, limit - 100);
}

/// Subscribes `ws` to `ids`, then waits until the hub handled it (requests are handled in
/// order: the answer to a later request means the subscription was); the `error` frames the
/// subscription itself brought.
async fn subscribe(ws: &mut Ws, ids: Vec<String>) -> Vec<Value> {
    ws.send(json!({"event": "subscribe", "sessions": ids}))
        .await;
    ws.send(json!({"event": "input:send", "session": "sync-marker", "text": "x"}))
        .await;
    let mut errors = Vec::new();
    loop {
        let frame = ws.wait_event("error").await;
        if frame["session"] == "sync-marker" {
            return errors;
        }
        errors.push(frame);
    }
}

/// `n` distinct ids of `len` bytes nobody registered, for connection `conn`.
fn ghosts(conn: usize, n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{conn:04}-{i:06}-{}", "g".repeat(len - 12)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mux_subscriptions_of_all_connections_are_bounded_in_bytes() {
    let server = TestServer::with(|_| {}).await;
    let id_len = 120;
    let per_connection = MAX_WATCHED_PER_CONNECTION * (id_len + WATCH_ENTRY_BYTES);
    let fit = MAX_WATCH_BYTES / per_connection;
    let mut sockets = Vec::new();
    for conn in 0..fit {
        let mut ws = Ws::connect(&server.ws_url("/ws/mux")).await;
        ws.wait_event("sessions").await;
        let errors = subscribe(&mut ws, ghosts(conn, MAX_WATCHED_PER_CONNECTION, id_len)).await;
        assert!(errors.is_empty(), "connection {conn}: {errors:?}");
        sockets.push(ws);
    }
    // Ids nobody registered run no event feed.
    assert_eq!(server.hub.event_feeds.running(), 0);
    let mut last = Ws::connect(&server.ws_url("/ws/mux")).await;
    last.wait_event("sessions").await;
    let errors = subscribe(&mut last, ghosts(fit, MAX_WATCHED_PER_CONNECTION, id_len)).await;
    let message = errors
        .first()
        .map(|e| e["message"].to_string())
        .unwrap_or_default();
    assert!(message.contains("not watched"), "{errors:?}");
    assert!(server.hub.event_feeds.watch_bytes() <= MAX_WATCH_BYTES);
    // Closing connections gives the budget back.
    drop(sockets);
    let freed = crate::support::wait_for(WAIT, || async {
        (server.hub.event_feeds.watch_bytes() < per_connection * 2).then_some(())
    })
    .await;
    assert!(
        freed.is_some(),
        "closed connections kept their subscriptions"
    );
}

/// The reported case: six `/ws/mux` clients watching 16,384 ids each added 530 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_clients_watching_every_id_they_can_stay_small() {
    let mux = HubProcess::start(&[], &[]);
    let before = rss_bytes(mux.pid());
    let url = mux.base.replacen("http://", "ws://", 1) + "/ws/mux";
    let mut sockets = Vec::new();
    for conn in 0..6 {
        let mut ws = Ws::connect(&url).await;
        ws.wait_event("sessions").await;
        subscribe(&mut ws, ghosts(conn, MAX_WATCHED_PER_CONNECTION, 36)).await;
        sockets.push(ws);
    }
    let grown = rss_bytes(mux.pid()).saturating_sub(before) >> 20;
    println!("RSS grew by {grown} MiB for 6 x {MAX_WATCHED_PER_CONNECTION} watched ids");
    assert!(grown < 128, "RSS grew by {grown} MiB");
    drop(sockets);
    mux.stop();
}
