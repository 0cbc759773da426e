//! Proxy endpoints: bodies and the session's token go upstream, upstream statuses and error
//! bodies pass through, an unreachable upstream is 502.

use crate::support::{
    client, expect_envelope, metric, metrics, register, MockUpstream, TestServer,
};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

async fn post(mux: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/api/v1/sessions/s/{path}", mux.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_proxy_forwards_body_and_token() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({"auth_token":"sess-token"})).await;

    let reply = post(&mux, "input", &json!({"text":"ls","enter":true})).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"bytes_written":5})
    );
    let reply = post(&mux, "input/raw", &json!({"data":"aGk="})).await;
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"bytes_written":3})
    );
    let reply = post(&mux, "input/keys", &json!({"keys":["enter"]})).await;
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"bytes_written":1})
    );
    // 202 with an empty body becomes 200 `null`.
    let reply = post(&mux, "agent/nudge", &json!({"message":"go on"})).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "null");
    let reply = client()
        .get(format!("{}/api/v1/sessions/s/agent", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"agent":"mock","state":"idle"})
    );

    let posts = up.state.posts.lock().unwrap().clone();
    assert_eq!(
        posts,
        [
            (
                "/api/v1/input".to_owned(),
                json!({"text":"ls","enter":true})
            ),
            ("/api/v1/input/raw".to_owned(), json!({"data":"aGk="})),
            ("/api/v1/input/keys".to_owned(), json!({"keys":["enter"]})),
            ("/api/v1/agent/nudge".to_owned(), json!({"message":"go on"})),
        ]
    );
    let auth = up.state.auth_headers.lock().unwrap().clone();
    assert_eq!(auth.len(), 5);
    assert!(
        auth.iter()
            .all(|h| h.as_deref() == Some("Bearer sess-token")),
        "{auth:?}"
    );
}

#[tokio::test]
async fn upstream_errors_keep_their_status_and_body() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;

    let reply = post(&mux, "agent/respond", &json!({"accept":true})).await;
    assert_eq!(reply.status(), 409);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"error":{"code":"NO_PROMPT","message":"no prompt is active"}})
    );
    up.state.input_status.store(409, Ordering::SeqCst);
    let reply = post(&mux, "input", &json!({"text":"x"})).await;
    let message = expect_envelope(reply, 409, "AGENT_BUSY").await;
    assert_eq!(message, "agent is busy");
    // A non-JSON error body keeps its status and is wrapped in the envelope.
    up.state.input_status.store(503, Ordering::SeqCst);
    let reply = post(&mux, "input", &json!({"text":"x"})).await;
    let message = expect_envelope(reply, 503, "UPSTREAM_ERROR").await;
    assert!(message.contains("plain text failure"), "{message}");

    let text = metrics(&mux).await;
    assert_eq!(
        metric(&text, "coopmux_proxy_requests_total{status=\"409\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "coopmux_proxy_requests_total{status=\"503\"}"),
        1.0
    );
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let mux = TestServer::with(|_| {}).await;
    let mut up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    up.kill().await;
    let reply = post(&mux, "input", &json!({"text":"x"})).await;
    let message = expect_envelope(reply, 502, "UPSTREAM_ERROR").await;
    assert!(message.starts_with("upstream error: "), "{message}");
    let reply = client()
        .get(format!("{}/api/v1/sessions/s/agent", mux.base))
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 502, "UPSTREAM_ERROR").await;
    let text = metrics(&mux).await;
    assert_eq!(
        metric(&text, "coopmux_proxy_upstream_unreachable_total"),
        2.0
    );
}

#[tokio::test]
async fn uploads_up_to_the_limit_pass_and_larger_bodies_are_413() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    // 10 MiB of file data is about 13.4 MiB of base64: coop's limit must fit.
    let data = "A".repeat(14 * 1024 * 1024);
    let reply = post(&mux, "upload", &json!({"filename":"big.bin","data":data})).await;
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["bytes_written"], data.len());

    let too_big = "A".repeat(17 * 1024 * 1024);
    let reply = post(
        &mux,
        "upload",
        &json!({"filename":"huge.bin","data":too_big}),
    )
    .await;
    expect_envelope(reply, 413, "PAYLOAD_TOO_LARGE").await;
    let text = metrics(&mux).await;
    assert!(metric(&text, "coopmux_bytes_relayed_total") >= data.len() as f64);
}
