//! Every rejection uses the JSON error envelope with the right status (see
//! `docs/coop-protocol.md`): malformed JSON, wrong content type, missing fields, oversized
//! bodies, unknown routes, wrong methods.

use crate::support::{client, expect_envelope, register, MockUpstream, TestServer};
use serde_json::json;

#[tokio::test]
async fn malformed_requests_get_the_envelope() {
    let mux = TestServer::with(|_| {}).await;
    let up = MockUpstream::start().await;
    register(&mux, &up.url, Some("s"), json!({})).await;
    let c = client();
    let sessions = format!("{}/api/v1/sessions", mux.base);
    let input = format!("{}/api/v1/sessions/s/input", mux.base);

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        // Syntax errors and empty bodies: 400.
        (
            c.post(&sessions)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "BAD_REQUEST",
        ),
        (
            c.post(&sessions)
                .header("content-type", "application/json")
                .body(""),
            400,
            "BAD_REQUEST",
        ),
        (
            c.post(&input)
                .header("content-type", "application/json")
                .body("[1,"),
            400,
            "BAD_REQUEST",
        ),
        // Wrong or missing content type: 415.
        (
            c.post(&sessions)
                .header("content-type", "text/plain")
                .body("{\"url\":\"x\"}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            c.post(&sessions).body("{\"url\":\"x\"}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            c.post(&input)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("text=x"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        // Well-formed JSON, missing or mistyped fields: 422.
        (
            c.post(&sessions).json(&json!({"id":"x"})),
            422,
            "UNPROCESSABLE_ENTITY",
        ),
        (
            c.post(&sessions).json(&json!({"url":5})),
            422,
            "UNPROCESSABLE_ENTITY",
        ),
        (
            c.post(&sessions).json(&json!([])),
            422,
            "UNPROCESSABLE_ENTITY",
        ),
        (
            c.post(format!("{}/api/v1/auth/login", mux.base))
                .json(&json!({})),
            422,
            "UNPROCESSABLE_ENTITY",
        ),
        // Over the 16 MiB limit: 413.
        (
            c.post(&sessions)
                .header("content-type", "application/json")
                .body(vec![b' '; 17 * 1024 * 1024]),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        // Unknown routes: 404; wrong methods: 405.
        (c.get(format!("{}/api/v1/nope", mux.base)), 404, "NOT_FOUND"),
        (
            c.get(format!("{}/api/v1/sessions/s/nope", mux.base)),
            404,
            "NOT_FOUND",
        ),
        (c.put(&sessions), 405, "METHOD_NOT_ALLOWED"),
        (c.get(&input), 405, "METHOD_NOT_ALLOWED"),
        (
            c.post(format!("{}/api/v1/health", mux.base)),
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let reply = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        let got = reply.status().as_u16();
        assert_eq!(got, status, "case {i}");
        expect_envelope(reply, status, code).await;
    }
    // Nothing malformed reached the upstream.
    assert!(up.state.posts.lock().unwrap().is_empty());
}

/// One domain failure, one envelope: the REST endpoint and the dashboard's server function
/// answer the same status, code and message, because both convert the failure into the one
/// API error (`server/src/error.rs`).
#[tokio::test]
async fn a_failure_reads_the_same_through_rest_and_server_functions() {
    let mux = TestServer::with(|a| a.launch = Some("exit 0".to_owned())).await;
    let c = client();
    let refused_env = json!({"env": {"LD_PRELOAD": "/tmp/x.so"}});
    let unknown_account = json!({"account": "nope", "token": "t"});
    let cases = [
        (
            "an unknown session",
            c.get(mux.url("/api/v1/sessions/nope/screen")),
            "session_screen",
            json!({"id": "nope"}),
        ),
        (
            "a refused launch variable",
            c.post(mux.url("/api/v1/sessions/launch"))
                .json(&refused_env),
            "launch",
            refused_env.clone(),
        ),
        (
            "an unknown credential account",
            c.post(mux.url("/api/v1/credentials/set"))
                .json(&unknown_account),
            "credential_set",
            json!({"req": unknown_account}),
        ),
    ];
    for (what, rest, function, args) in cases {
        let rest = rest.send().await.unwrap();
        let status = rest.status().as_u16();
        let envelope: serde_json::Value = rest.json().await.unwrap();
        let error = &envelope["error"];
        assert!(status >= 400, "{what}: {status} {envelope}");
        let call = c
            .post(mux.url(&format!("/api/fn/{function}")))
            .json(&args)
            .send()
            .await
            .unwrap();
        assert_eq!(call.status().as_u16(), status, "{what}");
        let failure: serde_json::Value = call.json().await.unwrap();
        assert_eq!(
            (&failure["status"], &failure["code"], &failure["message"]),
            (&json!(status), &error["code"], &error["message"]),
            "{what}: REST {envelope}, server function {failure}"
        );
        assert!(!error["code"].as_str().unwrap().is_empty(), "{what}");
    }
}
