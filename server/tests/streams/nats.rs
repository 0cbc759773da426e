//! Discovery over NATS with a real `nats-server` (docs/scaling.md): our own host found with
//! HTTP registration off under both default prefixes, `offline` and the announce timeout,
//! status and state (also as the dashboard reads it), text input over NATS (REST and
//! `/ws/mux`) and raw input over HTTP, NATS down at start, HTTP
//! sessions through a NATS outage, and the link's state in health and metrics.

use crate::support::nats::free_port;
use crate::support::{
    client, eventually, expect_envelope, metric, metrics, register, Events, NatsServer, Opts,
    Session, TestServer,
};
use serde_json::{json, Value};

/// A hub following NATS at `url` (announce timeout `timeout_ms`).
async fn hub(url: &str, timeout_ms: u64) -> TestServer {
    let url = url.to_owned();
    TestServer::with(move |a| {
        a.nats.url = Some(url);
        a.nats.announce_timeout_ms = timeout_ms;
    })
    .await
}

/// A hub on a running NATS server, once it is connected (its subscriptions follow at once;
/// a host process takes far longer to start and announce).
async fn connected_hub(nats: &NatsServer, timeout_ms: u64) -> TestServer {
    let server = hub(&nats.url, timeout_ms).await;
    eventually("NATS connected", || async {
        (nats_state(&server).await == "connected").then_some(())
    })
    .await;
    server
}

/// Publishes an `online` announce for `id` until the hub lists it (NATS keeps nothing for a
/// subscriber that is not there yet, so the test repeats it as coop's heartbeat would).
async fn announce_until_listed(server: &TestServer, bus: &async_nats::Client, id: &str) {
    let announce = json!({"event": "online", "session_id": id, "ts": 1}).to_string();
    eventually(&format!("{id} announced"), || async {
        let subject = format!("coop.events.session.{id}.announce");
        bus.publish(subject, announce.clone().into()).await.ok()?;
        bus.flush().await.ok()?;
        let (_, list) = get(server, "/api/v1/sessions").await;
        list.as_array()?.iter().any(|s| s["id"] == id).then_some(())
    })
    .await;
}

/// `coopmux session -- sh` on NATS at `nats` under `prefix` (coop's default when `None`),
/// announcing `COOP_URL` when `with_url`. Not registered over HTTP (`COOP_MUX_URL` unset).
async fn nats_host(nats: &str, prefix: Option<&str>, with_url: bool) -> Session {
    let port = free_port();
    let mut env = vec![
        ("COOP_NATS_URL", nats.to_owned()),
        ("COOP_NATS_RELAY", "1".to_owned()),
        ("COOP_MUX_SESSION_ID", format!("nats-{port}")),
    ];
    if let Some(prefix) = prefix {
        env.push(("COOP_NATS_PREFIX", prefix.to_owned()));
    }
    if with_url {
        env.push(("COOP_URL", format!("http://127.0.0.1:{port}")));
    }
    let opts = Opts {
        flags: vec![
            "--port".into(),
            port.to_string(),
            "--label".into(),
            "team=blue".into(),
        ],
        env,
        ..Opts::default()
    };
    Session::start_with(opts, &["sh"]).await
}

fn host_id(host: &Session) -> String {
    format!("nats-{}", host.url.rsplit(':').next().unwrap())
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let r = client().get(server.url(path)).send().await.expect("get");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("post")
}

/// Waits until the hub lists `id` and returns its entry.
async fn listed(server: &TestServer, id: &str) -> Value {
    eventually(&format!("{id} listed"), || async {
        let (_, list) = get(server, "/api/v1/sessions").await;
        list.as_array()?.iter().find(|s| s["id"] == id).cloned()
    })
    .await
}

async fn nats_state(server: &TestServer) -> String {
    let (_, health) = get(server, "/api/v1/health").await;
    health["nats"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn our_host_is_found_on_nats_with_a_url_and_gets_screens_and_http_input() {
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 90_000).await;
    let host = nats_host(&nats.url, None, true).await;
    let id = host_id(&host);
    let entry = listed(&server, &id).await;
    assert_eq!(entry["url"], host.url, "{entry}");
    assert_eq!(entry["metadata"]["team"], "blue", "{entry}");
    // Reachable url: raw input goes over HTTP and the screen comes back over HTTP.
    let raw = post(
        &server,
        &format!("/api/v1/sessions/{id}/input/raw"),
        json!({"data": "ZWNobyByYXctb2sK"}),
    )
    .await;
    assert_eq!(raw.status(), 200);
    host.wait_text("raw-ok").await;
    let (status, screen) = get(&server, &format!("/api/v1/sessions/{id}/screen")).await;
    assert_eq!(status, 200, "{screen}");
    assert!(screen["lines"].is_array(), "{screen}");
    // A session that also registers over HTTP stays one session.
    let again = register(&server, &host.url, Some(&id), json!({})).await;
    assert_eq!(again.status(), 200);
    let (_, list) = get(&server, "/api/v1/sessions").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn the_reference_prefix_is_followed_and_url_less_sessions_take_text_over_nats_only() {
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 90_000).await;
    let host = nats_host(&nats.url, Some("coop.mux"), false).await;
    let id = host_id(&host);
    let entry = listed(&server, &id).await;
    assert_eq!(entry["url"], "", "{entry}");
    let sent = post(
        &server,
        &format!("/api/v1/sessions/{id}/input"),
        json!({"text": "echo over-nats", "enter": true}),
    )
    .await;
    assert_eq!(sent.status(), 200);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!(sent["transport"], "nats", "{sent}");
    assert_eq!(sent["subject"], format!("coop.mux.session.{id}.input"));
    host.wait_text("over-nats").await;
    for (path, body) in [
        ("input/raw", json!({"data": "eA=="})),
        ("input/keys", json!({"keys": ["enter"]})),
    ] {
        let r = post(&server, &format!("/api/v1/sessions/{id}/{path}"), body).await;
        let message = expect_envelope(r, 409, "NO_URL").await;
        assert!(message.contains(&id), "{message}");
    }
    let bad = post(
        &server,
        &format!("/api/v1/sessions/{id}/input"),
        json!({"keys": []}),
    )
    .await;
    expect_envelope(bad, 422, "UNPROCESSABLE_ENTITY").await;
}

#[tokio::test]
async fn ws_mux_input_to_a_url_less_session_is_published_and_resize_is_a_clear_error() {
    use futures_util::StreamExt;
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 90_000).await;
    let bus = nats.client().await;
    let mut inputs = bus
        .subscribe("coop.events.session.quiet.input")
        .await
        .unwrap();
    bus.flush().await.unwrap();
    announce_until_listed(&server, &bus, "quiet").await;
    let mut ws = crate::support::Ws::connect(&server.ws_url("/ws/mux")).await;
    ws.wait_event("sessions").await;
    ws.send(json!({"event": "input:send", "session": "quiet", "text": "ls", "enter": true}))
        .await;
    let published = tokio::time::timeout(crate::support::WAIT, inputs.next())
        .await
        .expect("input published on NATS")
        .unwrap();
    let body: Value = serde_json::from_slice(&published.payload).unwrap();
    assert_eq!(body, json!({"text": "ls", "enter": true}));
    // coop drops a resize sent over NATS: the client is told, with the session and why.
    ws.send(json!({"event": "resize", "session": "quiet", "cols": 100, "rows": 30}))
        .await;
    let error = ws
        .wait_for(crate::support::WAIT, |e| e["event"] == "error")
        .await;
    assert_eq!(error["session"], "quiet", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("NO_URL") && message.contains("/api/v1/resize"),
        "{message}"
    );
}

#[tokio::test]
async fn offline_removes_a_session_and_silence_past_the_timeout_too() {
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 1_000).await;
    let events = Events::connect(&server.base).await;
    let mut host = nats_host(&nats.url, None, false).await;
    let id = host_id(&host);
    listed(&server, &id).await;
    // A graceful stop publishes `offline`.
    let pid = host.child.id().expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let _ = host.child.wait().await;
    events
        .wait("offline", |e| {
            e["event"] == "session:offline" && e["session"] == id
        })
        .await;
    // One announce and then nothing: gone after the (1 s) timeout.
    let bus = nats.client().await;
    announce_until_listed(&server, &bus, "quiet").await;
    events
        .wait("expiry", |e| {
            e["event"] == "session:offline" && e["session"] == "quiet"
        })
        .await;
}

#[tokio::test]
async fn status_fills_the_cache_and_state_reaches_watchers_only_for_known_sessions() {
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 90_000).await;
    let bus = nats.client().await;
    let publish = |subject: &str, body: Value| {
        let bus = bus.clone();
        let subject = subject.to_owned();
        async move {
            bus.publish(subject, body.to_string().into()).await.unwrap();
            bus.flush().await.unwrap();
        }
    };
    announce_until_listed(&server, &bus, "known").await;
    // coop's status has no fetched_at: the hub stamps it.
    publish(
        "coop.events.session.known.status",
        json!({"session_id": "known", "state": "idle", "uptime_secs": 7}),
    )
    .await;
    let status = eventually("status cached", || async {
        let (code, s) = get(&server, "/api/v1/sessions/known/status").await;
        (code == 200 && s["uptime_secs"] == 7).then_some(s)
    })
    .await;
    assert_eq!(status["state"], "idle");
    assert!(
        status["fetched_at"].as_u64().unwrap() > 1_600_000_000_000,
        "{status}"
    );

    // The dashboard reads a session's live status through the same call as the proxy: for
    // a session without url, what it published on NATS.
    let states = crate::support::client()
        .post(server.url("/api/fn/session_states"))
        .json(&json!({"ids": ["known"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(states.status(), 200);
    let states: Value = states.json().await.unwrap();
    assert_eq!(states["known"]["uptime_secs"], 7, "{states}");

    let url = server.ws_url("/ws/mux");
    let mut ws = crate::support::Ws::connect(&url).await;
    ws.wait_event("sessions").await;
    ws.send(json!({"event": "subscribe", "sessions": ["known", "stranger"]}))
        .await;
    let transition = |id: &str, seq: u64| json!({"prev": "working", "next": "idle", "seq": seq, "cause": "test", "session_id": id, "agent": "x"});
    // Sent first; NATS keeps one publisher's order, so it is handled before the second.
    publish(
        "coop.events.session.stranger.state",
        transition("stranger", 1),
    )
    .await;
    publish("coop.events.session.known.state", transition("known", 2)).await;
    let seen = ws
        .wait_for(crate::support::WAIT, |e| e["event"] == "transition")
        .await;
    assert_eq!(seen["session"], "known", "{seen}");
    assert_eq!(seen["seq"], 2);
    assert_eq!(seen["cause"], "test");
}

#[tokio::test]
async fn nats_down_at_start_is_retried_and_shows_in_health_and_metrics() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let server = hub(&url, 90_000).await;
    // An HTTP session works while NATS is down.
    let http_host = Session::start(&[], &["sh"]).await;
    let r = register(&server, &http_host.url, Some("plain"), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(nats_state(&server).await, "connecting");
    assert_eq!(
        metric(&metrics(&server).await, "coopmux_nats_connected"),
        0.0
    );

    let nats = NatsServer::start_on(port).await;
    eventually("connected", || async {
        (nats_state(&server).await == "connected").then_some(())
    })
    .await;
    assert_eq!(
        metric(&metrics(&server).await, "coopmux_nats_connected"),
        1.0
    );
    let host = nats_host(&nats.url, None, false).await;
    listed(&server, &host_id(&host)).await;

    // NATS goes away: the link says so, HTTP sessions keep working.
    drop(nats);
    eventually("disconnected", || async {
        (nats_state(&server).await == "disconnected").then_some(())
    })
    .await;
    let typed = post(
        &server,
        "/api/v1/sessions/plain/input",
        json!({"text": "echo still-here", "enter": true}),
    )
    .await;
    assert_eq!(typed.status(), 200);
    http_host.wait_text("still-here").await;
    assert_eq!(
        metric(&metrics(&server).await, "coopmux_nats_connected"),
        0.0
    );
}

/// Whoever can reach an unauthenticated NATS server reads the hubs' buckets: the hub says so
/// in its health (and log) until it is given an account of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_without_authentication_is_warned_about() {
    let open = NatsServer::start_plain().await;
    let server = connected_hub(&open, 90_000).await;
    let (_, health) = get(&server, "/api/v1/health").await;
    let warnings = health["warnings"].to_string();
    assert!(warnings.contains("requires no authentication"), "{health}");

    let guarded = NatsServer::start_with_token("nats-secret").await;
    let url = guarded.url.clone();
    let server = TestServer::with(move |a| {
        a.nats.url = Some(url);
        a.nats.token = Some("nats-secret".parse().unwrap());
    })
    .await;
    eventually("NATS connected", || async {
        (nats_state(&server).await == "connected").then_some(())
    })
    .await;
    let (_, health) = get(&server, "/api/v1/health").await;
    assert!(health.get("warnings").is_none(), "{health}");
}

/// The next message on `subscription`, as JSON.
async fn next_json(subscription: &mut async_nats::Subscriber) -> Value {
    use futures_util::StreamExt;
    let message = tokio::time::timeout(crate::support::WAIT, subscription.next())
        .await
        .expect("a NATS message in time")
        .expect("subscription open");
    serde_json::from_slice(&message.payload).expect("JSON")
}

/// As coop 0.11.25 for a plain command: the event stream (`{prefix}.state`) and the relay's
/// `.state` carry `transition` and `exit` pushes tagged by `event`, a `.nudge` types nothing,
/// and the hub turns the relayed exit into a transition to `exited`.
#[tokio::test]
async fn our_host_publishes_state_and_exit_as_coop_and_a_nudge_types_nothing() {
    let nats = NatsServer::start().await;
    let server = connected_hub(&nats, 90_000).await;
    let bus = nats.client().await;
    let mut stream = bus.subscribe("coop.events.state").await.unwrap();
    let mut relayed = bus.subscribe("coop.events.session.*.state").await.unwrap();
    bus.flush().await.unwrap();
    let port = free_port();
    let id = format!("nats-{port}");
    let opts = Opts {
        flags: vec![
            "--port".into(),
            port.to_string(),
            "--idle-ms".into(),
            "600000".into(),
        ],
        env: vec![
            ("COOP_NATS_URL", nats.url.clone()),
            ("COOP_NATS_RELAY", "1".to_owned()),
            ("COOP_MUX_SESSION_ID", id.clone()),
            ("RUST_LOG", "info".to_owned()),
        ],
        ..Opts::default()
    };
    let script = "stty -echo; read line; echo got-$line; read more; exit 7";
    let host = Session::start_with(opts, &["sh", "-c", script]).await;
    listed(&server, &id).await;
    let mut feed = crate::support::Ws::connect(&server.ws_url("/ws/mux")).await;
    feed.wait_event("sessions").await;
    feed.send(json!({"event": "subscribe", "sessions": [id]}))
        .await;
    bus.publish(
        format!("coop.events.session.{id}.nudge"),
        json!({"message": "nudged"}).to_string().into(),
    )
    .await
    .unwrap();
    bus.flush().await.unwrap();
    eventually("the nudge handled", || async {
        (!host.log_lines("NATS request not carried out").is_empty()).then_some(())
    })
    .await;
    // Nothing was typed: the script's first line is the next input.
    let typed = host
        .post("/input", json!({"text": "typed", "enter": true}))
        .await;
    assert_eq!(typed.0, 200, "{typed:?}");
    host.wait_text("got-typed").await;
    let working = next_json(&mut stream).await;
    assert_eq!(
        (&working["event"], &working["next"], &working["cause"]),
        (
            &json!("transition"),
            &json!("working"),
            &json!("process:activity")
        ),
        "{working}"
    );
    let relayed_working = next_json(&mut relayed).await;
    assert_eq!(
        (&relayed_working["event"], &relayed_working["session_id"]),
        (&json!("transition"), &json!(id)),
        "{relayed_working}"
    );
    host.post("/input", json!({"text": "bye", "enter": true}))
        .await;
    let exit = next_json(&mut stream).await;
    assert_eq!(exit, json!({"event": "exit", "code": 7, "signal": null}));
    let relayed_exit = next_json(&mut relayed).await;
    assert_eq!(
        (
            &relayed_exit["event"],
            &relayed_exit["code"],
            &relayed_exit["session_id"]
        ),
        (&json!("exit"), &json!(7), &json!(id)),
        "{relayed_exit}"
    );
    let exited = feed
        .wait_for(crate::support::WAIT, |e| {
            e["event"] == "transition" && e["next"] == "exited"
        })
        .await;
    assert_eq!(exited["session"], id, "{exited}");
}
