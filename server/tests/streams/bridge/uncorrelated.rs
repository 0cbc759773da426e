//! `/ws/{id}` against an upstream that answers as coop 0.11.25 does a request it cannot parse:
//! an `error` without `request_id`. That error reaches the client whose request it answers
//! (with the client's own id), and that client's later replies are not held behind it.

use crate::support::ws::bridge;
use crate::support::{register, TestServer};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::time::Duration;

/// How soon the next reply must come once the upstream answered.
const REPLY_WITHIN: Duration = Duration::from_secs(1);

/// Answers in order, one frame per request, as coop does: `replay:get` with an empty log,
/// `ping` with `pong`, anything else with an `error` that has no `request_id`.
async fn coop_like(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let id = request.get("request_id").cloned();
        let reply = match request["event"].as_str() {
            Some("replay:get") => json!({"event": "replay", "data": "", "offset": 0,
                "next_offset": 0, "total_written": 0, "request_id": id}),
            Some("ping") => json!({"event": "pong", "request_id": id}),
            _ => json!({"event": "error", "code": "BAD_REQUEST",
                "message": "unknown variant"}),
        };
        if socket.send(Message::text(reply.to_string())).await.is_err() {
            return;
        }
    }
}

/// The upstream on 127.0.0.1:0: `/api/v1/health` (for registration) and `/ws`.
async fn upstream() -> String {
    let app = Router::new()
        .route(
            "/api/v1/health",
            get(|| async { Json(json!({"status": "running"})) }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(coop_like).into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The next frame; the helper fails the test when none comes within a second.
async fn next(ws: &mut crate::support::Ws) -> Value {
    ws.next(REPLY_WITHIN).await.expect("connection open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_without_request_id_answers_its_request_and_holds_nothing() {
    let url = upstream().await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &url, Some("u1"), json!({})).await.status(),
        200
    );
    let mut first = bridge(&mux, "u1", "subscribe=").await;
    let mut second = bridge(&mux, "u1", "subscribe=").await;
    // The bridge is up once a request went through.
    let up = first.request(json!({"event": "ping"}), json!("up")).await;
    assert_eq!(up["event"], "pong");
    for round in 0..3 {
        first
            .send(json!({"event": "warp", "request_id": format!("warp-{round}")}))
            .await;
        second
            .send(json!({"event": "ping", "request_id": format!("other-{round}")}))
            .await;
        first
            .send(json!({"event": "ping", "request_id": format!("next-{round}")}))
            .await;
        let error = next(&mut first).await;
        assert_eq!(
            (&error["event"], &error["code"], &error["request_id"]),
            (
                &json!("error"),
                &json!("BAD_REQUEST"),
                &json!(format!("warp-{round}"))
            ),
            "{error}"
        );
        let pong = next(&mut first).await;
        assert_eq!(
            (&pong["event"], &pong["request_id"]),
            (&json!("pong"), &json!(format!("next-{round}"))),
            "{pong}"
        );
        // The other client gets its own reply, not the error.
        let other = next(&mut second).await;
        assert_eq!(
            (&other["event"], &other["request_id"]),
            (&json!("pong"), &json!(format!("other-{round}"))),
            "{other}"
        );
    }
}
