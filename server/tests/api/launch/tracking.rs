//! Launch tracking inside one process: states, output capture, events on the mux feed,
//! the registration timeout (which stops nothing), the 400 without a launch command, and the
//! OpenAPI document.

use crate::support::{wait_for, TestServer, WAIT};
use protocol::mux::MuxEvent;
use serde_json::Value;
use std::time::Duration;

/// A hub whose launches run `launch` and must register within `timeout_ms`.
async fn start(launch: Option<&str>, timeout_ms: u64) -> TestServer {
    TestServer::with(|a| {
        a.launch = launch.map(str::to_owned);
        a.launch_timeout_ms = timeout_ms;
    })
    .await
}

async fn get(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn launch(base: &str) -> (reqwest::StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/sessions/launch"))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// The launch's record once it is in `state`, or as it is when [`WAIT`] ran out.
async fn wait_state(base: &str, launch_id: &str, state: &str) -> Value {
    let url = format!("{base}/api/v1/launches/{launch_id}");
    let reached = wait_for(WAIT, || async {
        let detail = get(url.clone()).await;
        (detail["state"] == state).then_some(detail)
    })
    .await;
    match reached {
        Some(detail) => detail,
        None => get(url).await,
    }
}

/// The failure is recorded with the command's last words: output still in the pipes when the
/// command exits is read before the launch is marked failed (the dashboard shows the tail it
/// gets with the failure).
#[tokio::test]
async fn a_failed_launch_carries_its_last_output_line() {
    // The last line comes from a process the command started, after the command itself
    // exited: its exit is seen before its output has been read.
    let mux = start(Some("{ sleep 0.3; echo last-words; } & exit 3"), 60_000).await;
    let mut events = mux.hub.registry.subscribe();
    let (status, reply) = launch(&mux.base).await;
    assert_eq!(status, 200, "{reply}");
    let launch_id = reply["launch_id"].as_str().unwrap().to_owned();
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(MuxEvent::LaunchFailed { launch_id: l, .. }) = events.recv().await {
                if l == launch_id {
                    break;
                }
            }
        }
    })
    .await;
    assert!(failed.is_ok(), "no launch:failed");
    // Read at once after the event: the record must already hold the last line.
    let detail = get(format!("{}/api/v1/launches/{launch_id}", mux.base)).await;
    let last = detail["output"].as_array().and_then(|o| o.last()).cloned();
    assert_eq!(
        last.as_ref().map(|l| l["text"].clone()),
        Some(Value::from("last-words")),
        "{detail}"
    );
}

#[tokio::test]
async fn failing_launch_is_failed_with_its_output_and_events() {
    let mux = start(Some("echo out-marker; echo err-marker >&2; exit 1"), 60_000).await;
    let mut events = mux.hub.registry.subscribe();
    let (status, reply) = launch(&mux.base).await;
    assert_eq!(status, 200, "{reply}");
    let launch_id = reply["launch_id"].as_str().unwrap();
    let detail = wait_state(&mux.base, launch_id, "failed").await;
    assert_eq!(detail["state"], "failed", "{detail}");
    assert_eq!(detail["exit_code"], 1);
    assert!(
        detail["reason"].as_str().unwrap().contains("code 1"),
        "{detail}"
    );
    let output: Vec<(String, String)> = detail["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        output.contains(&("stdout".to_owned(), "out-marker".to_owned())),
        "{output:?}"
    );
    assert!(
        output.contains(&("stderr".to_owned(), "err-marker".to_owned())),
        "{output:?}"
    );

    let mut seen = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await
    {
        seen.push(event);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, MuxEvent::LaunchStarted { launch_id: l, .. } if l == launch_id)),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e,
            MuxEvent::LaunchFailed { launch_id: l, exit_code: Some(1), .. } if l == launch_id)),
        "{seen:?}"
    );
    let wire = serde_json::to_value(&seen[seen.len() - 1]).unwrap();
    assert_eq!(wire["event"], "launch:failed", "{wire}");
    assert_eq!(wire["launch_id"], launch_id);
}

#[tokio::test]
async fn unregistered_launches_are_kept_running_and_waiting_until_they_fail() {
    let mux = start(Some("sleep 30"), 300).await;
    let mut events = mux.hub.registry.subscribe();
    let (status, reply) = launch(&mux.base).await;
    assert_eq!(status, 200);
    let launch_id = reply["launch_id"].as_str().unwrap();
    let detail = wait_state(&mux.base, launch_id, "not_registered_yet").await;
    assert_eq!(detail["state"], "not_registered_yet", "{detail}");
    assert!(
        detail["reason"]
            .as_str()
            .unwrap_or("")
            .contains("has not registered within 300 ms; still waiting"),
        "{detail}"
    );
    // Announced on the feed, so the dashboard's recent launches show it.
    let waiting = loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Ok(MuxEvent::LaunchWaiting {
                launch_id: l,
                state,
                ..
            })) if l == launch_id => break state,
            Ok(Ok(_)) => {}
            other => panic!("no launch:waiting: {other:?}"),
        }
    };
    assert_eq!(waiting, protocol::launch::LaunchState::NotRegisteredYet);
    // Nothing was stopped: the child runs until something else ends it, and an exit other
    // than 0 before registering still fails the launch.
    let pid = detail["pid"].as_u64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let group = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
    let failed = wait_state(&mux.base, launch_id, "failed").await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("killed by signal 9 before its session registered"),
        "{failed}"
    );

    // A launch script that exits 0 (it handed off, e.g. created a pod) waits for the session.
    let mux = start(Some("exit 0"), 300).await;
    let (_, reply) = launch(&mux.base).await;
    let launch_id = reply["launch_id"].as_str().unwrap();
    let handed = wait_state(&mux.base, launch_id, "handed_off").await;
    assert_eq!(handed["state"], "handed_off", "{handed}");
    assert_eq!(handed["exit_code"], 0, "{handed}");
}

#[tokio::test]
async fn without_a_command_launch_is_400_and_config_says_unavailable() {
    let mux = start(None, 60_000).await;
    let (status, body) = launch(&mux.base).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    assert_eq!(body["error"]["message"], "launch command not configured");
    let config = get(format!("{}/api/v1/config/launch", mux.base)).await;
    assert_eq!(config["available"], false);
    assert!(!config["cwd"].as_str().unwrap().is_empty());
    let missing = reqwest::get(format!("{}/api/v1/launches/nope", mux.base))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["error"]["code"], "LAUNCH_NOT_FOUND");
    assert_eq!(
        get(format!("{}/api/v1/launches", mux.base)).await,
        serde_json::json!([])
    );

    let doc = get(format!("{}/api/v1/openapi.json", mux.base)).await;
    for path in [
        "/api/v1/sessions/launch",
        "/api/v1/config/launch",
        "/api/v1/launches",
        "/api/v1/launches/{id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    // The reserved-id guard on the same path still answers DELETE.
    let delete = reqwest::Client::new()
        .delete(format!("{}/api/v1/sessions/launch", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 400);
}

#[tokio::test]
async fn configured_launch_is_available() {
    let mux = start(Some("true"), 60_000).await;
    let config = get(format!("{}/api/v1/config/launch", mux.base)).await;
    assert_eq!(config["available"], true);
}
