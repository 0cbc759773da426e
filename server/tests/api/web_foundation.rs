//! The hub's foundation routes, driven through a real server on a loopback port.

use crate::support::{client, state_dir, TestServer, WAIT};
use clap::Parser;
use coopmux::{commands::Cli, hub::serve::Bound};
use futures_util::StreamExt;

/// Starts a hub on 127.0.0.1:0 from the command line `coopmux --host 127.0.0.1 --port 0
/// EXTRA…` (the flags' own defaults, not the test ones).
async fn start(extra: &[&str]) -> TestServer {
    let mut argv = vec!["coopmux", "--host", "127.0.0.1", "--port", "0"];
    argv.extend_from_slice(extra);
    let mut args = Cli::parse_from(argv).serve;
    args.state_dir = Some(state_dir());
    TestServer::start(args).await
}

#[tokio::test]
async fn health_reports_running_and_zero_sessions() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let res = client()
        .get(format!("{url}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "running", "session_count": 0})
    );
}

#[tokio::test]
async fn root_redirects_to_the_dashboard() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let res = client().get(format!("{url}/")).send().await.unwrap();
    assert!(res.status().is_redirection(), "status {}", res.status());
    assert_eq!(res.headers()["location"], "/mux");
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_hydration_and_import_map() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let res = client().get(format!("{url}/mux")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html:.200}");
    assert!(html.contains("<h1>coopmux</h1>"));
    assert!(
        html.contains("0 sessions"),
        "session count rendered: {html}"
    );
    assert!(html.contains(r#"type="importmap""#));
    // `xterm.mjs`, or `xterm.HASH.mjs` when the built site is found (server/src/hub/web.rs).
    let xterm = html.split("\"/vendor/xterm.").nth(1).unwrap_or_default();
    let name = xterm.split('"').next().unwrap_or_default();
    assert!(
        name == "mjs" || name.ends_with(".mjs"),
        "xterm in the import map: {html}"
    );
    assert!(html.contains("/pkg/coopmux.js"), "hydration script: {html}");
}

#[tokio::test]
async fn session_count_server_function_answers() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let res = client()
        .post(format!("{url}/api/fn/session_count"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let count: usize = res.json().await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn ws_mux_sends_a_sessions_snapshot_on_connect() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let ws_url = url.replacen("http://", "ws://", 1) + "/ws/mux";
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("connect");
    let first = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame")
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(
        event,
        serde_json::json!({"event": "sessions", "sessions": []})
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_envelope() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let res = client()
        .get(format!("{url}/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");

    let res = client()
        .delete(format!("{url}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn shutdown_token_stops_the_server() {
    let state_dir = state_dir().display().to_string();
    let argv = [
        "coopmux",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-dir",
        &state_dir,
    ];
    let bound = Bound::bind(Cli::parse_from(argv).serve).await.unwrap();
    let token = bound.shutdown_token();
    let task = tokio::spawn(bound.serve());
    token.cancel();
    let result = tokio::time::timeout(WAIT, task)
        .await
        .expect("stops in time");
    assert!(result.unwrap().is_ok());
}

#[tokio::test]
async fn launch_server_function_answers_like_the_rest_endpoint() {
    let hub = start(&["--launch", "exit 0"]).await;
    let url = &hub.base;
    let call = |body: &'static str| {
        client()
            .post(format!("{url}/api/fn/launch"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // A refused variable: the failure carries the REST status and message, and the
    // response has that status too (not Leptos's blanket 500).
    let res = call(r#"{"env":{"LD_PRELOAD":"/tmp/x.so"}}"#).await.unwrap();
    assert_eq!(res.status(), 400);
    let failure: serde_json::Value = res.json().await.unwrap();
    assert_eq!(failure["status"], 400, "{failure}");
    assert!(
        failure["message"].as_str().unwrap().contains("LD_PRELOAD"),
        "{failure}"
    );
    // Arguments that do not decode are the caller's mistake: 400, with the reason.
    for body in [r#"{"env":5}"#, "not json", r#"{}"#] {
        let res = call(body).await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let failure: serde_json::Value = res.json().await.unwrap();
        assert_eq!(failure["status"], 400, "{body}: {failure}");
        assert!(
            !failure["message"].as_str().unwrap().is_empty(),
            "{failure}"
        );
    }
    // An empty map is a valid launch.
    let res = call(r#"{"env":{}}"#).await.unwrap();
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["launched"], true, "{done}");
    assert!(done["session_id"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn dashboard_session_functions_answer_for_unknown_sessions() {
    let hub = start(&[]).await;
    let url = &hub.base;
    let call = |name: &str, body: &'static str| {
        client()
            .post(format!("{url}/api/fn/{name}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Sessions that are not registered are left out of the states.
    let res = call("session_states", r#"{"ids":["nope","also-nope"]}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let states: serde_json::Value = res.json().await.unwrap();
    assert_eq!(states, serde_json::json!({}));
    // An unknown session is a 404, as on the REST routes.
    for name in ["session_screen", "dismiss_session"] {
        let res = call(name, r#"{"id":"nope"}"#).await.unwrap();
        assert_eq!(res.status(), 404, "{name}");
        let failure: serde_json::Value = res.json().await.unwrap();
        assert_eq!(failure["status"], 404, "{name}: {failure}");
    }
    let res = call(
        "session_action",
        r#"{"id":"nope","action":{"action":"restart"}}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
}
