//! Distribution: a session that registers gets its profiles and, at once, an unforced switch
//! to its account even while it is `working` (the session waits, as coop does; the mux never
//! defers), and so do sessions assigned to an account whose key appears; an agent in `error`
//! is switched with `force`. `metadata.profiles_needed` limits the profiles a real
//! `coopmux session` host receives, and a session without it receives every account.
//!
//! The switch tests use a coop stand-in ([`MockUpstream`]) that records the requests, so they
//! do not depend on how a host carries out a switch.

use super::{assert_no_secret, hub, start_host};
use crate::support::{wait_for, HubProcess, MockUpstream, Session, LONG_WAIT};
use serde_json::{json, Value};

/// A coop stand-in in agent state `state`, registered with `mux` as `id` (with `metadata`).
async fn stand_in(mux: &HubProcess, id: &str, state: &str, metadata: Value) -> MockUpstream {
    let upstream = MockUpstream::start().await;
    *upstream.state.state.lock().unwrap() = state.to_owned();
    let body = json!({"url": upstream.url, "id": id, "metadata": metadata});
    mux.post_ok("/api/v1/sessions", body).await;
    upstream
}

/// Waits until `upstream` received `n` profile pushes and switches in all; returns them in
/// order as (path, body).
async fn credential_calls(upstream: &MockUpstream, n: usize) -> Vec<(String, Value)> {
    let calls = || -> Vec<(String, Value)> {
        let posts = upstream.state.posts.lock().unwrap();
        posts
            .iter()
            .filter(|(path, _)| path.starts_with("/api/v1/session/"))
            .cloned()
            .collect()
    };
    let done = wait_for(LONG_WAIT, || async { (calls().len() >= n).then_some(()) }).await;
    assert!(done.is_some(), "expected {n} calls, got {:?}", calls());
    calls()
}

/// Switches `upstream` was asked for so far.
fn switches(upstream: &MockUpstream) -> usize {
    let posts = upstream.state.posts.lock().unwrap();
    posts
        .iter()
        .filter(|(path, _)| path == "/api/v1/session/switch")
        .count()
}

fn profile_names(body: &Value) -> Vec<&str> {
    body["profiles"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_busy_session_is_switched_at_registration_and_when_its_key_appears() {
    let mux = hub(&[]);
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"a","provider":"openai","token":"a-first-sekret"}),
    )
    .await;
    // Registers while working: profiles, then the unforced switch, without waiting for idle.
    let busy = stand_in(&mux, "busy-1", "working", Value::Null).await;
    let calls = credential_calls(&busy, 2).await;
    assert_eq!(calls[0].0, "/api/v1/session/profiles");
    assert_eq!(profile_names(&calls[0].1), ["a"]);
    assert_eq!(
        calls[1],
        (
            "/api/v1/session/switch".to_owned(),
            json!({"profile":"a","force":false})
        )
    );

    // A session that may hold only "b" registers before "b" has a key: nothing to hold yet.
    let waiting = stand_in(&mux, "busy-2", "working", json!({"profiles_needed":["b"]})).await;
    // An agent in `error` is switched with force (it would never get idle by itself).
    let broken = stand_in(&mux, "broken", "error", json!({"profiles_needed":["b"]})).await;
    mux.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"b","provider":"custom","env_key":"B_KEY","token":"b-key-sekret"}),
    )
    .await;
    for (upstream, force) in [(&waiting, false), (&broken, true)] {
        let calls = credential_calls(upstream, 2).await;
        // Its registration may still be handled as "b" appears: then both push and switch.
        assert_eq!(calls[0].0, "/api/v1/session/profiles", "{calls:?}");
        assert_eq!(profile_names(&calls[0].1), ["b"]);
        let switched = wait_for(LONG_WAIT, || async {
            (switches(upstream) > 0).then_some(())
        });
        assert!(switched.await.is_some(), "no switch: {calls:?}");
        let posts = upstream.state.posts.lock().unwrap().clone();
        for (path, body) in posts {
            if path == "/api/v1/session/switch" {
                assert_eq!(body, json!({"profile":"b","force":force}));
            }
        }
    }
    // "a"'s session received "b" as well, but stays on "a": no second switch.
    let calls = credential_calls(&busy, 3).await;
    assert_eq!(profile_names(&calls[2].1), ["a", "b"]);
    assert_eq!(switches(&busy), 1);
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
