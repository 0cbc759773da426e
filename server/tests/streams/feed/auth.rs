//! WebSocket upgrades of `/ws/mux` and `/ws/{id}`: token (bearer, login cookie, `?token=`)
//! and `Origin` (the mux's own or `--allowed-origin`, else 403).

use crate::support::{client, Session, TempDir, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error;

/// Tries an upgrade; returns the HTTP status (101 on success).
async fn upgrade(url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = url.into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_need_credentials_and_an_allowed_origin() {
    let dir = TempDir::new("feed-auth");
    let host = Session::sh("sleep 60", dir.path(), &[]).await;
    let mux = TestServer::with(|a| {
        a.auth_token = Some("s3cret".parse().unwrap());
        a.allowed_origins = vec!["https://ok.example".to_owned()];
    })
    .await;
    let reg = client()
        .post(format!("{}/api/v1/sessions", mux.base))
        .bearer_auth("s3cret")
        .json(&json!({"url": host.url, "id": "a1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 200);
    let login = client()
        .post(format!("{}/api/v1/auth/login", mux.base))
        .json(&json!({"token": "s3cret"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let own = mux.base.clone();
    for path in ["/ws/mux", "/ws/a1?subscribe=pty"] {
        let url = mux.ws_url(path);
        let sep = if path.contains('?') { '&' } else { '?' };
        assert_eq!(upgrade(&url, &[]).await, 401, "{path}: no credentials");
        assert_eq!(
            upgrade(&format!("{url}{sep}token=wrong"), &[]).await,
            401,
            "{path}"
        );
        assert_eq!(
            upgrade(&format!("{url}{sep}token=s3cret"), &[]).await,
            101,
            "{path}"
        );
        assert_eq!(
            upgrade(&url, &[("authorization", "Bearer s3cret")]).await,
            101,
            "{path}"
        );
        assert_eq!(
            upgrade(&url, &[("cookie", &cookie)]).await,
            101,
            "{path}: cookie"
        );
        assert_eq!(
            upgrade(&url, &[("cookie", &cookie), ("origin", &own)]).await,
            101,
            "{path}"
        );
        assert_eq!(
            upgrade(
                &url,
                &[("cookie", &cookie), ("origin", "https://ok.example")]
            )
            .await,
            101,
            "{path}: allowed origin"
        );
        assert_eq!(
            upgrade(
                &url,
                &[("cookie", &cookie), ("origin", "https://evil.example")]
            )
            .await,
            403,
            "{path}: foreign origin"
        );
        assert_eq!(
            upgrade(
                &format!("{url}{sep}token=s3cret"),
                &[("origin", "http://evil.example")]
            )
            .await,
            403,
            "{path}: a token does not excuse a foreign origin"
        );
    }
}
