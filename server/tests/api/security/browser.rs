//! Web pages: a drive-by launch, a DNS-rebinding `Host`, server functions called with a form
//! or text body, and a foreign-origin WebSocket to a token-less session host.

use crate::support::{client, expect_envelope, wait_for, Session, TempDir, TestServer, WAIT};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A hub whose launch command leaves a marker file: a launch that runs is visible.
async fn marking_hub(dir: &TempDir) -> (TestServer, std::path::PathBuf) {
    let marker = dir.join("launched");
    let command = format!("touch {}", marker.display());
    let server = TestServer::with(|a| a.launch = Some(command)).await;
    (server, marker)
}

#[tokio::test]
async fn cross_site_launches_are_refused_and_nothing_runs() {
    let dir = TempDir::new("drive-by");
    let (server, marker) = marking_hub(&dir).await;
    let launch = server.url("/api/v1/sessions/launch");
    let http = client();
    let attempts = [
        // A form post from any page: no preflight.
        http.post(&launch)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(""),
        // `text/plain` JSON: no preflight either.
        http.post(&launch)
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "text/plain")
            .body("{}"),
        // Real JSON from another origin (a page with a CORS grant it does not have).
        http.post(&launch)
            .header("origin", "https://evil.example")
            .json(&json!({"env": {}})),
        // The dashboard's server function with a text body, from its own origin even.
        http.post(server.url("/api/fn/launch"))
            .header("content-type", "text/plain")
            .body(r#"{"env":{"X":"1"}}"#),
        // ... and with any bearer header: server functions take JSON only, whoever calls.
        http.post(server.url("/api/fn/launch"))
            .bearer_auth("anything")
            .header("content-type", "text/plain")
            .body(r#"{"env":{"X":"1"}}"#),
        http.post(server.url("/api/fn/launch"))
            .bearer_auth("anything")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("env=x"),
        // A same-origin browser post must still carry JSON.
        http.post(&launch)
            .header("origin", server.base.clone())
            .header("content-type", "text/plain")
            .body("{}"),
    ];
    for attempt in attempts {
        let message = expect_envelope(attempt.send().await.unwrap(), 403, "FORBIDDEN").await;
        assert!(!message.is_empty());
    }
    let launches: serde_json::Value = http
        .get(server.url("/api/v1/launches"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(launches, json!([]), "no launch was recorded");
    assert!(!marker.exists(), "the launch command ran");

    // The same launch from a script (no browser headers) or the dashboard (same origin,
    // JSON) still works: the refusals above are the defence, not a broken launcher.
    let ok = http.post(&launch).json(&json!({})).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let dashboard = http
        .post(&launch)
        .header("origin", server.base.clone())
        .header("sec-fetch-site", "same-origin")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    let ran = wait_for(WAIT, || async { marker.exists().then_some(()) }).await;
    assert!(ran.is_some(), "the allowed launch ran its command");
}

#[tokio::test]
async fn a_rebinding_host_is_refused_without_a_token() {
    let server = TestServer::with(|_| {}).await;
    let http = client();
    let refused = http
        .get(server.url("/api/v1/sessions"))
        .header("host", "evil.example:9800")
        .send()
        .await
        .unwrap();
    let message = expect_envelope(refused, 403, "FORBIDDEN").await;
    assert!(message.contains("evil.example"), "{message}");
    let mut request = server.ws_url("/ws/mux").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("host", "evil.example:9800".parse().unwrap());
    request
        .headers_mut()
        .insert("origin", "http://evil.example:9800".parse().unwrap());
    let upgrade = tokio_tungstenite::connect_async(request).await;
    assert!(upgrade.is_err(), "a rebinding page opened /ws/mux");
    // Loopback names still work, and `--allowed-host` adds names.
    for host in ["localhost", "127.0.0.1:1", "[::1]:9800"] {
        let ok = http
            .get(server.url("/api/v1/sessions"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{host}");
    }
    let named = TestServer::with(|a| a.allowed_hosts = vec!["mux.internal".into()]).await;
    let ok = http
        .get(named.url("/api/v1/sessions"))
        .header("host", "mux.internal:9800")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn with_a_token_any_host_passes_unless_listed() {
    let token = "rebind-token";
    let server = TestServer::with(|a| a.auth_token = Some(token.to_owned().into())).await;
    let http = client();
    let ok = http
        .get(server.url("/api/v1/sessions"))
        .header("host", "mux.example.com")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let listed = TestServer::with(|a| {
        a.auth_token = Some(token.to_owned().into());
        a.allowed_hosts = vec!["mux.example.com".into()];
    })
    .await;
    let refused = http
        .get(listed.url("/api/v1/sessions"))
        .header("host", "other.example.com")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    expect_envelope(refused, 403, "FORBIDDEN").await;
}

#[tokio::test]
async fn a_token_less_session_host_refuses_foreign_pages() {
    let dir = TempDir::new("host-origin");
    let host = Session::sh("exec sh", dir.path(), &[]).await;
    let ws_url = format!(
        "{}/ws?subscribe=pty",
        host.url.replacen("http://", "ws://", 1)
    );
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "a foreign page opened the session's /ws"
    );
    let typed = client()
        .post(host.api("/input"))
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"text":"echo hi","enter":true}"#)
        .send()
        .await
        .unwrap();
    expect_envelope(typed, 403, "FORBIDDEN").await;
    let rebound = client()
        .get(host.api("/status"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    expect_envelope(rebound, 403, "FORBIDDEN").await;
    // The mux (no Origin) and an allowed origin still connect.
    let (_ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("no Origin");
    host.stop().await;
    let allowed = Session::sh(
        "exec sh",
        dir.path(),
        &["--allowed-origin", "http://ok.example"],
    )
    .await;
    let ws_url = format!(
        "{}/ws?subscribe=pty",
        allowed.url.replacen("http://", "ws://", 1)
    );
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://ok.example".parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("allowed origin");
    allowed.stop().await;
}

/// Refusals and redirects answered before routing (401, 403, 303) carry the framing headers
/// too: a framed login redirect or error page is as clickable as the dashboard.
#[tokio::test]
async fn refusals_and_redirects_forbid_framing_too() {
    let server = TestServer::with(|a| a.auth_token = Some("s3cret".parse().unwrap())).await;
    let http = client();
    let replies = [
        (401, http.get(server.url("/api/v1/sessions"))),
        (
            403,
            http.post(server.url("/api/v1/sessions/launch"))
                .header("origin", "https://evil.example")
                .json(&json!({})),
        ),
        (303, http.get(server.url("/mux/anything"))),
    ];
    for (status, request) in replies {
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status().as_u16(), status);
        let header = |name: &str| reply.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("x-frame-options"), Some("DENY"), "{status}");
        assert_eq!(
            header("content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{status}"
        );
    }
}

#[tokio::test]
async fn no_page_may_frame_the_hub() {
    let server = TestServer::with(|_| {}).await;
    for path in ["/mux", "/api/v1/sessions", "/no/such/route"] {
        let reply = client().get(server.url(path)).send().await.unwrap();
        let header = |name: &str| {
            reply
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn startup_hooks_of_shells_and_runtimes_are_refused() {
    let dir = TempDir::new("hooks");
    let (server, marker) = marking_hub(&dir).await;
    for name in [
        "PROMPT_COMMAND",
        "BASH_FUNC_ls%%",
        "node_options",
        "PYTHONSTARTUP",
        "GIT_SSH_COMMAND",
        "GIT_CONFIG_COUNT",
        "LD_PRELOAD",
    ] {
        let reply = client()
            .post(server.url("/api/v1/sessions/launch"))
            .json(&json!({"env": {name: "touch /tmp/pwned"}}))
            .send()
            .await
            .unwrap();
        let message = expect_envelope(reply, 400, "BAD_REQUEST").await;
        assert!(message.contains(name), "{name}: {message}");
    }
    assert!(!marker.exists());
}

/// The session host's coop endpoints added beside the original API: each must sit behind the
/// same Host, Origin and token checks (docs/security.md), and a refused call changes nothing.
#[tokio::test]
async fn the_session_hosts_coop_endpoints_sit_behind_host_origin_and_token_checks() {
    let reads = [
        "/output",
        "/session/usage",
        "/session/profiles/mode",
        "/config/stop",
        "/config/start",
    ];
    let writes = [
        ("PUT", "/session/profiles/mode", json!({"mode": "manual"})),
        ("POST", "/session/restart", json!({})),
        ("PUT", "/config/stop", json!({"mode": "evil"})),
        ("PUT", "/config/start", json!({"text": "evil"})),
        ("POST", "/stop/resolve", json!({"body": "evil"})),
        ("POST", "/agent/nudge", json!({"message": "evil"})),
        ("POST", "/agent/respond", json!({"accept": true})),
    ];
    let http = client();
    let send = |method: &str, url: String| {
        http.request(method.parse().expect("method"), url)
            .header("content-type", "application/json")
    };

    // Token-less (the default): a foreign page may not write, a rebound name may not read.
    let dir = TempDir::new("host-routes");
    let open = Session::sh("exec sh", dir.path(), &[]).await;
    let pid = open.get_ok("/health").await["pid"].clone();
    for (method, path, body) in &writes {
        let reply = send(method, open.api(path))
            .header("origin", "http://evil.example")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 403, "FORBIDDEN").await;
    }
    for path in reads.iter().chain(["/livez", "/ready"].iter()) {
        let reply = send("GET", open.api(path))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 403, "FORBIDDEN").await;
    }
    assert_eq!(
        open.get_ok("/config/stop").await,
        json!({"mode": "allow"}),
        "stop config"
    );
    assert_eq!(
        open.get_ok("/config/start").await,
        json!({}),
        "start config"
    );
    assert_eq!(open.get_ok("/health").await["pid"], pid, "restarted");
    open.stop().await;

    // With a token: every one of them but the probes needs it.
    let guarded = Session::sh("exec sh", dir.path(), &["--auth-token", "host-secret"]).await;
    for path in reads {
        let reply = send("GET", guarded.api(path)).send().await.unwrap();
        expect_envelope(reply, 401, "UNAUTHORIZED").await;
    }
    for (method, path, body) in &writes {
        let reply = send(method, guarded.api(path))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        expect_envelope(reply, 401, "UNAUTHORIZED").await;
    }
    // Open: `/ready` is 503 until the shell's first output is seen, never 401.
    for probe in ["/livez", "/ready"] {
        let reply = send("GET", guarded.api(probe)).send().await.unwrap();
        let status = reply.status().as_u16();
        assert!(status == 200 || status == 503, "{probe}: {status}");
    }
    guarded.stop().await;
}

/// The favicon route, the page route (now the server's own, not Leptos's router) and the
/// symbols font are served through the default (token-less) hub's Host check like every other
/// path: a rebound name gets nothing.
#[tokio::test]
async fn the_favicon_and_page_routes_are_behind_the_host_check() {
    let server = TestServer::with(|_| {}).await;
    for path in ["/favicon.ico", "/mux", "/fonts/coopmux-symbols.woff2"] {
        let url = server.url(path);
        let served = client().get(&url).send().await.unwrap();
        assert_ne!(
            served.status().as_u16(),
            403,
            "the hub's own name was refused for {path}"
        );
        let rebound = client()
            .get(&url)
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        expect_envelope(rebound, 403, "FORBIDDEN").await;
    }
}
