//! The mux with real `coopmux session` hosts (coop-compatible upstreams): self-registration,
//! input through the proxy, screen through the cache, and eviction of a killed host.

mod mux_support;

use mux_support::*;
use protocol::mux::MuxEvent;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_coopmux");

/// A session host process, killed on drop.
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `coopmux session -- sh` registering with `mux` as `id`; returns it and its URL.
fn spawn_host(mux: &Mux, id: &str) -> (Host, String) {
    let mut child = Command::new(BIN)
        .args(["session", "--", "sh"])
        .env("COOP_MUX_URL", &mux.base)
        .env("COOP_MUX_SESSION_ID", id)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn session host");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let url = rx.recv_timeout(WAIT).expect("the host prints its URL");
    (Host(child), url.trim().to_owned())
}

async fn session_ids(mux: &Mux) -> Vec<String> {
    let list: Vec<Value> = client()
        .get(format!("{}/api/v1/sessions", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn real_session_host_registers_takes_input_and_shows_its_screen() {
    let mux = start_mux(args(|_| {})).await;
    let (_host, url) = spawn_host(&mux, "real-1");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    eventually("self-registration", || async {
        session_ids(&mux)
            .await
            .contains(&"real-1".to_owned())
            .then_some(())
    })
    .await;

    let reply = client()
        .post(format!("{}/api/v1/sessions/real-1/input", mux.base))
        .json(&json!({"text": "echo mux-$((6*7))", "enter": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert!(body["bytes_written"].as_u64().unwrap() > 0, "{body}");

    let screen: Value = eventually("the output on the cached screen", || async {
        let screen: Value = client()
            .get(format!("{}/api/v1/sessions/real-1/screen", mux.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let lines = screen["lines"].as_array()?;
        lines
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.trim() == "mux-42"))
            .then_some(screen)
    })
    .await;
    assert_eq!(screen["cols"], 80);
    assert_eq!(screen["rows"], 24);
    let status: Value = client()
        .get(format!("{}/api/v1/sessions/real-1/status", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["state"].is_string(), "{status}");
    assert!(status["pid"].as_i64().is_some(), "{status}");
}

#[tokio::test]
async fn killed_session_host_is_evicted_with_one_offline_event() {
    let mux = start_mux(args(|a| {
        a.health_check_ms = 150;
        a.max_health_failures = 2;
    }))
    .await;
    let (mut host, _url) = spawn_host(&mux, "doomed");
    eventually("self-registration", || async {
        session_ids(&mux)
            .await
            .contains(&"doomed".to_owned())
            .then_some(())
    })
    .await;
    let mut events = mux.hub.registry.subscribe();
    // SIGKILL: no chance to deregister, like a crashed pod.
    host.0.kill().unwrap();
    let _ = host.0.wait();
    eventually("eviction", || async {
        session_ids(&mux).await.is_empty().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut offline = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let MuxEvent::SessionOffline { session } = event {
            offline.push(session);
        }
    }
    assert_eq!(offline, ["doomed"]);
}
