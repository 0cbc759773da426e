//! Bounds a registrant or a client cannot push past: upstream redirects and oversized replies,
//! oversized server-function bodies, `--max-sessions`, `/ws/mux` subscriptions, slow headers
//! and the connection cap.

use crate::support::{client, expect_envelope, register, wait_for, TestServer, Ws, WAIT};
use axum::{response::IntoResponse, routing::get, Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `app` on 127.0.0.1:0; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "running"}))
}

#[tokio::test]
async fn upstream_redirects_are_not_followed_and_big_replies_are_refused() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let internal = serve(Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Json(json!({"secret": "internal"})) }
    }))
    .await;
    let target = format!("{internal}/admin");
    let registrant = serve(
        Router::new()
            .route("/api/v1/health", get(|| async { health() }))
            .route(
                "/api/v1/agent",
                get(move || {
                    let target = target.clone();
                    async move { axum::response::Redirect::temporary(&target) }
                }),
            )
            .route(
                "/api/v1/screen",
                get(|| async { "x".repeat(9 << 20).into_response() }),
            ),
    )
    .await;
    let server = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&server, &registrant, Some("r"), json!({}))
            .await
            .status(),
        200
    );
    let http = client();
    let agent = http
        .get(server.url("/api/v1/sessions/r/agent"))
        .send()
        .await
        .unwrap();
    assert_ne!(agent.status(), 200, "the redirect was followed");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the hub reached the internal service"
    );
    let screen = http
        .get(server.url("/api/v1/sessions/r/screen"))
        .send()
        .await
        .unwrap();
    let message = expect_envelope(screen, 502, "UPSTREAM_ERROR").await;
    assert!(message.contains("larger than"), "{message}");
}

#[tokio::test]
async fn server_function_bodies_are_limited() {
    let server = TestServer::with(|_| {}).await;
    let huge = format!(r#"{{"env":{{"X":"{}"}}}}"#, "x".repeat(17 << 20));
    let reply = client()
        .post(server.url("/api/fn/launch"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn the_registry_holds_at_most_max_sessions() {
    let upstream = serve(Router::new().fallback(|| async { health() })).await;
    let server = TestServer::with(|a| a.max_sessions = 2).await;
    for (i, path) in ["/a", "/b"].iter().enumerate() {
        let url = format!("{upstream}{path}");
        let id = format!("s{i}");
        assert_eq!(
            register(&server, &url, Some(&id), json!({})).await.status(),
            200
        );
    }
    let full = register(&server, &format!("{upstream}/c"), Some("s2"), json!({})).await;
    let message = expect_envelope(full, 503, "UNAVAILABLE").await;
    assert!(message.contains("--max-sessions"), "{message}");
    // A heartbeat of a known session is not a new one.
    let heartbeat = register(&server, &format!("{upstream}/a"), Some("s0"), json!({})).await;
    assert_eq!(heartbeat.status(), 200);
}

#[tokio::test]
async fn one_mux_connection_watches_a_bounded_number_of_sessions() {
    let upstream = serve(Router::new().fallback(|| async { health() })).await;
    let server = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&server, &upstream, Some("real"), json!({}))
            .await
            .status(),
        200
    );
    let mut ws = Ws::connect(&server.ws_url("/ws/mux")).await;
    ws.wait_event("sessions").await;
    let cap = coopmux::hub::feed::MAX_WATCHED_PER_CONNECTION;
    let ghosts: Vec<String> = (0..cap).map(|i| format!("ghost-{i}")).collect();
    ws.send(json!({"event": "subscribe", "sessions": ghosts}))
        .await;
    ws.send(json!({"event": "subscribe", "sessions": ["real"]}))
        .await;
    // Requests are handled in order: this one's answer means both subscriptions were.
    ws.send(json!({"event": "input:send", "session": "nobody", "text": "x"}))
        .await;
    ws.wait_event("error").await;
    assert_eq!(
        server.hub.registry.watched_sessions(),
        0,
        "a subscription past the cap"
    );
    ws.send(json!({"event": "unsubscribe", "sessions": ["ghost-0"]}))
        .await;
    ws.send(json!({"event": "subscribe", "sessions": ["real"]}))
        .await;
    let watched = wait_for(WAIT, || async {
        (server.hub.registry.watched_sessions() == 1).then_some(())
    })
    .await;
    assert!(watched.is_some(), "a free slot is usable again");
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let server = TestServer::with(|a| a.header_read_timeout_ms = 300).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Slowloris: a request line and never the end of the headers.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client was never cut off");
}

#[tokio::test]
async fn connections_are_capped() {
    let server = TestServer::with(|a| a.max_connections = 2).await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Two idle connections hold both slots: a third is not served until one closes.
    let hold_a = TcpStream::connect(&addr).await.unwrap();
    let _hold_b = TcpStream::connect(&addr).await.unwrap();
    let mut third = tokio::spawn({
        let url = server.url("/api/v1/health");
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    let early = tokio::time::timeout(Duration::from_millis(200), &mut third).await;
    assert!(early.is_err(), "a third connection was served past the cap");
    drop(hold_a);
    let status = tokio::time::timeout(WAIT, third)
        .await
        .expect("answered")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}
