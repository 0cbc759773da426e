//! Device authorisation (RFC 8628) against the local OAuth server: `reauth` answers the user
//! code and verification URL, the poller waits through `authorization_pending`, adds 5 s to
//! its interval on `slow_down`, stores the key once the user approves; a code that expires
//! unapproved fails the flow.

use super::{assert_no_secret, hub};
use crate::support::{wait_for, Events, HubProcess, OAuthServer};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Starts a hub with one device-capable account `name` that has no key yet.
async fn hub_with_device_account(oauth: &OAuthServer, name: &str) -> HubProcess {
    let mux = hub(&[]);
    mux.post_ok("/api/v1/credentials/new", oauth.account(name, true))
        .await;
    assert_eq!(mux.account(name).await["status"], "missing");
    mux
}

#[tokio::test]
async fn device_flow_waits_slows_down_and_stores_the_key() {
    let oauth = OAuthServer::start(3600).await;
    let mux = hub_with_device_account(&oauth, "dev").await;
    let events = Events::connect(&mux.base).await;
    let reply = mux
        .post_ok("/api/v1/credentials/reauth", json!({"account":"dev"}))
        .await;
    let user_code = reply["user_code"].as_str().expect("user_code").to_owned();
    assert!(user_code.starts_with("USER-"), "{reply}");
    assert_eq!(reply["auth_url"], "https://verify.example/device");
    assert_eq!(reply["account"], "dev");
    events
        .wait("reauth required", |e| {
            e["event"] == "credential:reauth:required"
                && e["account"] == "dev"
                && e["user_code"] == user_code.as_str()
        })
        .await;
    // Poll 1 (after 1 s): pending; poll 2 (after 1 s more): slow_down. The user approves
    // only after the slow_down, so poll 3 comes 1 + 5 = 6 s after poll 2 and succeeds.
    let polls = || oauth.state.poll_times.lock().unwrap().clone();
    let slowed = wait_for(Duration::from_secs(6), || async {
        (polls().len() >= 2).then_some(())
    })
    .await;
    assert!(
        slowed.is_some(),
        "the poller did not poll twice: {:?}",
        polls()
    );
    assert_eq!(mux.account("dev").await["status"], "missing");
    oauth.state.approved.lock().unwrap().push(user_code.clone());
    events
        .wait("refreshed", |e| {
            e["event"] == "credential:refreshed" && e["account"] == "dev"
        })
        .await;
    let times = polls();
    assert_eq!(times.len(), 3, "one poll after approval: {times:?}");
    let first_gap = times[1] - times[0];
    let slowed_gap = times[2] - times[1];
    assert!(
        (800..3000).contains(&first_gap),
        "pending must keep the 1 s interval: {times:?}"
    );
    assert!(
        (5800..9000).contains(&slowed_gap),
        "slow_down must add 5 s to the interval: {times:?}"
    );
    let entry = mux.account("dev").await;
    assert_eq!(entry["status"], "healthy", "{entry}");
    assert_eq!(entry["has_api_key"], true);
    assert_eq!(entry["has_refresh_token"], true);
    assert_no_secret("a response", &entry.to_string());
    assert_no_secret("the event feed", &events.text());
    assert_no_secret("the hub log", &mux.stop());
}

#[tokio::test]
async fn an_expired_device_code_fails_the_flow() {
    let oauth = OAuthServer::start(3600).await;
    oauth.state.slow_down_poll.store(0, Ordering::SeqCst);
    oauth.state.device_expires_in.store(2, Ordering::SeqCst);
    let mux = hub_with_device_account(&oauth, "late").await;
    let events = Events::connect(&mux.base).await;
    let reply = mux
        .post_ok("/api/v1/credentials/reauth", json!({"account":"late"}))
        .await;
    assert!(reply["user_code"].is_string(), "{reply}");
    // Nobody approves: the code expires after 2 s.
    let failed = events
        .wait("refresh failed", |e| {
            e["event"] == "credential:refresh:failed" && e["account"] == "late"
        })
        .await;
    assert!(
        failed["error"].as_str().unwrap_or("").contains("expired"),
        "{failed}"
    );
    assert!(!oauth.state.poll_times.lock().unwrap().is_empty());
    let entry = mux.account("late").await;
    assert_ne!(entry["status"], "healthy", "{entry}");
    assert_eq!(entry["has_api_key"], false);
    assert!(
        !events.text().contains("credential:refreshed"),
        "{}",
        events.text()
    );
    assert_no_secret("the hub log", &mux.stop());
}
