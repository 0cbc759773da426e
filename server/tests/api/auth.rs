//! Auth (see `docs/security.md`): bearer, the dashboard's login, logout, the page shell,
//! WebSocket rules, CORS and the non-loopback guard.

use crate::support::{client, expect_envelope, hub_args, register, MockUpstream, TestServer};
use coopmux::hub::serve::{check_exposure, Bound, ServeError};
use serde_json::{json, Value};

const TOKEN: &str = "mux-secret-token-0123";

async fn secured() -> TestServer {
    TestServer::with(|a| a.auth_token = Some(TOKEN.into())).await
}

#[tokio::test]
async fn without_a_token_everything_is_open() {
    let mux = TestServer::with(|_| {}).await;
    for path in [
        "/api/v1/sessions",
        "/metrics",
        "/api/v1/openapi.json",
        "/mux",
    ] {
        let reply = client().get(mux.url(path)).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
    }
    let reply = client().get(mux.url("/mux/login")).send().await.unwrap();
    assert_eq!(reply.headers()["location"], "/mux");
}

/// The REST twins of the dashboard's session operations (`hub::operations`) sit behind the
/// token like every other route: without it nothing is read or dismissed.
#[tokio::test]
async fn the_dashboards_rest_twins_need_the_token() {
    let mux = secured().await;
    for path in ["/api/v1/states", "/api/v1/sessions/a/dismiss"] {
        let reply = client()
            .post(mux.url(path))
            .json(&json!({"ids": ["a"]}))
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 401, "UNAUTHORIZED").await;
    }
    let reply = client()
        .post(mux.url("/api/v1/states"))
        .bearer_auth(TOKEN)
        .json(&json!({"ids": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn bearer_token_guards_the_api() {
    let mux = secured().await;
    let c = client();
    // Health stays open.
    assert_eq!(
        c.get(mux.url("/api/v1/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Static assets too, the symbols font included: a stylesheet's font fetch carries no login.
    for path in ["/fonts/coopmux-symbols.woff2", "/favicon.ico"] {
        let status = c.get(mux.url(path)).send().await.unwrap().status();
        assert_ne!(status, 401, "{path}");
    }
    for path in [
        "/api/v1/sessions",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/nope",
    ] {
        let reply = c.get(mux.url(path)).send().await.unwrap();
        let message = expect_envelope(reply, 401, "UNAUTHORIZED").await;
        assert_eq!(message, "unauthorized");
        let reply = c
            .get(mux.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 401, "UNAUTHORIZED").await;
        let reply = c
            .get(mux.url(path))
            .bearer_auth(format!("{TOKEN}x"))
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 401, "UNAUTHORIZED").await;
    }
    let reply = c
        .get(mux.url("/api/v1/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Unknown routes are 404 only once authenticated.
    let reply = c
        .get(mux.url("/api/v1/nope"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 404, "NOT_FOUND").await;
    // `?token=` works only on WebSocket paths.
    let reply = c
        .get(mux.url(&format!("/api/v1/sessions?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    let reply = c.get(mux.url("/ws/mux?token=wrong")).send().await.unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    let reply = c
        .get(mux.url(&format!("/ws/mux?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_ne!(reply.status(), 401, "query token accepted on /ws/*");
}

#[tokio::test]
async fn sessions_must_register_with_the_mux_token() {
    let mux = secured().await;
    let up = MockUpstream::start().await;
    let reply = register(&mux, &up.url, Some("s"), json!({})).await;
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    register_with_token(&mux, &up.url).await;
    assert_eq!(mux.hub.registry.len(), 1);
}

/// Registers `url` as session `s` with the hub's token.
async fn register_with_token(mux: &TestServer, url: &str) {
    let reply = client()
        .post(mux.url("/api/v1/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": url, "id": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn the_dashboard_login_is_a_header_never_a_cookie() {
    let mux = secured().await;
    let up = MockUpstream::start().await;
    register_with_token(&mux, &up.url).await;
    let c = client();
    // The page shell is served to anyone, without the fleet, and sends a visitor without a
    // stored login to the login page; the login page itself is open.
    let page = c.get(mux.url("/mux")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("location.replace(\"/mux/login\")"), "{html}");
    assert!(
        !html.contains("1 session"),
        "the shell shows the fleet: {html}"
    );
    let page = c.get(mux.url("/mux/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form") && html.contains("name=\"token\""),
        "{html}"
    );

    let reply = c
        .post(mux.url("/api/v1/auth/login"))
        .json(&json!({"token":"nope"}))
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    let reply = c
        .post(mux.url("/api/v1/auth/login"))
        .json(&json!({"token":TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().get("set-cookie").is_none());
    assert_eq!(reply.headers()["cache-control"], "no-store");
    let body: Value = reply.json().await.unwrap();
    let login = body["login"].as_str().unwrap().to_owned();
    assert_ne!(login, TOKEN, "the login is not the token");

    let with_login = |path: &str| c.get(mux.url(path)).header("x-coopmux-login", &login);
    assert_eq!(
        with_login("/api/v1/sessions")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Server functions take it too, and nothing else a browser sends by itself.
    let list_sessions = |header: (&str, String)| {
        c.post(mux.url("/api/fn/list_sessions"))
            .header(header.0, header.1)
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    let reply = list_sessions(("x-coopmux-login", login.clone()))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    for cookie in [
        format!("coopmux_session={login}"),
        format!("coopmux.login={login}"),
    ] {
        let reply = list_sessions(("cookie", cookie)).await.unwrap();
        assert_eq!(reply.status(), 401, "a cookie authenticated");
    }
    // Only from the hub's own origin (or without one).
    let reply = with_login("/api/v1/sessions")
        .header("origin", "http://127.0.0.1:1")
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    let own = mux.base.clone();
    let reply = with_login("/api/v1/sessions")
        .header("origin", own)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let reply = c
        .post(mux.url("/api/v1/auth/logout"))
        .header("x-coopmux-login", &login)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply = with_login("/api/v1/sessions").send().await.unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
    let reply = c
        .get(mux.url("/api/v1/sessions"))
        .header("x-coopmux-login", TOKEN)
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn the_login_form_hands_the_page_a_login_without_a_cookie() {
    let mux = secured().await;
    let c = client();
    let reply = c
        .post(mux.url("/mux/login"))
        .form(&[("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert!(reply.text().await.unwrap().contains("Wrong token"));
    let reply = c
        .post(mux.url("/mux/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().get("set-cookie").is_none());
    assert_eq!(reply.headers()["cache-control"], "no-store");
    let html = reply.text().await.unwrap();
    assert!(!html.contains(TOKEN), "the token is in the page");
    let needle = "localStorage.setItem(\"coopmux.login\", \"";
    let start = html.find(needle).expect("the page keeps the login") + needle.len();
    let login = html[start..].split('"').next().unwrap();
    assert!(html.contains("location.replace(\"/mux\")"), "{html}");
    let reply = c
        .get(mux.url("/api/v1/sessions"))
        .header("x-coopmux-login", login)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn websocket_origin_is_checked() {
    let mux = TestServer::with(|a| a.allowed_origins = vec!["https://ok.example".to_owned()]).await;
    let host = mux.base.trim_start_matches("http://").to_owned();
    let c = client();
    let ws = mux.url("/ws/mux");
    let reply = c
        .get(&ws)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_envelope(reply, 403, "FORBIDDEN").await;
    for origin in [format!("http://{host}"), "https://ok.example".to_owned()] {
        let reply = c
            .get(&ws)
            .header("origin", origin.clone())
            .send()
            .await
            .unwrap();
        assert_ne!(reply.status(), 403, "{origin}");
    }
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let mux = TestServer::with(|_| {}).await;
    let reply = client()
        .get(mux.url("/api/v1/health"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(reply.headers().get("access-control-allow-origin").is_none());

    let mux = TestServer::with(|a| a.allowed_origins = vec!["https://ok.example".to_owned()]).await;
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, mux.url("/api/v1/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://ok.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://ok.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn non_loopback_bind_without_token_is_refused() {
    // Refused before anything is bound.
    let refused = Bound::bind(hub_args(|a| a.host = "0.0.0.0".parse().unwrap())).await;
    assert!(
        matches!(refused, Err(ServeError::InsecureBind(_))),
        "{refused:?}"
    );
    // With a token, or explicitly insecure, it would start (checked without binding: tests
    // stay on loopback).
    let exposed = |tweak: fn(&mut coopmux::cli::ServeArgs)| {
        let mut a = hub_args(|a| a.host = "0.0.0.0".parse().unwrap());
        tweak(&mut a);
        check_exposure(&a, "0.0.0.0".parse().unwrap())
    };
    assert!(exposed(|a| a.auth_token = Some(TOKEN.into())).is_ok());
    assert!(exposed(|a| a.insecure_no_auth = true).is_ok());
    assert!(
        exposed(|a| a.auth_token = Some("".into())).is_err(),
        "an empty token is no token"
    );
    assert!(exposed(|_| {}).is_err());
}
