//! `GET /api/v1/openapi.json` and `GET /metrics`.

use crate::support::{client, metric, metrics, register, MockUpstream, TestServer};
use serde_json::{json, Value};

/// Every REST route of coop's mux API that this hub serves (see `docs/coop-protocol.md`), plus
/// its own additions.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/sessions"),
    ("post", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/{id}"),
    ("get", "/api/v1/sessions/{id}/screen"),
    ("get", "/api/v1/sessions/{id}/status"),
    ("post", "/api/v1/sessions/{id}/dismiss"),
    ("post", "/api/v1/states"),
    ("get", "/api/v1/sessions/{id}/agent"),
    ("post", "/api/v1/sessions/{id}/agent/nudge"),
    ("post", "/api/v1/sessions/{id}/agent/respond"),
    ("post", "/api/v1/sessions/{id}/input"),
    ("post", "/api/v1/sessions/{id}/input/raw"),
    ("post", "/api/v1/sessions/{id}/input/keys"),
    ("post", "/api/v1/sessions/{id}/upload"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/metrics"),
];

#[tokio::test]
async fn openapi_document_lists_every_route_and_each_is_served() {
    let mux = TestServer::with(|_| {}).await;
    let reply = client()
        .get(format!("{}/api/v1/openapi.json", mux.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let doc: Value = reply.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing"
        );
    }
    // Schemas of the shared shapes are there.
    for schema in [
        "SessionInfo",
        "CachedScreen",
        "CachedStatus",
        "ErrorEnvelope",
        "RegisterRequest",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema}"
        );
    }
    // And every documented operation is really routed (no 404 route / 405 method).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = format!("{}{}", mux.base, path.replace("{id}", "nope"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = client()
                .request(method.clone(), concrete)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = reply.status().as_u16();
            let body = reply.text().await.unwrap();
            assert!(
                status != 405 && !body.contains("\"NOT_FOUND\""),
                "{method} {path}: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let mux = TestServer::with(|_| {}).await;
    let (a, b) = (MockUpstream::start().await, MockUpstream::start().await);
    register(&mux, &a.url, Some("a"), json!({})).await;
    register(&mux, &b.url, Some("b"), json!({})).await;
    register(&mux, &b.url, Some("b"), json!({})).await; // heartbeat: not a new registration
    let reply = client()
        .post(format!("{}/api/v1/sessions/a/input", mux.base))
        .json(&json!({"text":"hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    mux.hub.registry.start_watching("a");

    let reply = client()
        .get(format!("{}/metrics", mux.base))
        .send()
        .await
        .unwrap();
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text().await.unwrap();
    assert!(text.contains("# TYPE coopmux_sessions gauge"));
    assert_eq!(metric(&text, "coopmux_sessions"), 2.0);
    assert_eq!(metric(&text, "coopmux_registrations_total"), 2.0);
    assert_eq!(metric(&text, "coopmux_watched_sessions"), 1.0);
    assert_eq!(
        metric(&text, "coopmux_proxy_requests_total{status=\"200\"}"),
        1.0
    );
    // {"text":"hi"} out, {"bytes_written":5} back.
    assert_eq!(metric(&text, "coopmux_bytes_relayed_total"), 13.0 + 19.0);
    assert_eq!(metric(&text, "coopmux_ws_clients"), 0.0);
    assert_eq!(
        metric(&text, "coopmux_pollers_running{kind=\"screen\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "coopmux_pollers_running{kind=\"status\"}"),
        1.0
    );
    assert_eq!(metric(&text, "coopmux_evictions_total"), 0.0);
    assert_eq!(metric(&text, "coopmux_health_failures_total"), 0.0);
    mux.hub.registry.stop_watching("a");

    a.state
        .unhealthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    mux.hub.registry.health_sweep().await;
    let text = metrics(&mux).await;
    assert_eq!(metric(&text, "coopmux_health_failures_total"), 1.0);
}
