//! OAuth against a local token server: refresh before expiry with rotation and retries on
//! 500s, `invalid_grant` → expired + `credential:reauth:required`, then PKCE S256 reauth
//! finished through `/exchange`.

use super::hub;
use crate::support::{wait_for, Events, OAuthServer, LONG_WAIT};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn refresh_rotates_before_expiry_and_retries_server_errors() {
    let oauth = OAuthServer::start(2).await;
    oauth.grant_refresh("first-refresh-sekret", "acct");
    oauth.state.fail_next.store(2, Ordering::SeqCst);
    let mux = hub(&["--refresh-margin-secs", "1", "--refresh-backoff-ms", "50"]);
    let events = Events::connect(&mux.base).await;
    let mut account = oauth.account("acct", false);
    account["token"] = json!("first-access-sekret");
    account["refresh_token"] = json!("first-refresh-sekret");
    account["expires_in"] = json!(2);
    mux.post_ok("/api/v1/credentials/new", account).await;
    // Two 500s, then success; the issued key lives 2 s, so the rotated token is used next.
    let rotated = wait_for(LONG_WAIT, || async {
        (oauth.state.access_tokens.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    assert!(
        rotated.is_some(),
        "no second refresh with the rotated token"
    );
    assert!(oauth.state.refresh_calls.load(Ordering::SeqCst) >= 4);
    events
        .wait("refreshed", |e| {
            e["event"] == "credential:refreshed" && e["account"] == "acct"
        })
        .await;
    let entry = mux.account("acct").await;
    assert_ne!(entry["status"], "expired", "{entry}");
    assert_eq!(entry["has_refresh_token"], true);
    let (_, metrics) = {
        let text = reqwest::get(format!("{}/metrics", mux.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (0, text)
    };
    assert!(
        metrics.contains("coopmux_credential_refreshes_total{result=\"ok\"}"),
        "{metrics}"
    );
    assert!(!events.text().contains("sekret"));
    let log = mux.stop();
    assert!(!log.contains("sekret"), "a secret reached the log");
}

#[tokio::test]
async fn invalid_grant_requires_reauth_and_pkce_exchange_restores() {
    let oauth = OAuthServer::start(3600).await;
    let mux = hub(&["--refresh-margin-secs", "5"]);
    let events = Events::connect(&mux.base).await;
    let mut account = oauth.account("p", false);
    account["token"] = json!("old-access-sekret");
    account["refresh_token"] = json!("unknown-refresh-sekret");
    account["expires_in"] = json!(1);
    mux.post_ok("/api/v1/credentials/new", account).await;
    events
        .wait("refresh failed", |e| {
            e["event"] == "credential:refresh:failed" && e["account"] == "p"
        })
        .await;
    let required = events
        .wait("reauth required", |e| {
            e["event"] == "credential:reauth:required" && e["account"] == "p"
        })
        .await;
    let entry = mux.account("p").await;
    assert_eq!(entry["status"], "expired");
    assert_eq!(entry["has_refresh_token"], false);
    // A second reauth reuses the pending flow.
    let reply = mux
        .post_ok("/api/v1/credentials/reauth", json!({"account":"p"}))
        .await;
    assert_eq!(reply["auth_url"], required["auth_url"]);
    let auth_url = reqwest::Url::parse(reply["auth_url"].as_str().unwrap()).unwrap();
    let query: HashMap<String, String> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("state"),
        reply["state"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(query["code_challenge_method"], "S256");
    // The test plays the user: authorise at the server, paste the code.
    let authorized: serde_json::Value = reqwest::get(auth_url.as_str())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = authorized["code"].as_str().unwrap();
    let (status, _) = mux
        .post(
            "/api/v1/credentials/exchange",
            json!({"state":"wrong","code":code}),
        )
        .await;
    assert_eq!(status, 400);
    let done = mux
        .post_ok(
            "/api/v1/credentials/exchange",
            json!({"state":reply["state"],"code":code}),
        )
        .await;
    assert_eq!(done, json!({"completed":true}));
    let entry = mux.account("p").await;
    assert_eq!(entry["status"], "healthy");
    assert_eq!(entry["has_refresh_token"], true);
    let (status, _) = mux
        .post(
            "/api/v1/credentials/exchange",
            json!({"state":reply["state"],"code":code}),
        )
        .await;
    assert_eq!(status, 400, "a state is single-use");
    let log = mux.stop();
    assert!(!log.contains("sekret"), "a secret reached the log");
}
