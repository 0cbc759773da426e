//! Launch environment: a session launched by a hub with credential accounts starts with the
//! key of the account it is assigned, and with two accounts of the same `env_key` the choice
//! is deterministic (least loaded, ties by name) and matches the session's assignment.

use super::{assert_no_secret, hub};
use crate::support::{wait_for, HubProcess, TempDir, LONG_WAIT};
use serde_json::{json, Value};
use std::path::Path;

/// The launched session writes the key it sees, then idles.
const LAUNCH: &str = r#"exec coopmux session --port 0 -- sh -c 'echo "KEY=$OPENAI_API_KEY" > "$OUT_FILE"; exec sleep 60'"#;

/// Launches a session writing into `out`; returns (session id, key line, session URL).
async fn launch(mux: &HubProcess, out: &Path) -> (String, String, String) {
    let reply = mux
        .post_ok(
            "/api/v1/sessions/launch",
            json!({"env": {"OUT_FILE": out.display().to_string()}}),
        )
        .await;
    let id = reply["session_id"].as_str().unwrap().to_owned();
    let url = wait_for(LONG_WAIT, || async {
        let (_, list) = mux.get("/api/v1/sessions").await;
        let entry = list.as_array()?.iter().find(|s| s["id"] == id.as_str())?;
        entry["url"].as_str().map(str::to_owned)
    })
    .await
    .unwrap_or_else(|| panic!("launched session {id} did not register"));
    let line = wait_for(LONG_WAIT, || async {
        let text = std::fs::read_to_string(out).ok()?;
        text.ends_with('\n').then(|| text.trim().to_owned())
    })
    .await
    .expect("the child wrote its environment");
    (id, line, url)
}

async fn active_profile(url: &str) -> Option<String> {
    let profiles: Value = reqwest::get(format!("{url}/api/v1/session/profiles"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    profiles["active_profile"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn launched_children_get_their_assigned_accounts_key() {
    let dir = TempDir::new("cred-launch-env");
    let mux = hub(&["--launch", LAUNCH]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"b","provider":"openai","token":"b-openai-sekret"}),
    )
    .await;
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"a","provider":"openai","token":"a-openai-sekret"}),
    )
    .await;
    // Both accounts are idle: the tie goes to "a" (by name, not by creation order).
    let (first, line, first_url) = launch(&mux, &dir.join("first.txt")).await;
    assert_eq!(line, "KEY=a-openai-sekret");
    // Now "a" carries one session, so the next launch gets "b".
    let (second, line, second_url) = launch(&mux, &dir.join("second.txt")).await;
    assert_eq!(line, "KEY=b-openai-sekret");
    // The key each child got is the account its session is assigned to: the hub pushes that
    // profile first (active), and the pool counts one session each.
    for (url, account) in [(&first_url, "a"), (&second_url, "b")] {
        let active = wait_for(LONG_WAIT, || async {
            active_profile(url)
                .await
                .filter(|a| a == account)
                .map(|_| ())
        })
        .await;
        assert!(active.is_some(), "session at {url} is not on {account}");
    }
    let (_, pool) = mux.get("/api/v1/credentials/pool").await;
    assert_eq!(pool["total_sessions"], 2, "{pool}");
    for entry in pool["accounts"].as_array().unwrap() {
        assert_eq!(entry["session_count"], 1, "{pool}");
    }
    assert_no_secret("the pool", &pool.to_string());
    // Launched sessions outlive the hub by design: stop them (and their `sleep`).
    for url in [&first_url, &second_url] {
        let _ = reqwest::Client::new()
            .post(format!("{url}/api/v1/shutdown"))
            .send()
            .await;
    }
    assert!(!first.is_empty() && !second.is_empty());
    assert_no_secret("the hub log", &mux.stop());
}
