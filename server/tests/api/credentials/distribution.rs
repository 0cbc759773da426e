//! Distribution to real `coopmux session` hosts: a new key reaches a `working` session at once
//! but its switch waits until the session is `idle`; `metadata.profiles_needed` limits the
//! profiles a session receives, and a session without it receives every account.
//!
//! The session host never reports `error` (its states are starting/working/idle/exited), so
//! the forced switch of an `error` session is not exercised here.

use super::{assert_no_secret, hub, start_host};
use crate::support::{wait_for, Session, LONG_WAIT};
use serde_json::json;
use std::time::{Duration, Instant};

/// Prints a line every 100 ms for 5 s (the host is `working`), then stays quiet (`idle`).
const TICKS: &str =
    "i=0; while [ $i -lt 50 ]; do echo tick; sleep 0.1; i=$((i+1)); done; exec sleep 600";

#[tokio::test]
async fn a_working_session_gets_the_key_at_once_and_switches_when_idle() {
    let mux = hub(&["--switch-retry-ms", "200"]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"a","provider":"openai","token":"a-first-sekret"}),
    )
    .await;
    let host = start_host(Some(&mux), "busy-1", &["sh", "-c", TICKS]).await;
    let pushed = || host.log_lines("profiles registered").len();
    assert!(
        wait_for(LONG_WAIT, || async { (pushed() == 1).then_some(()) })
            .await
            .is_some(),
        "no initial push"
    );
    assert_eq!(host.state().await, "working");

    mux.post_ok(
        "/api/v1/credentials/set",
        json!({"account":"a","token":"a-second-sekret"}),
    )
    .await;
    // The push happens at once, while the session is still working.
    assert!(
        wait_for(Duration::from_secs(2), || async {
            (pushed() == 2).then_some(())
        })
        .await
        .is_some(),
        "the new key was not pushed at once"
    );
    let push_at = host.log_lines("profiles registered")[1].0;
    // As long as the host works, no switch arrives.
    let mut last_working = None;
    let deadline = Instant::now() + LONG_WAIT;
    loop {
        let state = host.state().await;
        if state == "idle" {
            break;
        }
        assert_eq!(state, "working");
        last_working = Some(Instant::now());
        assert!(
            host.log_lines("profile switch").is_empty(),
            "switched while working"
        );
        assert!(Instant::now() < deadline, "the host never went idle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_working = last_working.expect("the host was working after the push");
    assert!(push_at < last_working, "the push waited for idle");
    let switch = wait_for(LONG_WAIT, || async {
        host.log_lines("profile switch").into_iter().next()
    })
    .await
    .expect("the deferred switch never came");
    assert!(switch.0 > last_working, "switched before idle");
    assert!(switch.1.contains("\"a\""), "{}", switch.1);
    assert_eq!(host.profiles().await["active_profile"], "a");
    // Without the colour codes of the hub's log.
    let log = mux
        .log()
        .replace("\u{1b}[3m", "")
        .replace("\u{1b}[2m", "")
        .replace("\u{1b}[0m", "");
    assert!(log.contains("deferred=1"), "{log}");
    assert!(log.contains("deferred switch done"), "{log}");
    assert_no_secret("the host log", &host.log());
    host.stop().await;
    assert_no_secret("the hub log", &mux.stop());
}

/// Waits until `host` holds exactly the profiles `want` (in any order).
async fn names_become(host: &Session, want: &[&str]) -> bool {
    wait_for(LONG_WAIT, || async {
        let mut names = host.profile_names().await;
        names.sort();
        (names == want).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn profiles_needed_limits_what_a_real_host_receives() {
    let mux = hub(&[]);
    for name in ["a", "b"] {
        mux.post_ok(
            "/api/v1/credentials/new",
            json!({"name":name,"provider":"other","env_key":format!("{}_KEY", name.to_uppercase()),"token":format!("{name}-key-sekret")}),
        )
        .await;
    }
    // Labels cannot express an array: register this host's URL with the metadata ourselves.
    let only_b = start_host(None, "only-b", &["sh", "-c", "exec sleep 60"]).await;
    let registered = mux
        .post_ok(
            "/api/v1/sessions",
            json!({"url": only_b.url, "id": "only-b", "metadata": {"profiles_needed": ["B"]}}),
        )
        .await;
    assert_eq!(registered["registered"], true);
    let every = start_host(Some(&mux), "every", &["sh", "-c", "exec sleep 60"]).await;
    assert!(
        names_become(&only_b, &["b"]).await,
        "{:?}",
        only_b.profile_names().await
    );
    assert!(
        names_become(&every, &["a", "b"]).await,
        "{:?}",
        every.profile_names().await
    );
    // A new account reaches the host without the field only.
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"c","provider":"gemini","token":"c-key-sekret"}),
    )
    .await;
    assert!(names_become(&every, &["a", "b", "c"]).await);
    assert_eq!(only_b.profile_names().await, ["b"]);
    for (_, line) in only_b.log_lines("profiles registered") {
        assert!(line.contains(r#"["b"]"#), "only b may be pushed: {line}");
    }
    let (_, pool) = mux.get("/api/v1/credentials/pool").await;
    assert_eq!(pool["total_sessions"], 2, "{pool}");
    let b = pool["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "b")
        .cloned()
        .unwrap();
    assert!(b["session_count"].as_u64().unwrap() >= 1, "{pool}");
    assert_no_secret("a host log", &(only_b.log() + &every.log()));
    only_b.stop().await;
    every.stop().await;
    assert_no_secret("the hub log", &mux.stop());
}
