//! Connections that hold a slot without making progress (docs/security.md, "Bounds"): a
//! socket that sends nothing, an HTTP/2 preface and nothing more, headers followed by a
//! trickled body, and a kept-alive connection left idle are all cut off, on the hub and on
//! `coopmux session`, so they cannot hold every slot of `--max-connections`.

use crate::support::{Session, TestServer, WAIT};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The deadlines the listeners are started with here (ms): first request, body, idle.
const FIRST_MS: u64 = 300;
const BODY_MS: u64 = 600;
const IDLE_MS: u64 = 300;
/// A trickled body sends one byte this often: the trickle (well inside the body deadline
/// between bytes) is the behaviour under test, not a wait.
const TRICKLE_EVERY: Duration = Duration::from_millis(100);

/// How a connection stalls.
#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Connects and sends nothing.
    Silent,
    /// Sends the HTTP/2 cleartext preface, then nothing.
    H2Preface,
    /// Sends a request's headers, then its body one byte every 100 ms.
    TrickledBody,
    /// Makes one request, reads the answer, then idles on the kept-alive connection.
    IdleKeepAlive,
}

const STALLS: [Stall; 4] = [
    Stall::Silent,
    Stall::H2Preface,
    Stall::TrickledBody,
    Stall::IdleKeepAlive,
];

/// Opens a connection to `addr` that stalls as `stall` says (a trickled body goes to `post`,
/// a route that reads its body); the task ends when the server closed it (true) or never did
/// within [`WAIT`] (false).
async fn stalled(addr: &str, stall: Stall, post: &str) -> tokio::task::JoinHandle<bool> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    match stall {
        Stall::Silent => {}
        Stall::H2Preface => socket
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap(),
        Stall::TrickledBody => {
            let head = format!(
                "POST {post} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                 Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
            );
            socket.write_all(head.as_bytes()).await.unwrap();
        }
        Stall::IdleKeepAlive => {
            socket
                .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .unwrap();
            let mut head = [0u8; 12];
            socket.read_exact(&mut head).await.unwrap();
            assert_eq!(&head[9..12], b"200", "{stall:?}");
        }
    }
    tokio::spawn(async move {
        let closed = async {
            let mut buf = [0u8; 4096];
            loop {
                tokio::select! {
                    read = socket.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    },
                    () = tokio::time::sleep(TRICKLE_EVERY),
                        if matches!(stall, Stall::TrickledBody) => {
                        if socket.write_all(b" ").await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        tokio::time::timeout(WAIT, closed).await.is_ok()
    })
}

#[tokio::test]
async fn stalled_connections_cannot_hold_the_hubs_slots() {
    let server = TestServer::with(|a| {
        a.max_connections = 20;
        a.header_read_timeout_ms = FIRST_MS;
        a.body_read_timeout_ms = BODY_MS;
        a.idle_timeout_ms = IDLE_MS;
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..20 {
        let stall = STALLS[i % STALLS.len()];
        held.push((stall, stalled(&addr, stall, "/api/v1/sessions").await));
    }
    // Every slot is held: a normal request is served once the stalled ones are cut off.
    let health = tokio::time::timeout(WAIT, reqwest::get(server.url("/api/v1/health")))
        .await
        .expect("a normal request was served in time")
        .unwrap();
    assert_eq!(health.status(), 200);
    for (stall, task) in held {
        assert!(
            task.await.unwrap(),
            "a {stall:?} connection was never closed"
        );
    }
}

#[tokio::test]
async fn stalled_connections_are_cut_off_by_the_session_host() {
    let (first, body, idle) = (
        FIRST_MS.to_string(),
        BODY_MS.to_string(),
        IDLE_MS.to_string(),
    );
    let host = Session::start(
        &[
            "--header-read-timeout-ms",
            &first,
            "--body-read-timeout-ms",
            &body,
            "--idle-timeout-ms",
            &idle,
        ],
        &["sleep", "60"],
    )
    .await;
    let addr = host.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for stall in STALLS {
        held.push((stall, stalled(&addr, stall, "/api/v1/input").await));
    }
    for (stall, task) in held {
        assert!(
            task.await.unwrap(),
            "a {stall:?} connection was never closed"
        );
    }
    // A connection in use is not cut off: a request still answers.
    assert_eq!(host.get("/health").await.0, 200);
}

/// The deadlines end with the upgrade: a quiet `/ws/mux` client stays connected past them.
#[tokio::test]
async fn websockets_outlive_the_connection_deadlines() {
    let server = TestServer::with(|a| {
        a.header_read_timeout_ms = FIRST_MS;
        a.body_read_timeout_ms = BODY_MS;
        a.idle_timeout_ms = IDLE_MS;
    })
    .await;
    let mut ws = crate::support::Ws::connect(&server.ws_url("/ws/mux")).await;
    ws.wait_event("sessions").await;
    // A silent connection opened after the WebSocket is cut off after its deadline: by then
    // the WebSocket's own would have passed too.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let silent = stalled(&addr, Stall::Silent, "/").await;
    assert!(
        silent.await.unwrap(),
        "the silent connection was never closed"
    );
    ws.send(serde_json::json!({"event": "input:send", "session": "nobody", "text": "x"}))
        .await;
    let reply = ws.wait_event("error").await;
    assert_eq!(reply["session"], "nobody", "{reply}");
}
