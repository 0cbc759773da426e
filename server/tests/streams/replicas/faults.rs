//! Replicas under faults (docs/scaling.md, "When NATS is down", "The conflict rule"), each
//! numbered case of issue 26 on two or three `coopmux` processes and a real `nats-server -js`
//! that is stopped, killed, frozen or emptied, or a replica that is paused: nothing done
//! meanwhile is undone, and after recovery every replica and the buckets hold what one hub
//! would.

use super::cluster::{
    all_cut_off, all_shared, bucket, bucket_sessions, converged, delete, evictions, health,
    marker_round, offline_count, register_ok, replica, state_is, CONVERGE, QUICK_CHECKS,
};
use crate::support::nats::Server;
use crate::support::procs::bin;
use crate::support::{wait_for, Events, MockUpstream, NatsServer, Session, LONG_WAIT};
use nix::sys::signal::Signal;
use protocol::fleet::TokenRecord;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Case 1: sessions deleted and metadata changed on B while NATS is stopped (SIGTERM, then
/// SIGKILL) stay deleted and changed on both replicas and in the bucket.
async fn deletes_and_updates_made_during_a_nats_outage_survive_it(server: Server) {
    let mut nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &[], &[]).await;
    let b = replica(&nats, &[], &[]).await;
    let host = Session::start(&[], &["sh"]).await;
    let mut upstreams = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 1..=4 {
        let upstream = MockUpstream::start().await;
        let id = format!("s{i}");
        register_ok(&a, &id, &upstream.url, json!({"v": 1})).await;
        expected.insert(id, (upstream.url.clone(), json!({"v": 1})));
        upstreams.push(upstream);
    }
    register_ok(&a, "real", &host.url, json!({"v": 1})).await;
    expected.insert("real".into(), (host.url.clone(), json!({"v": 1})));
    converged(&[&a, &b], &expected).await;

    nats.stop(Signal::SIGTERM);
    all_cut_off(&[&a, &b]).await;
    assert_eq!(delete(&b, "s1").await, 200);
    assert_eq!(delete(&b, "real").await, 200);
    register_ok(&b, "s3", &upstreams[2].url, json!({"v": 2})).await;
    register_ok(&a, "s4", &upstreams[3].url, json!({"v": 3})).await;
    expected.remove("s1");
    expected.remove("real");
    expected.insert("s3".into(), (upstreams[2].url.clone(), json!({"v": 2})));
    expected.insert("s4".into(), (upstreams[3].url.clone(), json!({"v": 3})));
    nats.restart().await;
    all_shared(&[&a, &b]).await;
    converged(&[&a, &b], &expected).await;

    // The same through a SIGKILL, and the deletes stay: a change made after them through A
    // reaches B after them.
    nats.stop(Signal::SIGKILL);
    all_cut_off(&[&a, &b]).await;
    assert_eq!(delete(&b, "s2").await, 200);
    expected.remove("s2");
    nats.restart().await;
    all_shared(&[&a, &b]).await;
    let _marker = marker_round(&a, &[&b], &mut expected).await;
    assert_eq!(bucket_sessions(&nats).await, expected, "the bucket");
    let bucket = bucket::<protocol::fleet::SessionRecord>(&nats, "sessions").await;
    for gone in ["s1", "s2", "real"] {
        assert_eq!(bucket.get(gone), Some(&None), "{gone} is a tombstone");
    }
}

/// Case 2: a session whose host dies while NATS is down is evicted by each replica alone,
/// once, and does not come back when NATS does; the fleet counts one eviction per session.
async fn an_eviction_during_a_nats_outage_stays_and_counts_once(server: Server) {
    let mut nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &QUICK_CHECKS, &[]).await;
    let b = replica(&nats, &QUICK_CHECKS, &[]).await;
    let live = MockUpstream::start().await;
    register_ok(&a, "live", &live.url, json!({})).await;
    let mut dead = Vec::new();
    for i in 1..=3 {
        let upstream = MockUpstream::start().await;
        register_ok(&a, &format!("dead{i}"), &upstream.url, json!({})).await;
        dead.push(upstream);
    }
    let mut expected: BTreeMap<_, _> = [("live".to_owned(), (live.url.clone(), json!({})))].into();
    let with_dead = |mut all: BTreeMap<String, (String, Value)>| {
        for (i, upstream) in dead.iter().enumerate() {
            all.insert(format!("dead{}", i + 1), (upstream.url.clone(), json!({})));
        }
        all
    };
    converged(&[&a, &b], &with_dead(expected.clone())).await;
    let (on_a, on_b) = (
        Events::connect(&a.base).await,
        Events::connect(&b.base).await,
    );

    nats.stop(Signal::SIGKILL);
    all_cut_off(&[&a, &b]).await;
    for upstream in &mut dead {
        upstream.kill().await;
    }
    converged(&[&a, &b], &expected).await;
    nats.restart().await;
    all_shared(&[&a, &b]).await;
    let _marker = marker_round(&b, &[&a], &mut expected).await;
    for id in ["dead1", "dead2", "dead3"] {
        assert_eq!(offline_count(&on_a, id), 1, "A: {}", on_a.text());
        assert_eq!(offline_count(&on_b, id), 1, "B: {}", on_b.text());
    }
    let counted = wait_for(LONG_WAIT, || async {
        let n = evictions(&[&a, &b]).await;
        (n >= 3.0).then_some(n)
    })
    .await;
    assert_eq!(
        counted,
        Some(3.0),
        "one eviction per dead session in the fleet"
    );
    assert_eq!(bucket_sessions(&nats).await, expected, "the bucket");
}

/// How long case 3 keeps a replica paused (as long as in the report).
const PAUSE: std::time::Duration = std::time::Duration::from_secs(15);

/// Case 3: a replica paused (SIGSTOP) while a session is deleted and a dead one evicted
/// through another catches up on SIGCONT: nothing comes back, nothing is evicted twice.
async fn a_paused_replica_catches_up_without_undoing_anything(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &QUICK_CHECKS, &[]).await;
    let b = replica(&nats, &QUICK_CHECKS, &[]).await;
    let (kept, deleted) = (MockUpstream::start().await, MockUpstream::start().await);
    let mut dying = MockUpstream::start().await;
    register_ok(&b, "kept", &kept.url, json!({})).await;
    register_ok(&b, "deleted", &deleted.url, json!({})).await;
    register_ok(&b, "dying", &dying.url, json!({})).await;
    let all: BTreeMap<_, _> = [
        ("kept".to_owned(), (kept.url.clone(), json!({}))),
        ("deleted".to_owned(), (deleted.url.clone(), json!({}))),
        ("dying".to_owned(), (dying.url.clone(), json!({}))),
    ]
    .into();
    converged(&[&a, &b], &all).await;
    let on_a = Events::connect(&a.base).await;

    a.pause();
    assert_eq!(delete(&b, "deleted").await, 200);
    dying.kill().await;
    let mut expected: BTreeMap<_, _> = [("kept".to_owned(), (kept.url.clone(), json!({})))].into();
    converged(&[&b], &expected).await;
    // Long enough for A's watch to miss the server's heartbeats: A must find out what it
    // missed, not only receive it.
    tokio::time::sleep(PAUSE).await;
    a.resume();
    let _marker = marker_round(&b, &[&a], &mut expected).await;
    assert_eq!(offline_count(&on_a, "deleted"), 1, "{}", on_a.text());
    assert_eq!(offline_count(&on_a, "dying"), 1, "{}", on_a.text());
    assert_eq!(evictions(&[&a, &b]).await, 1.0, "dying is evicted once");
    assert_eq!(bucket_sessions(&nats).await, expected, "the bucket");
}

/// Case 4: sessions evicted by A whose hosts come back and register again through B are on A
/// again, and so are their later heartbeats.
async fn a_session_evicted_by_one_replica_and_registered_through_another_is_back(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &QUICK_CHECKS, &[]).await;
    // B checks nothing, so A is the one that evicts.
    let b = replica(&nats, &["--health-check-ms", "600000"], &[]).await;
    let upstreams: Vec<MockUpstream> =
        futures_util::future::join_all((0..10).map(|_| MockUpstream::start())).await;
    let mut expected = BTreeMap::new();
    for (i, upstream) in upstreams.iter().enumerate() {
        let id = format!("back{i}");
        register_ok(&b, &id, &upstream.url, json!({"v": 1})).await;
        expected.insert(id, (upstream.url.clone(), json!({"v": 1})));
    }
    converged(&[&a, &b], &expected).await;
    for upstream in &upstreams {
        upstream
            .state
            .unhealthy
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    converged(&[&a, &b], &BTreeMap::new()).await;
    for (i, upstream) in upstreams.iter().enumerate() {
        upstream
            .state
            .unhealthy
            .store(false, std::sync::atomic::Ordering::SeqCst);
        register_ok(&b, &format!("back{i}"), &upstream.url, json!({"v": 2})).await;
        expected.insert(format!("back{i}"), (upstream.url.clone(), json!({"v": 2})));
    }
    converged(&[&a, &b], &expected).await;
    for (i, upstream) in upstreams.iter().enumerate() {
        register_ok(&b, &format!("back{i}"), &upstream.url, json!({"v": 3})).await;
        expected.insert(format!("back{i}"), (upstream.url.clone(), json!({"v": 3})));
    }
    converged(&[&a, &b], &expected).await;
    assert!(evictions(&[&a]).await >= 10.0);
}

/// Case 5: a launch on A while NATS is down gets a registration token that works through B
/// once NATS is back: its child registers there and the launch on A is registered.
async fn a_launch_token_issued_during_an_outage_registers_through_another_replica(server: Server) {
    const TOKEN: &str = "fault-test-token";
    let mut nats = NatsServer::start_version(server).await;
    let auth = [("COOP_MUX_AUTH_TOKEN", TOKEN)];
    let b = replica(&nats, &[], &auth).await;
    let command = format!(
        "exec {} session --heartbeat-ms 300 -- sh -c 'exec sleep 60'",
        bin()
    );
    let a = replica(
        &nats,
        &["--launch", &command, "--advertise-url", &b.base],
        &auth,
    )
    .await;
    nats.stop(Signal::SIGTERM);
    all_cut_off(&[&a, &b]).await;
    let reply = a
        .client()
        .post(format!("{}/api/v1/sessions/launch", a.base))
        .json(&json!({"env": {"COOP_MUX_SESSION_ID": "launched-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let launch: Value = reply.json().await.unwrap();
    let launch_id = launch["launch_id"].as_str().unwrap().to_owned();
    nats.restart().await;
    all_shared(&[&a, &b]).await;
    let registered = wait_for(CONVERGE, || async {
        let record = authed_get(&a, &format!("/api/v1/launches/{launch_id}")).await?;
        (record["state"] == "registered").then_some(())
    })
    .await;
    assert!(
        registered.is_some(),
        "the launch never registered:\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    for hub in [&a, &b] {
        let listed = wait_for(CONVERGE, || async {
            let list = authed_get(hub, "/api/v1/sessions").await?;
            list.as_array()?
                .iter()
                .any(|s| s["id"] == "launched-1")
                .then_some(())
        })
        .await;
        assert!(listed.is_some(), "launched-1 not on {}", hub.base);
    }
    let tokens = bucket::<TokenRecord>(&nats, "tokens").await;
    let bound: Vec<_> = tokens
        .values()
        .flatten()
        .filter_map(|t| t.session.clone())
        .collect();
    assert_eq!(bound, ["launched-1"], "{tokens:?}");
    let _ = a.stop();
}

/// `GET path` of `hub` with its token, as JSON.
async fn authed_get(hub: &crate::support::HubProcess, path: &str) -> Option<Value> {
    let reply = hub.client().get(format!("{}{path}", hub.base)).send();
    reply.await.ok()?.json().await.ok()
}

/// Case 6: one account defined differently on two replicas during an outage ends up with one
/// definition and one key everywhere: the newer one.
async fn an_account_defined_on_two_replicas_during_an_outage_converges(server: Server) {
    let mut nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &[], &[]).await;
    let b = replica(&nats, &[], &[]).await;
    nats.stop(Signal::SIGKILL);
    all_cut_off(&[&a, &b]).await;
    a.post_ok(
        "/api/v1/credentials/new",
        json!({"name": "work", "provider": "openai", "token": "from-a-sekret"}),
    )
    .await;
    b.post_ok(
        "/api/v1/credentials/new",
        json!({"name": "work", "provider": "gemini", "token": "from-b-sekret"}),
    )
    .await;
    nats.restart().await;
    all_shared(&[&a, &b]).await;
    for hub in [&a, &b] {
        let agreed = wait_for(CONVERGE, || async {
            (hub.account("work").await["provider"] == "gemini").then_some(())
        })
        .await;
        assert!(
            agreed.is_some(),
            "{}: {}",
            hub.base,
            hub.account("work").await
        );
    }
    let accounts = bucket::<Value>(&nats, "credentials").await;
    let work = accounts["work"].as_ref().expect("work");
    assert_eq!(work["config"]["provider"], "gemini");
    assert_eq!(work["secrets"]["access_token"], "from-b-sekret");
    for hub in [&a, &b] {
        let file = hub.state_dir().join("credentials.json");
        let saved = wait_for(LONG_WAIT, || async {
            let text = std::fs::read_to_string(&file).ok()?;
            text.contains("from-b-sekret").then_some(text)
        })
        .await;
        assert!(saved.is_some(), "{} keeps A's key", hub.base);
    }
}

/// Case 7: health tells a NATS outage (buffering N writes) and a frozen server
/// (`unresponsive`) from a server without JetStream (`local`), and a delete made while the
/// server is frozen is not undone.
async fn health_tells_an_outage_and_a_frozen_server_from_no_jetstream(server: Server) {
    let mut nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &[], &[]).await;
    let b = replica(&nats, &[], &[]).await;
    let (one, two) = (MockUpstream::start().await, MockUpstream::start().await);
    register_ok(&a, "one", &one.url, json!({})).await;
    register_ok(&a, "two", &two.url, json!({})).await;

    nats.stop(Signal::SIGTERM);
    all_cut_off(&[&a]).await;
    let three = MockUpstream::start().await;
    register_ok(&a, "three", &three.url, json!({})).await;
    let down = health(&a).await;
    assert_eq!(down["nats"], "disconnected", "{down}");
    assert_eq!(down["fleet"], "buffering", "{down}");
    assert!(
        down["replication"]["buffered_writes"].as_u64() >= Some(1),
        "{down}"
    );
    assert!(!a.log().contains("without JetStream"), "{}", a.log());
    let metrics = a.get_text("/metrics").await;
    assert_eq!(
        crate::support::metric(&metrics, "coopmux_nats_connected"),
        0.0
    );
    assert!(crate::support::metric(&metrics, "coopmux_replication_buffered_writes") >= 1.0);
    nats.restart().await;
    all_shared(&[&a, &b]).await;

    nats.freeze();
    let frozen = wait_for(LONG_WAIT, || async {
        let h = health(&a).await;
        (h["nats"] == "unresponsive" && h["fleet"] == "buffering").then_some(h)
    })
    .await;
    assert!(frozen.is_some(), "{}", health(&a).await);
    assert_eq!(delete(&a, "one").await, 200);
    nats.thaw();
    all_shared(&[&a, &b]).await;
    let expected: BTreeMap<_, _> = [
        ("two".to_owned(), (two.url.clone(), json!({}))),
        ("three".to_owned(), (three.url.clone(), json!({}))),
    ]
    .into();
    converged(&[&a, &b], &expected).await;
    assert_eq!(bucket_sessions(&nats).await, expected);

    let plain = NatsServer::start_plain().await;
    let alone = crate::support::HubProcess::start(&["--nats-url", &plain.url], &[]);
    let local = wait_for(LONG_WAIT, || state_is(&alone, "local")).await;
    assert!(local.is_some(), "{}", health(&alone).await);
    let h = health(&alone).await;
    assert_eq!(
        (h["nats"].as_str(), h["fleet"].as_str()),
        (Some("connected"), Some("local"))
    );
    alone.wait_log("without JetStream").await;
}

/// A server that lost its store gets every replica's state again.
async fn an_emptied_server_gets_the_replicas_state_again(server: Server) {
    let mut nats = NatsServer::start_version(server).await;
    let a = replica(&nats, &[], &[]).await;
    let b = replica(&nats, &[], &[]).await;
    let (x, y) = (MockUpstream::start().await, MockUpstream::start().await);
    register_ok(&a, "x", &x.url, json!({"on": "a"})).await;
    register_ok(&b, "y", &y.url, json!({"on": "b"})).await;
    let expected: BTreeMap<_, _> = [
        ("x".to_owned(), (x.url.clone(), json!({"on": "a"}))),
        ("y".to_owned(), (y.url.clone(), json!({"on": "b"}))),
    ]
    .into();
    converged(&[&a, &b], &expected).await;
    nats.stop(Signal::SIGKILL);
    all_cut_off(&[&a, &b]).await;
    nats.restart_empty().await;
    all_shared(&[&a, &b]).await;
    let refilled = wait_for(CONVERGE, || async {
        (bucket_sessions(&nats).await == expected).then_some(())
    })
    .await;
    assert!(refilled.is_some(), "{:?}", bucket_sessions(&nats).await);
    converged(&[&a, &b], &expected).await;
}

/// A delete's tombstone is removed from the bucket after its lifetime (a newer change of the
/// key would stay), and the id can be registered again.
async fn tombstones_expire_and_the_id_can_come_back(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let lifetime = ["--nats-tombstone-ms", "3000"];
    let a = replica(&nats, &lifetime, &[]).await;
    let b = replica(&nats, &lifetime, &[]).await;
    let x = MockUpstream::start().await;
    let listed: BTreeMap<_, _> = [("x".to_owned(), (x.url.clone(), json!({})))].into();
    register_ok(&a, "x", &x.url, json!({})).await;
    converged(&[&a, &b], &listed).await;
    assert_eq!(delete(&b, "x").await, 200);
    converged(&[&a, &b], &BTreeMap::new()).await;
    let sessions = || bucket::<protocol::fleet::SessionRecord>(&nats, "sessions");
    assert_eq!(sessions().await.get("x"), Some(&None), "a tombstone first");
    let gone = wait_for(CONVERGE, || async {
        sessions().await.is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "{:?}", sessions().await);
    register_ok(&a, "x", &x.url, json!({})).await;
    converged(&[&a, &b], &listed).await;
}

super::on_both_servers!(
    deletes_and_updates_made_during_a_nats_outage_survive_it,
    an_eviction_during_a_nats_outage_stays_and_counts_once,
    a_paused_replica_catches_up_without_undoing_anything,
    a_session_evicted_by_one_replica_and_registered_through_another_is_back,
    a_launch_token_issued_during_an_outage_registers_through_another_replica,
    an_account_defined_on_two_replicas_during_an_outage_converges,
    health_tells_an_outage_and_a_frozen_server_from_no_jetstream,
    an_emptied_server_gets_the_replicas_state_again,
    tombstones_expire_and_the_id_can_come_back,
);
