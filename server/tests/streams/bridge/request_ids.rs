//! `/ws/{id}` request ids: a client's own `request_id` comes back unchanged on its reply, the
//! reply goes only to its sender, and a request without an id gets a reply without one.

use crate::support::ws::bridge;
use crate::support::{
    client, eventually, register, serial_stream, Session, TempDir, TestServer, Ws,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_restored_and_replies_reach_only_their_sender() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("ids");
    let host = Session::sh("sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("q1"), json!({}))
            .await
            .status(),
        200
    );
    // No pushes, so every frame is a reply.
    let mut a = bridge(&mux, "q1", "subscribe=").await;
    let mut b = bridge(&mux, "q1", "subscribe=").await;

    let pong = a.request(json!({"event": "ping"}), json!("r-1")).await;
    assert_eq!(pong["event"], "pong");
    assert_eq!(pong["request_id"], "r-1");
    let health = a.request(json!({"event": "health:get"}), json!(7)).await;
    assert_eq!(health["event"], "health");
    assert_eq!(health["request_id"], 7);
    a.send(json!({"event": "status:get"})).await;
    let status = a.next(WAIT).await.expect("reply");
    assert_eq!(status["event"], "status", "{status}");
    assert!(status.get("request_id").is_none(), "{status}");

    // Both clients use the same ids at once; each must get exactly its own replies.
    const N: usize = 40;
    let frames = |event: &'static str| -> Vec<Value> {
        (0..N)
            .map(|i| json!({"event": event, "request_id": format!("x-{i}")}))
            .collect()
    };
    tokio::join!(
        send_all(&mut a, frames("ping")),
        send_all(&mut b, frames("status:get"))
    );
    for (ws, reply) in [(&mut a, "pong"), (&mut b, "status")] {
        let mut ids = BTreeSet::new();
        for _ in 0..N {
            let frame = ws.next(WAIT).await.expect("reply");
            assert_eq!(
                frame["event"], reply,
                "a reply went to the wrong client: {frame}"
            );
            ids.insert(frame["request_id"].as_str().expect("own id").to_owned());
        }
        assert_eq!(
            ids,
            (0..N).map(|i| format!("x-{i}")).collect::<BTreeSet<_>>()
        );
    }
    // Nothing else is pending for either.
    a.send(json!({"event": "ping", "request_id": "last-a"}))
        .await;
    assert_eq!(a.next(WAIT).await.unwrap()["request_id"], "last-a");
    b.send(json!({"event": "ping", "request_id": "last-b"}))
        .await;
    assert_eq!(b.next(WAIT).await.unwrap()["request_id"], "last-b");

    // Unknown sessions are refused before the upgrade.
    let missing = client()
        .get(format!("{}/ws/nope", mux.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_session_closes_clients_with_going_away() {
    let _serial = serial_stream().await;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = TempDir::new("ids-remove");
    let host = Session::sh("sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("q2"), json!({}))
            .await
            .status(),
        200
    );
    let mut a = bridge(&mux, "q2", "subscribe=pty").await;
    let pong = a.request(json!({"event": "ping"}), json!(1)).await;
    assert_eq!(pong["event"], "pong");
    assert_eq!(mux.hub.bridges.len(), 1);
    assert!(mux.hub.registry.remove("q2"));
    let close = loop {
        match tokio::time::timeout(WAIT, a.stream.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => break frame.expect("close frame"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001);
    assert_eq!(close.reason.as_str(), "session removed");
    eventually("bridge dropped", || async {
        mux.hub.bridges.is_empty().then_some(())
    })
    .await;
}

async fn send_all(ws: &mut Ws, frames: Vec<Value>) {
    for f in frames {
        ws.send(f).await;
    }
}
