//! Replicas sharing one fleet through a real JetStream `nats-server` (docs/scaling.md,
//! "Replicas sharing one fleet"), on both supported servers: a session registered on A is
//! listed, proxied and streamed on B, its heartbeat seen there, and a DELETE on B removes it
//! on A; a dead upstream is evicted exactly once; the `/ws/mux` snapshot has the same order on
//! both; a launch on A whose child registers through B is linked on A, its token still
//! confined there; plain NATS keeps the registry local.

use crate::support::nats::Server;
use crate::support::procs::bin;
use crate::support::ws::bridge;
use crate::support::{
    client, eventually, metric, metrics, register, wait_for, Events, MockUpstream, NatsServer,
    Session, TempDir, TestServer, LONG_WAIT, WAIT,
};
use serde_json::{json, Value};
use std::time::Duration;

/// How soon a change through one replica must show on the other.
const VISIBLE_WITHIN: Duration = Duration::from_secs(1);

/// A hub on `nats` once its fleet reads `fleet` in `/api/v1/health`.
async fn replica_with(
    nats: &NatsServer,
    fleet: &str,
    tweak: impl FnOnce(&mut coopmux::cli::ServeArgs),
) -> TestServer {
    let url = nats.url.clone();
    let server = TestServer::with(move |a| {
        a.nats.url = Some(url);
        tweak(a);
    })
    .await;
    eventually(&format!("fleet {fleet}"), || async {
        let health = get(&server, "/api/v1/health").await.1;
        (health["fleet"] == fleet).then_some(())
    })
    .await;
    server
}

async fn replica(nats: &NatsServer) -> TestServer {
    replica_with(nats, "shared", |_| {}).await
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let r = client().get(server.url(path)).send().await.expect("get");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The listed session `id` on `server`, once `pred` holds for it (within `limit`).
async fn listed_within(
    server: &TestServer,
    id: &str,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    wait_for(limit, || async {
        let (_, list) = get(server, "/api/v1/sessions").await;
        list.as_array()?
            .iter()
            .find(|s| s["id"] == id && pred(s))
            .cloned()
    })
    .await
}

async fn ids(server: &TestServer) -> Vec<String> {
    let (_, list) = get(server, "/api/v1/sessions").await;
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

fn count(events: &Events, name: &str, id: &str) -> usize {
    let all: Vec<Value> = serde_json::from_str(&events.text()).unwrap();
    all.iter()
        .filter(|e| e["event"] == name && e["session"] == id)
        .count()
}

async fn registered_on_a_is_listed_proxied_streamed_and_updated_on_b_and_deleted_through_b(
    server: Server,
) {
    let nats = NatsServer::start_version(server).await;
    let a = replica(&nats).await;
    let b = replica(&nats).await;
    let host = Session::start(&[], &["sh"]).await;
    host.type_line("echo replicated-marker").await;
    host.wait_text("replicated-marker").await;
    let a_events = Events::connect(&a.base).await;

    let reply = register(&a, &host.url, Some("r1"), json!({"metadata": {"v": 1}})).await;
    assert_eq!(reply.status(), 200);
    let seen = listed_within(&b, "r1", VISIBLE_WITHIN, |_| true).await;
    assert!(
        seen.is_some(),
        "r1 not on B within a second: {:?}",
        ids(&b).await
    );
    assert_eq!(seen.unwrap()["url"], host.url);

    // Proxied on B: B opens its own connection to the upstream.
    let (status, screen) = get(&b, "/api/v1/sessions/r1/screen").await;
    assert_eq!(status, 200, "{screen}");
    // Streamed on B: its own bridge, with the host's output log.
    let mut ws = bridge(&b, "r1", "subscribe=pty").await;
    ws.send(json!({"event": "replay:get", "offset": 0})).await;
    let replay = ws.wait_for(WAIT, |f| f["event"] == "replay").await;
    let data = replay["data"].as_str().unwrap_or_default();
    assert!(!data.is_empty() && replay["offset"] == 0, "{replay}");

    // A heartbeat with new metadata through A is seen on B.
    let reply = register(&a, &host.url, Some("r1"), json!({"metadata": {"v": 2}})).await;
    assert_eq!(reply.status(), 200);
    let updated = listed_within(&b, "r1", VISIBLE_WITHIN, |s| s["metadata"]["v"] == 2).await;
    assert!(updated.is_some(), "heartbeat not seen on B");

    // DELETE on B: gone on A, with `session:offline` on A's feed.
    let resp = client()
        .delete(b.url("/api/v1/sessions/r1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let gone = wait_for(VISIBLE_WITHIN, || async {
        (!ids(&a).await.contains(&"r1".to_owned())).then_some(())
    })
    .await;
    assert!(gone.is_some(), "r1 still on A: {:?}", ids(&a).await);
    a_events
        .wait("session:offline r1 on A", |e| {
            e["event"] == "session:offline" && e["session"] == "r1"
        })
        .await;
    assert_eq!(
        count(&a_events, "session:online", "r1"),
        1,
        "{}",
        a_events.text()
    );
}

async fn a_dead_upstream_is_evicted_exactly_once_across_replicas(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let checks = |a: &mut coopmux::cli::ServeArgs| {
        a.health_check_ms = 50;
        a.max_health_failures = 2;
    };
    let a = replica_with(&nats, "shared", checks).await;
    let b = replica_with(&nats, "shared", checks).await;
    let mut upstream = MockUpstream::start().await;
    let (a_events, b_events) = (
        Events::connect(&a.base).await,
        Events::connect(&b.base).await,
    );
    assert_eq!(
        register(&a, &upstream.url, Some("dead"), json!({}))
            .await
            .status(),
        200
    );
    b_events
        .wait("online on B", |e| {
            e["event"] == "session:online" && e["session"] == "dead"
        })
        .await;

    upstream.kill().await;
    for (name, events) in [("A", &a_events), ("B", &b_events)] {
        events
            .wait(&format!("offline on {name}"), |e| {
                e["event"] == "session:offline" && e["session"] == "dead"
            })
            .await;
    }
    // Neither replica holds it any more, so no later check can evict it again.
    let evictions = eventually("the eviction counted", || async {
        let sum = metric(&metrics(&a).await, "coopmux_evictions_total")
            + metric(&metrics(&b).await, "coopmux_evictions_total");
        (sum >= 1.0).then_some(sum)
    })
    .await;
    assert_eq!(evictions, 1.0, "exactly one replica evicts");
    assert_eq!(
        count(&a_events, "session:offline", "dead"),
        1,
        "{}",
        a_events.text()
    );
    assert_eq!(
        count(&b_events, "session:offline", "dead"),
        1,
        "{}",
        b_events.text()
    );
}

async fn the_mux_snapshot_has_the_same_order_on_both_replicas(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let a = replica(&nats).await;
    let b = replica(&nats).await;
    let mut upstreams = Vec::new();
    // Ids against the alphabet, registered alternately through A and B.
    let names = ["z1", "m2", "a3", "y4", "b5", "k6"];
    for (i, id) in names.iter().enumerate() {
        let upstream = MockUpstream::start().await;
        let through = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            register(through, &upstream.url, Some(id), json!({}))
                .await
                .status(),
            200
        );
        upstreams.push(upstream);
        // Each registration is seen on both before the next, so the order is the test's.
        for server in [&a, &b] {
            assert!(listed_within(server, id, VISIBLE_WITHIN, |_| true)
                .await
                .is_some());
        }
    }
    let snapshot = |events: Events| {
        let all: Vec<Value> = serde_json::from_str(&events.text()).unwrap();
        all[0]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let on_a = snapshot(Events::connect(&a.base).await);
    let on_b = snapshot(Events::connect(&b.base).await);
    assert_eq!(on_a, names, "registration order on A");
    assert_eq!(on_b, on_a, "same order on B");
}

async fn a_launch_on_a_whose_child_registers_through_b_is_linked_on_a(server: Server) {
    const TOKEN: &str = "replica-test-token";
    let nats = NatsServer::start_version(server).await;
    let b = replica_with(&nats, "shared", |a| {
        a.auth_token = Some(TOKEN.to_owned().into())
    })
    .await;
    let dir = TempDir::new("replica-launch");
    let env_file = dir.join("env");
    let command = format!(
        "env > '{}'; exec {} session -- sh -c 'exec sleep 60'",
        env_file.display(),
        bin()
    );
    let b_url = b.base.clone();
    let a = replica_with(&nats, "shared", move |a| {
        a.auth_token = Some(TOKEN.to_owned().into());
        a.launch = Some(command);
        // The child is told to register through B.
        a.advertise_url = Some(b_url);
    })
    .await;
    let authed = |req: reqwest::RequestBuilder| req.bearer_auth(TOKEN);
    let reply: Value = authed(client().post(a.url("/api/v1/sessions/launch")))
        .json(&json!({"env": {"COOP_MUX_SESSION_ID": "launched-1"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let launch_id = reply["launch_id"].as_str().expect("launch id").to_owned();
    let record = wait_for(LONG_WAIT, || async {
        let url = a.url(&format!("/api/v1/launches/{launch_id}"));
        let record: Value = authed(client().get(url))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (record["state"] == "registered").then_some(record)
    })
    .await;
    assert!(record.is_some(), "launch on A never linked");
    assert_eq!(record.unwrap()["session_id"], "launched-1");
    // The child's own token registered it through B, and is still limited to that id there.
    let env = std::fs::read_to_string(&env_file).unwrap();
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("COOP_MUX_TOKEN="))
        .expect("a launch token")
        .to_owned();
    assert_ne!(token, TOKEN);
    let other = client()
        .post(b.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&json!({"url": "http://127.0.0.1:9", "id": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403, "{:?}", other.text().await);
    let list = authed(client().get(b.url("/api/v1/sessions")))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let fleet = a.hub.fleet.clone().expect("fleet");
    let linked = wait_for(WAIT, || async { fleet.launch_session(&launch_id).await }).await;
    assert_eq!(
        linked.as_deref(),
        Some("launched-1"),
        "launch link in the bucket"
    );
}

super::on_both_servers!(
    registered_on_a_is_listed_proxied_streamed_and_updated_on_b_and_deleted_through_b,
    a_dead_upstream_is_evicted_exactly_once_across_replicas,
    the_mux_snapshot_has_the_same_order_on_both_replicas,
    a_launch_on_a_whose_child_registers_through_b_is_linked_on_a,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_nats_keeps_the_registry_local() {
    let nats = NatsServer::start_plain().await;
    let a = replica_with(&nats, "local", |_| {}).await;
    let b = replica_with(&nats, "local", |_| {}).await;
    let upstream = MockUpstream::start().await;
    assert_eq!(
        register(&a, &upstream.url, Some("solo"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(ids(&a).await, ["solo"]);
    let (_, health) = get(&a, "/api/v1/health").await;
    assert_eq!(health["nats"], "connected", "{health}");
    assert!(
        ids(&b).await.is_empty(),
        "B shares nothing without JetStream"
    );
}
