//! `POST /api/v1/credentials/pool/rebalance` over HTTP: a session first receives the target
//! account's profile, then switches; its assignment moves only when the switch succeeded (a
//! session whose switch is refused keeps its account); pool counts follow; the endpoint wants
//! a JSON body.

use super::{assert_no_secret, hub, start_host};
use crate::support::{wait_for, HubProcess, LONG_WAIT};
use axum::{extract::State, http::StatusCode, routing::get, routing::post, Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Requests the failing fake saw, in order: ("profiles", names) or ("switch", profile).
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A coop stand-in that holds profiles but refuses every switch (400). Only used for the
/// failure case; every other session is a real `coopmux session`.
async fn refusing_session() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route(
            "/api/v1/health",
            get(|| async { Json(json!({"status":"running"})) }),
        )
        .route(
            "/api/v1/status",
            get(|| async { Json(json!({"state":"idle"})) }),
        )
        .route(
            "/api/v1/session/profiles",
            post(
                |State(c): State<Calls>, Json(body): Json<Value>| async move {
                    let names: Vec<Value> = body["profiles"]
                        .as_array()
                        .map(|p| p.iter().map(|p| p["name"].clone()).collect())
                        .unwrap_or_default();
                    c.lock()
                        .unwrap()
                        .push(("profiles".into(), Value::from(names.clone())));
                    Json(json!({"registered": names.len()}))
                },
            ),
        )
        .route(
            "/api/v1/session/switch",
            post(
                |State(c): State<Calls>, Json(body): Json<Value>| async move {
                    c.lock()
                        .unwrap()
                        .push(("switch".into(), body["profile"].clone()));
                    let error = json!({"error":{"code":"BAD_REQUEST","message":"refused by test"}});
                    (StatusCode::BAD_REQUEST, Json(error))
                },
            ),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

async fn counts(mux: &HubProcess) -> (u64, u64, u64) {
    let (_, pool) = mux.get("/api/v1/credentials/pool").await;
    let of = |name: &str| {
        pool["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .and_then(|e| e["session_count"].as_u64())
            .unwrap_or(0)
    };
    (
        pool["total_sessions"].as_u64().unwrap_or(0),
        of("a"),
        of("b"),
    )
}

/// Waits until the pool has `n` assigned sessions (registrations assign in the background).
async fn assigned(mux: &HubProcess, n: u64) {
    let ok = wait_for(LONG_WAIT, || async {
        (counts(mux).await.0 == n).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "pool never reached {n} sessions: {:?}",
        counts(mux).await
    );
}

#[tokio::test]
async fn rebalance_pushes_then_switches_and_moves_only_successful_sessions() {
    let mux = hub(&[]);
    for name in ["a", "b"] {
        mux.post_ok(
            "/api/v1/credentials/new",
            json!({"name":name,"provider":"openai","token":format!("{name}-key-sekret")}),
        )
        .await;
    }
    let idle = ["sh", "-c", "exec sleep 60"];
    // Least loaded, ties by name: h1 → a, h2 → b, fake → a, h3 → b.
    let h1 = start_host(Some(&mux), "h1", &idle).await;
    assigned(&mux, 1).await;
    let h2 = start_host(Some(&mux), "h2", &idle).await;
    assigned(&mux, 2).await;
    let (fake_url, calls) = refusing_session().await;
    mux.post_ok("/api/v1/sessions", json!({"url": fake_url, "id": "fake"}))
        .await;
    assigned(&mux, 3).await;
    let h3 = start_host(Some(&mux), "h3", &idle).await;
    assigned(&mux, 4).await;
    assert_eq!(counts(&mux).await, (4, 2, 2));
    for (host, id, account) in [(&h1, "h1", "a"), (&h2, "h2", "b"), (&h3, "h3", "b")] {
        let active = wait_for(LONG_WAIT, || async {
            (host.profiles().await["active_profile"] == account).then_some(())
        })
        .await;
        assert!(active.is_some(), "{id} is not on {account}");
        // Each registration ends with a switch to the assigned account.
        let switched = wait_for(LONG_WAIT, || async {
            (host.log_lines("profile switch").len() == 1).then_some(())
        })
        .await;
        assert!(switched.is_some(), "{id} got no switch at registration");
    }
    assert_eq!(
        calls.lock().unwrap()[0],
        ("profiles".into(), json!(["a", "b"]))
    );
    let switches_before = h1.log_lines("profile switch").len();

    let reply = mux
        .post_ok(
            "/api/v1/credentials/pool/rebalance",
            json!({"from_account":"a"}),
        )
        .await;
    assert_eq!(reply, json!({"rebalanced":1,"failed":1}));
    // h1 moved: it got b's profile, then switched to it.
    assert_eq!(h1.profiles().await["active_profile"], "b");
    let lines: Vec<String> = h1.log().lines().map(str::to_owned).collect();
    let switch_at = lines
        .iter()
        .rposition(|l| l.contains("profile switch") && l.contains("\"b\""))
        .expect("h1 switched to b");
    assert!(
        lines[..switch_at]
            .iter()
            .any(|l| l.contains("profiles registered") && l.contains("\"b\"")),
        "b's profile was not pushed before the switch: {lines:?}"
    );
    assert_eq!(h1.log_lines("profile switch").len(), switches_before + 1);
    // The fake was pushed b's profile, then refused the switch: it stays on a.
    let seen = calls.lock().unwrap().clone();
    let switch = seen
        .iter()
        .position(|(what, to)| what == "switch" && to == "b")
        .expect("the fake was asked to switch to b");
    assert!(
        seen[..switch]
            .iter()
            .any(|(what, names)| what == "profiles"
                && names.as_array().unwrap().contains(&json!("b"))),
        "{seen:?}"
    );
    assert_eq!(counts(&mux).await, (4, 1, 3), "only h1 moved");

    // The endpoint needs a JSON body, even if only `{}`.
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/credentials/pool/rebalance", mux.base);
    let empty = client
        .post(&url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status().as_u16(), 400);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST", "{body}");
    let bare = client.post(&url).send().await.unwrap();
    assert_eq!(
        bare.status().as_u16(),
        415,
        "a body without a JSON content type is 415"
    );
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE", "{body}");
    // As with coop, an unknown account has no sessions to move.
    let unknown = mux
        .post_ok(
            "/api/v1/credentials/pool/rebalance",
            json!({"from_account":"zz"}),
        )
        .await;
    assert_eq!(unknown, json!({"rebalanced":0,"failed":0}));
    assert_eq!(
        counts(&mux).await,
        (4, 1, 3),
        "refused requests and unknown accounts move nothing"
    );

    for host in [&h1, &h2, &h3] {
        assert_no_secret("a host log", &host.log());
    }
    for host in [h1, h2, h3] {
        host.stop().await;
    }
    assert_no_secret("the hub log", &mux.stop());
}
