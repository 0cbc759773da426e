//! WebSocket upgrades of `/ws/mux` and `/ws/{id}`: token (bearer, `?token=`, or the
//! dashboard's login as a subprotocol, from the hub's own origin only) and `Origin` (the mux's
//! own or `--allowed-origin`, else 403).

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

/// The operator's form login, as the browser sends it.
async fn form_login(mux: &TestServer) -> reqwest::Response {
    client()
        .post(format!("{}/mux/login", mux.base))
        .form(&[("token", "s3cret")])
        .send()
        .await
        .unwrap()
}

/// Logs in as the dashboard's login form does; the credential the page would keep.
async fn login(mux: &TestServer) -> String {
    let page = form_login(mux).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let needle = "\"coopmux.login\", \"";
    let start = html.find(needle).expect("the page stores a login") + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
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
    let login = login(&mux).await;
    let offered = format!("coopmux, coopmux.login.{login}");
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
        let login = ("sec-websocket-protocol", offered.as_str());
        assert_eq!(upgrade(&url, &[login]).await, 101, "{path}: login");
        assert_eq!(
            upgrade(&url, &[login, ("origin", &own)]).await,
            101,
            "{path}"
        );
        // An allowed origin brings the token itself; the login is the hub's own page's.
        assert_eq!(
            upgrade(&url, &[login, ("origin", "https://ok.example")]).await,
            401,
            "{path}: allowed origin with the login"
        );
        assert_eq!(
            upgrade(
                &url,
                &[
                    ("authorization", "Bearer s3cret"),
                    ("origin", "https://ok.example")
                ]
            )
            .await,
            101,
            "{path}: allowed origin with the token"
        );
        assert_eq!(
            upgrade(&url, &[login, ("origin", "https://evil.example")]).await,
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

/// A page on an allowed origin of the same site (another port of `127.0.0.1`) receives
/// whatever the browser keeps for that host; none of it opens `/ws/mux`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_site_allowed_origin_gets_no_login() {
    let neighbour = "http://127.0.0.1:5173";
    let mux = TestServer::with(|a| {
        a.auth_token = Some("s3cret".parse().unwrap());
        a.allowed_origins = vec![neighbour.to_owned()];
    })
    .await;
    // What the browser holds after the operator's form login: any cookie it set.
    let reply = form_login(&mux).await;
    let cookies: Vec<String> = reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let cookie = cookies.join("; ");
    let url = mux.ws_url("/ws/mux");
    let mut headers = vec![("origin", neighbour)];
    if !cookie.is_empty() {
        headers.push(("cookie", cookie.as_str()));
    }
    assert_eq!(
        upgrade(&url, &headers).await,
        401,
        "the neighbour opened /ws/mux"
    );
    // Even the page's own login, were the neighbour to get hold of it, is not taken from
    // another origin: it belongs to the hub's own page.
    let protocol = format!("coopmux, coopmux.login.{}", login(&mux).await);
    let with_login = [("origin", neighbour), ("sec-websocket-protocol", &protocol)];
    assert_eq!(upgrade(&url, &with_login).await, 401);
    let own = mux.base.clone();
    let from_hub = [
        ("origin", own.as_str()),
        ("sec-websocket-protocol", &protocol),
    ];
    assert_eq!(upgrade(&url, &from_hub).await, 101, "the hub's own page");
}
