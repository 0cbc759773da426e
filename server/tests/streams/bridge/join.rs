//! `/ws/{id}`: a client joining or leaving with other flags never touches another client's
//! requests or input. While one client types thousands of keystrokes (some with a
//! `request_id`, most without), a second joins with `screen`, gets its screen, and leaves;
//! the first gets a reply to every keystroke and no error, and the child reads every
//! keystroke once, in order.

use crate::support::ws::bridge;
use crate::support::WAIT;
use crate::support::{file_appears, register, serial_stream, Session, TempDir, TestServer, Ws};
use serde_json::json;

/// Keystrokes typed in each of the three phases (before, during and after the other client).
const PHASE_KEYS: usize = 1000; // keys
const KEYS: usize = 3 * PHASE_KEYS;

fn key(i: usize) -> String {
    char::from(b'a' + (i % 26) as u8).to_string()
}

/// Sends keystrokes `range`, every tenth with a request id, without waiting for replies.
async fn type_keys(ws: &mut Ws, range: std::ops::Range<usize>) {
    for i in range {
        let mut frame = json!({"event": "input:send", "text": key(i), "enter": false});
        if i % 10 == 0 {
            frame["request_id"] = json!(format!("k-{i}"));
        }
        ws.send(frame).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_joining_and_leaving_with_screen_disturbs_no_other_client() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("join");
    let script =
        format!("stty raw -echo; touch ready; head -c {KEYS} > typed.txt; touch done; sleep 60");
    let host = Session::sh(&script, dir.path(), &[]).await;
    file_appears(&dir.join("ready")).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("j1"), json!({}))
            .await
            .status(),
        200
    );
    // No pushes: every frame this client gets is a reply.
    let mut typist = bridge(&mux, "j1", "subscribe=").await;
    let pong = typist.request(json!({"event": "ping"}), json!("up")).await;
    assert_eq!(pong["event"], "pong");

    type_keys(&mut typist, 0..PHASE_KEYS).await;
    // Joins while the first keystrokes are still on their way.
    let mut watcher = bridge(&mux, "j1", "subscribe=pty,screen").await;
    type_keys(&mut typist, PHASE_KEYS..2 * PHASE_KEYS).await;
    let screen = watcher.wait_event("screen").await;
    assert!(screen["lines"].is_array(), "{screen}");
    drop(watcher);
    type_keys(&mut typist, 2 * PHASE_KEYS..KEYS).await;

    let mut ids = Vec::new();
    for n in 0..KEYS {
        let reply = typist.next(WAIT).await.expect("open");
        assert_eq!(reply["event"], "input:sent", "reply {n}: {reply}");
        if let Some(id) = reply.get("request_id") {
            ids.push(id.as_str().expect("own id").to_owned());
        }
    }
    let want: Vec<String> = (0..KEYS).step_by(10).map(|i| format!("k-{i}")).collect();
    assert_eq!(ids, want, "every id'd keystroke answered, in order");
    file_appears(&dir.join("done")).await;
    let typed = std::fs::read_to_string(dir.join("typed.txt")).unwrap();
    let keys: String = (0..KEYS).map(key).collect();
    assert!(
        typed == keys,
        "the child read {} of {KEYS} keys in order",
        typed.len()
    );
}
