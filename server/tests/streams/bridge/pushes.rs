//! `/ws/{id}` pushes by subscription: `screen` only to `screen` clients, `transition` and
//! `exit` only to `state` clients, PTY bytes only to `pty` clients.

use crate::support::ws::bridge;
use crate::support::{register, serial_stream, Session, TempDir, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_follow_each_clients_subscription() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("pushes");
    // The child exits only when told: the screen showing its output must reach the clients
    // first, however long that takes on a loaded machine.
    let script = "stty -echo; read go; echo hello-screen; read done; exit 3";
    let host = Session::sh(script, dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("p1"), json!({}))
            .await
            .status(),
        200
    );
    let mut all = bridge(&mux, "p1", "").await; // default: pty,screen,state
    let mut pty = bridge(&mux, "p1", "subscribe=pty").await;
    let mut state = bridge(&mux, "p1", "subscribe=state").await;
    let first = state.wait_event("transition").await;
    assert_eq!(
        first["prev"], first["next"],
        "synthetic first transition: {first}"
    );
    // Sent without waiting for the reply: the output may arrive before `input:sent`, and the
    // final loop below must see both.
    pty.send(json!({"event": "input:send", "text": "go", "enter": true, "request_id": "g"}))
        .await;

    // The default client gets all three kinds: bytes, the screen showing them, the exit.
    let (mut exit, mut screen, mut bytes_all): (Option<Value>, Option<Value>, bool) =
        (None, None, false);
    let mut told_to_exit = false;
    while exit.is_none() || screen.is_none() || !bytes_all {
        if screen.is_some() && bytes_all && !told_to_exit {
            pty.send(json!({"event": "input:send", "text": "done", "enter": true}))
                .await;
            told_to_exit = true;
        }
        // Bounded here, not by `next`, to say which of the three never came.
        let Ok(f) = tokio::time::timeout(WAIT, all.next(2 * WAIT)).await else {
            panic!(
                "nothing more within {WAIT:?}: exit {}, screen with the output {}, bytes {bytes_all}",
                exit.is_some(),
                screen.is_some()
            );
        };
        let f = f.expect("open");
        match f["event"].as_str() {
            Some("exit") => exit = Some(f),
            Some("screen") if f.to_string().contains("hello-screen") => screen = Some(f),
            Some("pty") => bytes_all = true,
            _ => {}
        }
    }
    assert_eq!(exit.unwrap()["code"], 3);
    assert!(screen.unwrap()["lines"].is_array());
    assert_eq!(state.wait_event("exit").await["code"], 3);

    // The pty-only client saw bytes and its reply, and nothing of screen or state.
    let (mut bytes, mut replied) = (false, false);
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(500), pty.next(WAIT)).await {
        assert!(
            !matches!(f["event"].as_str(), Some("screen" | "transition" | "exit")),
            "pty-only client got {f}"
        );
        bytes |= f["event"] == "pty";
        if f["request_id"] == json!("g") {
            assert_eq!(f["event"], "input:sent", "reply to its own request: {f}");
            replied = true;
        }
    }
    assert!(bytes, "pty client got output");
    assert!(replied, "pty client got the reply to its input");
}
