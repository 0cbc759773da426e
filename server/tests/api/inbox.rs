//! The inbox and audit routes at the HTTP boundary: behind the Host, Origin and token checks
//! (docs/security.md), bad item ids and answers refused in the envelope, and the audit log
//! recording who answered, responded, nudged, launched, killed and changed credentials, in
//! `GET /api/v1/audit` (paged) and in `audit.jsonl` of the state directory.

use crate::support::{expect_envelope, get_json, register, MockUpstream, TestServer, WAIT};
use serde_json::{json, Value};

const TOKEN: &str = "inbox-test-token";

fn authed() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {TOKEN}");
    headers.insert("authorization", bearer.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(WAIT)
        .build()
        .unwrap()
}

async fn token_hub() -> TestServer {
    TestServer::with(|a| {
        a.auth_token = Some(TOKEN.parse().unwrap());
        a.launch = Some("true".to_owned());
    })
    .await
}

#[tokio::test]
async fn inbox_and_audit_routes_sit_behind_the_host_origin_and_token_checks() {
    // Without a token the Host allow-list stands guard (DNS rebinding); with one, the token.
    let open = TestServer::with(|_| {}).await;
    let guarded = token_hub().await;
    let anonymous = crate::support::client();
    let with_token = authed();
    let routes = [
        (reqwest::Method::GET, "/api/v1/inbox", 200),
        (reqwest::Method::GET, "/api/v1/audit", 200),
        // A well-formed id of a session the hub does not have.
        (reqwest::Method::POST, "/api/v1/inbox/nosuch:3/answer", 404),
    ];
    for (method, path, allowed) in routes {
        let request = |client: &reqwest::Client, server: &TestServer| {
            let r = client.request(method.clone(), server.url(path));
            if method == reqwest::Method::POST {
                r.json(&json!({"accept": true}))
            } else {
                r
            }
        };
        let rebound = (request(&anonymous, &open))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        expect_envelope(rebound, 403, "FORBIDDEN").await;
        let no_token = request(&anonymous, &guarded).send().await.unwrap();
        expect_envelope(no_token, 401, "UNAUTHORIZED").await;
        // A foreign page: refused when it would change something, unreadable otherwise (no
        // CORS grant).
        let foreign = (request(&anonymous, &open))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        if method == reqwest::Method::POST {
            expect_envelope(foreign, 403, "FORBIDDEN").await;
        } else {
            let cors = foreign.headers().get("access-control-allow-origin");
            assert!(cors.is_none(), "{path} grants {cors:?}");
        }
        let ok = request(&anonymous, &open).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), allowed, "{method} {path}");
        let ok = request(&with_token, &guarded).send().await.unwrap();
        assert_eq!(
            ok.status().as_u16(),
            allowed,
            "{method} {path} with the token"
        );
    }
    let inbox = get_json(&with_token, guarded.url("/api/v1/inbox")).await;
    assert_eq!(inbox, json!({"items": []}));
}

#[tokio::test]
async fn bad_item_ids_and_answers_are_refused_in_the_envelope() {
    let server = TestServer::with(|_| {}).await;
    let upstream = MockUpstream::start().await;
    assert!(register(&server, &upstream.url, Some("quiet"), json!({}))
        .await
        .status()
        .is_success());
    let http = crate::support::client();
    let post = |path: &str, body: Value| http.post(server.url(path)).json(&body).send();
    let no_seq = post("/api/v1/inbox/quiet/answer", json!({"accept": true}))
        .await
        .unwrap();
    expect_envelope(no_seq, 400, "BAD_REQUEST").await;
    // The session waits on nothing: the item is not its prompt, and nothing is sent.
    let stale = post("/api/v1/inbox/quiet:7/answer", json!({"accept": true}))
        .await
        .unwrap();
    let message = expect_envelope(stale, 409, "ITEM_CHANGED").await;
    assert!(message.contains("nothing was sent"), "{message}");
    let not_json = (http.post(server.url("/api/v1/inbox/quiet:7/answer")))
        .header("content-type", "text/plain")
        .body("yes")
        .send()
        .await
        .unwrap();
    expect_envelope(not_json, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let mistyped = post("/api/v1/inbox/quiet:7/answer", json!({"option": "one"}))
        .await
        .unwrap();
    expect_envelope(mistyped, 422, "UNPROCESSABLE_ENTITY").await;
    let bad_page = http
        .get(server.url("/api/v1/audit?after=x"))
        .send()
        .await
        .unwrap();
    expect_envelope(bad_page, 400, "BAD_REQUEST").await;
    let posts = upstream.state.posts.lock().unwrap().clone();
    assert!(posts.is_empty(), "nothing reached the session: {posts:?}");
}

#[tokio::test]
async fn the_audit_log_records_answers_nudges_launches_kills_and_credential_changes() {
    let server = token_hub().await;
    let http = authed();
    let upstream = MockUpstream::start().await;
    let reply = http
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"id": "audited", "url": upstream.url}))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    let post = |path: &str, body: Value| http.post(server.url(path)).json(&body).send();
    post(
        "/api/v1/sessions/audited/agent/nudge",
        json!({"message": "go on"}),
    )
    .await
    .unwrap();
    post(
        "/api/v1/sessions/audited/agent/respond",
        json!({"option": 2}),
    )
    .await
    .unwrap();
    post("/api/v1/inbox/audited:4/answer", json!({"accept": true}))
        .await
        .unwrap();
    post(
        "/api/v1/sessions/launch",
        json!({"env": {"TASK_KEY": "s3cret-value"}}),
    )
    .await
    .unwrap();
    post(
        "/api/v1/credentials/new",
        json!({"name": "acct", "provider": "openai", "token": "sk-secret"}),
    )
    .await
    .unwrap();
    http.delete(server.url("/api/v1/sessions/audited"))
        .send()
        .await
        .unwrap();
    // Reads are not audited.
    http.get(server.url("/api/v1/inbox")).send().await.unwrap();

    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let page = get_json(
            &http,
            server.url(&format!("/api/v1/audit?after={after}&limit=2")),
        )
        .await;
        let got = page["entries"].as_array().unwrap().clone();
        assert!(got.len() <= 2, "{page}");
        entries.extend(got);
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["nudge", "respond", "answer", "launch", "credential", "kill"],
        "{entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry["principal"], "bearer", "{entry}");
        assert!(entry["at_ms"].as_u64().unwrap() > 0);
    }
    assert_eq!(entries[0]["sent"], json!({"message": "go on"}));
    assert_eq!(entries[0]["session"], "audited");
    assert_eq!(entries[1]["sent"], json!({"option": 2}));
    assert_eq!(
        (&entries[2]["item"], &entries[2]["session"]),
        (&json!("audited:4"), &json!("audited"))
    );
    assert_eq!(
        entries[2]["status"], 409,
        "the stale answer is recorded as refused"
    );
    assert_eq!(entries[3]["sent"], json!({"env": ["TASK_KEY"]}));
    assert_eq!(entries[4]["sent"], json!({"account": "acct"}));
    assert_eq!(
        (&entries[5]["session"], &entries[5]["request"]),
        (&json!("audited"), &json!("DELETE /api/v1/sessions/audited"))
    );
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        !text.contains("s3cret") && !text.contains("sk-secret") && !text.contains(TOKEN),
        "{text}"
    );

    // The same entries, one JSON line each, in the state directory.
    let dir = server.hub.config.state_dir.clone().unwrap();
    let path = dir.join("audit.jsonl");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "private");
    let file = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, entries);
}

#[tokio::test]
async fn a_notify_url_that_is_not_http_stops_the_hub_naming_it() {
    for bad in ["ftp://example.test/hook", "not a url"] {
        let args = crate::support::hub_args(|a| a.notify_urls = vec![bad.to_owned()]);
        let err = coopmux::hub::serve::Bound::bind(args)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(bad), "{err}");
    }
}
