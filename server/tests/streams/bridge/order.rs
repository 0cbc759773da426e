//! `/ws/{id}`: a client's replies come in the order of its requests, whoever answers them: a
//! `replay:get` the mux answers from its log, or a frame the mux refuses, waits behind an
//! earlier request still upstream (a first-in-first-out matcher, like coop's dashboard, pairs
//! them right).

use crate::support::ws::bridge;
use crate::support::{register, serial_stream, Session, TempDir, TestServer, WAIT};
use serde_json::json;

/// Rounds of (upstream request, unparsable frame, replay from the mux's log).
const ROUNDS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_follow_request_order_whoever_answers() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("order");
    let host = Session::sh("echo hello; sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("o1"), json!({}))
            .await
            .status(),
        200
    );
    // No pushes: every frame is a reply. No request ids: only the order pairs them.
    let mut ws = bridge(&mux, "o1", "subscribe=").await;
    let pong = ws.request(json!({"event": "ping"}), json!("up")).await;
    assert_eq!(pong["event"], "pong");
    for _ in 0..ROUNDS {
        ws.send(json!({"event": "status:get"})).await;
        ws.send_text("not json").await;
        ws.send(json!({"event": "replay:get", "offset": 0})).await;
    }
    let mut events = Vec::new();
    for _ in 0..3 * ROUNDS {
        let frame = ws.next(WAIT).await.expect("open");
        assert!(frame.get("request_id").is_none(), "{frame}");
        events.push(frame["event"].as_str().unwrap_or_default().to_owned());
    }
    let want: Vec<&str> = ["status", "error", "replay"].repeat(ROUNDS);
    assert_eq!(events, want);
}
