//! Registrants (docs/security.md, "Registrants"): a registered url cannot choose the path the
//! hub calls.

use crate::support::{client, expect_envelope, register, TestServer};
use axum::extract::{Request, State};
use axum::{Json, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// An upstream that answers every request with a health-like JSON and records its target
/// (path and query).
pub(super) async fn recording_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .fallback(
            |State(seen): State<Arc<Mutex<Vec<String>>>>, req: Request| async move {
                let target = req.uri().path_and_query().map(ToString::to_string);
                seen.lock().unwrap().push(target.unwrap_or_default());
                Json(json!({"status": "running"}))
            },
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn a_registered_url_cannot_choose_the_path_the_hub_calls() {
    let (upstream, seen) = recording_upstream().await;
    let mux = TestServer::with(|_| {}).await;
    let host = upstream.trim_start_matches("http://");
    for url in [
        format!("{upstream}/admin?x="),
        format!("{upstream}/admin?"),
        format!("{upstream}/admin#"),
        format!("{upstream}/#frag"),
        format!("http://user:pass@{host}"),
        format!("http://user@{host}/admin"),
    ] {
        let reply = register(&mux, &url, Some("s"), json!({})).await;
        let message = expect_envelope(reply, 400, "BAD_REQUEST").await;
        assert!(message.contains("must not carry"), "{url}: {message}");
    }
    assert_eq!(mux.hub.registry.len(), 0);

    // A path prefix is fine: the hub's paths go below it.
    let reply = register(&mux, &format!("{upstream}/pre/"), Some("s"), json!({})).await;
    assert_eq!(reply.status(), 200);
    let input = client()
        .post(mux.url("/api/v1/sessions/s/input"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(input.status(), 200);
    let seen = seen.lock().unwrap().clone();
    // The inbox's state feed is the one call with a query, and it is the hub's own.
    assert!(
        seen.iter()
            .all(|t| (t.starts_with("/pre/api/v1/") && !t.contains('?'))
                || t == "/pre/ws?subscribe=state"),
        "{seen:?}"
    );
    assert!(seen.contains(&"/pre/api/v1/input".to_owned()), "{seen:?}");
}
