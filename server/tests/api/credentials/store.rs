//! The state file survives a crash in the middle of a save: a hub that dies after writing the
//! temp file but before the rename leaves the previous `credentials.json` whole, and the next
//! hub on the same directory loads it and removes the stray temp file.

use super::{assert_no_secret, hub, hub_with_env};
use crate::support::TempDir;
use serde_json::{json, Value};
use std::path::Path;

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[tokio::test]
async fn a_crash_between_temp_write_and_rename_keeps_the_previous_state() {
    let dir = TempDir::new("cred-crash");
    let state = dir.join("state");
    let state_arg = state.to_str().unwrap().to_owned();
    let file = state.join("credentials.json");

    let mux = hub(&["--state-dir", &state_arg]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"keep","provider":"openai","token":"keep-key-sekret"}),
    )
    .await;
    let first_log = mux.stop();
    let before = std::fs::read(&file).unwrap();

    // This hub aborts inside its first save, after the temp file is written and synced.
    let mux = hub_with_env(
        &["--state-dir", &state_arg],
        &[("COOP_MUX_TEST_ABORT_BEFORE_RENAME", "1")],
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/api/v1/credentials/new", mux.base))
        .json(&json!({"name":"lost","provider":"gemini","token":"lost-key-sekret"}))
        .send()
        .await;
    assert!(reply.is_err(), "the hub should die mid-save: {reply:?}");
    let (code, crash_log) = mux.wait_exit();
    assert!(code.is_some(), "the hub did not exit");
    assert_ne!(code, Some(0), "an abort, not a clean exit");
    let strays = temp_files(&state);
    assert_eq!(strays.len(), 1, "the crash left its temp file: {strays:?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "credentials.json changed"
    );

    // The next hub loads the old file and removes the stray temp file.
    let mux = hub(&["--state-dir", &state_arg]);
    let (_, status) = mux.get("/api/v1/credentials/status").await;
    let names: Vec<_> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["keep"], "{status}");
    let keep = mux.account("keep").await;
    assert_eq!(
        (keep["status"].as_str(), keep["has_api_key"].as_bool()),
        (Some("healthy"), Some(true))
    );
    assert!(
        temp_files(&state).is_empty(),
        "the stray temp file is still there"
    );
    let parsed: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        parsed["accounts"]["keep"]["access_token"],
        "keep-key-sekret"
    );
    assert!(parsed["accounts"].get("lost").is_none(), "{parsed}");
    let log = mux.stop();
    assert!(log.contains("interrupted credential save"), "{log}");
    for (what, text) in [
        ("first", &first_log),
        ("crashed", &crash_log),
        ("last", &log),
    ] {
        assert_no_secret(&format!("the {what} hub log"), text);
    }
}
