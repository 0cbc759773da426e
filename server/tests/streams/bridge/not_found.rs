//! `/ws/{id}` of an unknown session is a 404 in the error envelope before anything else is
//! looked at, upgrade or not (coop's hub answers 404 too); a known session asked without an
//! upgrade gets a 400 envelope.

use crate::support::{client, expect_envelope, register, Session, TempDir, TestServer};
use serde_json::json;

/// The headers of a WebSocket upgrade.
const UPGRADE: [(&str, &str); 4] = [
    ("connection", "upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sessions_are_404_in_the_envelope_upgrade_or_not() {
    let dir = TempDir::new("ws-404");
    let host = Session::sh("sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &host.url, Some("known"), json!({}))
            .await
            .status(),
        200
    );
    for (path, upgrade) in [("nope", true), ("nope", false), ("not%20an%20id", false)] {
        let mut request = client().get(format!("{}/ws/{path}", mux.base));
        if upgrade {
            for (name, value) in UPGRADE {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        expect_envelope(response, 404, "SESSION_NOT_FOUND").await;
    }
    let plain = client()
        .get(format!("{}/ws/known", mux.base))
        .send()
        .await
        .unwrap();
    let message = expect_envelope(plain, 400, "BAD_REQUEST").await;
    assert!(message.contains("WebSocket upgrade"), "{message}");
}
