//! Credential endpoints on a real `coopmux`: validation answers 400 in the envelope, status is
//! ordered and answers at once (also during a slow refresh), keys and runtime accounts survive
//! a restart with private file modes, sessions receive all their profiles, and no secret
//! reaches a response or the hub's log.

use super::{hub, start_host, try_hub};
use crate::support::{wait_for, MockUpstream, OAuthServer, TempDir, LONG_WAIT};
use serde_json::json;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

#[tokio::test]
async fn validation_errors_are_400_envelopes_and_status_is_ordered() {
    let mux = hub(&[]);
    for (body, needle) in [
        (json!({"name":"","provider":"openai"}), "must not be empty"),
        (json!({"name":"x","provider":" "}), "invalid provider"),
        (
            json!({"name":"x","provider":"a\u{7}b"}),
            "control characters",
        ),
        (
            json!({"name":"x","provider":"p".repeat(65)}),
            "at most 64 bytes",
        ),
        (
            json!({"name":"x","provider":"openai","env_key":"1BAD"}),
            "env_key",
        ),
    ] {
        let (status, reply) = mux.post("/api/v1/credentials/new", body).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["error"]["code"], "BAD_REQUEST");
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(needle),
            "{reply}"
        );
    }
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"zeta","provider":"openai","token":"z-sekret"}),
    )
    .await;
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"alpha","provider":"gemini"}),
    )
    .await;
    let (status, reply) = mux
        .post(
            "/api/v1/credentials/new",
            json!({"name":"zeta","provider":"openai"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let (status, reply) = mux
        .post(
            "/api/v1/credentials/set",
            json!({"account":"nope","token":"t-sekret"}),
        )
        .await;
    assert_eq!(
        (status, reply["error"]["message"].as_str()),
        (400, Some("unknown account: nope"))
    );
    let (status, reply) = mux
        .post("/api/v1/credentials/distribute", json!({"account":"alpha"}))
        .await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = mux
        .post(
            "/api/v1/credentials/exchange",
            json!({"state":"s","code":"c"}),
        )
        .await;
    assert_eq!(
        (status, reply["error"]["message"].as_str()),
        (400, Some("unknown or expired auth state"))
    );
    let malformed = reqwest::Client::new()
        .post(format!("{}/api/v1/credentials/set", mux.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    let body: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    mux.post_ok(
        "/api/v1/credentials/seed",
        json!({"account":"alpha","token":"a-sekret"}),
    )
    .await;
    let (_, status) = mux.get("/api/v1/credentials/status").await;
    let names: Vec<_> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status"] == "healthy"));
    assert!(!status.to_string().contains("sekret"));
    let log = mux.stop();
    assert!(!log.contains("sekret"), "a secret reached the log");
}

#[tokio::test]
async fn status_answers_at_once_while_a_slow_refresh_is_in_flight() {
    let oauth = OAuthServer::start(3600).await;
    oauth.grant_refresh("slow-refresh-sekret", "slow");
    oauth
        .state
        .delay_ms
        .store(3000, std::sync::atomic::Ordering::SeqCst);
    let mux = hub(&[]);
    let mut account = oauth.account("slow", false);
    account["refresh_token"] = json!("slow-refresh-sekret");
    let started = Instant::now();
    mux.post_ok("/api/v1/credentials/new", account).await;
    let entry = mux.account("slow").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "status took {:?}",
        started.elapsed()
    );
    assert_eq!(entry["status"], "refreshing", "{entry}");
    let healthy = wait_for(LONG_WAIT, || async {
        (mux.account("slow").await["status"] == "healthy").then_some(())
    })
    .await;
    assert!(healthy.is_some(), "refresh never finished");
    let entry = mux.account("slow").await;
    assert_eq!(entry["has_refresh_token"], true);
    assert!(entry["expires_in_secs"].as_u64().unwrap() > 3000, "{entry}");
    let log = mux.stop();
    assert!(!log.contains("sekret"), "a secret reached the log");
}

#[tokio::test]
async fn keys_and_runtime_accounts_survive_a_restart_and_reach_sessions() {
    let dir = TempDir::new("cred-persist");
    let state = dir.join("state");
    let state_arg = state.to_str().unwrap().to_owned();
    let mux = hub(&["--state-dir", &state_arg]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"forever","provider":"gemini","token":"g-sekret"}),
    )
    .await;
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"oauth","provider":"other","env_key":"O_KEY","token":"o-sekret","refresh_token":"o-refresh-sekret","expires_in":3600}),
    )
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state.join("credentials.json")), 0o600);
    assert_eq!(mode(&state), 0o700);
    let first_log = mux.stop();
    let mux = hub(&["--state-dir", &state_arg]);
    let forever = mux.account("forever").await;
    assert_eq!(
        forever["status"], "healthy",
        "a non-expiring key must not come back expired"
    );
    let oauth = mux.account("oauth").await;
    assert_eq!(oauth["status"], "healthy");
    assert_eq!(oauth["has_refresh_token"], true);
    // Both keys are still there: a session receives both profiles.
    let host = start_host(Some(&mux), "persist-1", &["sh", "-c", "sleep 60"]).await;
    let names = wait_for(LONG_WAIT, || async {
        let names = host.profile_names().await;
        (names.len() == 2).then_some(names)
    })
    .await
    .expect("profiles pushed");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["forever", "oauth"]);
    let profiles = host.profiles().await;
    assert_eq!(profiles["active_profile"].as_str(), Some(names[0].as_str()));
    assert!(!profiles.to_string().contains("sekret"));
    let (_, pool) = mux.get("/api/v1/credentials/pool").await;
    assert_eq!(pool["total_sessions"], 1, "{pool}");
    host.stop().await;
    let log = mux.stop();
    assert!(
        !first_log.contains("sekret") && !log.contains("sekret"),
        "a secret reached the log"
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_moved_aside_and_reported() {
    let dir = TempDir::new("cred-corrupt");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("credentials.json"), b"{ not json").unwrap();
    let mux = hub(&["--state-dir", state.to_str().unwrap()]);
    let (status, accounts) = mux.get("/api/v1/credentials/status").await;
    assert_eq!((status, accounts), (200, json!([])));
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"a","provider":"openai","token":"k-sekret"}),
    )
    .await;
    let aside: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("credentials.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{ not json");
    let log = mux.stop();
    assert!(
        log.contains("corrupt") && log.contains("credentials.json.corrupt-"),
        "{log}"
    );
}

#[tokio::test]
async fn an_unusable_config_stops_the_mux_naming_the_file() {
    let dir = TempDir::new("cred-config");
    let path = dir.join("accounts.json");
    std::fs::write(&path, r#"{"accounts":[{"name":"a","provider":""}]}"#).unwrap();
    let log = try_hub(&["--credential-config", path.to_str().unwrap()])
        .err()
        .expect("the mux must refuse the config");
    assert!(
        log.contains(path.to_str().unwrap()) && log.contains("invalid provider"),
        "{log}"
    );
}

#[tokio::test]
async fn any_provider_name_is_accepted_and_behaves_like_other() {
    let dir = TempDir::new("cred-providers");
    let path = dir.join("accounts.json");
    std::fs::write(&path, r#"{"accounts":[{"name":"m","provider":"mistral"}]}"#).unwrap();
    let mux = hub(&["--credential-config", path.to_str().unwrap()]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"c","provider":"Custom","token":"c-key-sekret"}),
    )
    .await;
    assert_eq!(mux.account("m").await["provider"], "mistral");
    assert_eq!(mux.account("c").await["provider"], "custom");
    assert_eq!(mux.account("c").await["status"], "healthy");
    // An unknown provider hands its key out as `API_KEY`, like `other`.
    let upstream = MockUpstream::start().await;
    mux.post_ok("/api/v1/sessions", json!({"url": upstream.url, "id": "s"}))
        .await;
    let pushed = wait_for(LONG_WAIT, || async {
        let posts = upstream.state.posts.lock().unwrap();
        posts
            .iter()
            .find(|(path, _)| path == "/api/v1/session/profiles")
            .map(|(_, body)| body.clone())
    })
    .await
    .expect("the profiles were pushed");
    assert_eq!(
        pushed["profiles"],
        json!([{"name":"c","credentials":{"API_KEY":"c-key-sekret"}}])
    );
    mux.stop();
}
