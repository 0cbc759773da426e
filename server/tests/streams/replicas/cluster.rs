//! Replica processes for the fault tests: `coopmux` hubs on one `nats-server -js`, quick
//! health checks, and what they and the buckets hold.

use crate::support::{wait_for, HubProcess, MockUpstream, NatsServer, LONG_WAIT};
use futures_util::StreamExt;
use protocol::fleet::{SessionRecord, Versioned};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Health checks every 200 ms, two failures evict: a dead host is gone within a second.
pub const QUICK_CHECKS: [&str; 4] = ["--health-check-ms", "200", "--max-health-failures", "2"];

/// How long a whole cluster may take to agree after a fault ends.
pub const CONVERGE: Duration = Duration::from_secs(40);

/// A replica on `nats` (with `extra` flags and `env`), once its buckets are shared.
pub async fn replica(nats: &NatsServer, extra: &[&str], env: &[(&str, &str)]) -> HubProcess {
    let mut args = vec!["--nats-url", nats.url.as_str()];
    args.extend_from_slice(extra);
    let hub = HubProcess::start(&args, env);
    assert!(
        wait_for(LONG_WAIT, || shared(&hub)).await.is_some(),
        "replica not shared:\n{}",
        hub.log()
    );
    hub
}

/// `GET /api/v1/health`.
pub async fn health(hub: &HubProcess) -> Value {
    hub.get("/api/v1/health").await.1
}

/// `Some(())` once the hub's fleet is shared with nothing kept back to write (only the
/// `fleet` word counts where health has no replication part: an older hub).
pub async fn shared(hub: &HubProcess) -> Option<()> {
    let health = health(hub).await;
    let buffered = &health["replication"]["buffered_writes"];
    let written = buffered.is_null() || *buffered == 0;
    (health["fleet"] == "shared" && written).then_some(())
}

/// `Some(())` once the hub's replication state is `state`.
pub async fn state_is(hub: &HubProcess, state: &str) -> Option<()> {
    let health = health(hub).await;
    (health["replication"]["state"] == state).then_some(())
}

/// Waits until every hub says its fleet is shared, nothing kept back.
pub async fn all_shared(hubs: &[&HubProcess]) {
    for hub in hubs {
        let reached = wait_for(CONVERGE, || shared(hub)).await;
        let now = health(hub).await;
        assert!(reached.is_some(), "never shared: {now}\n{}", hub.log());
    }
}

/// Waits until every hub has noticed that NATS is gone (its link is not `connected`).
pub async fn all_cut_off(hubs: &[&HubProcess]) {
    for hub in hubs {
        let noticed = wait_for(CONVERGE, || async {
            let health = health(hub).await;
            (health["nats"] != "connected").then_some(())
        })
        .await;
        assert!(
            noticed.is_some(),
            "NATS still connected: {}",
            health(hub).await
        );
    }
}

/// The sessions a hub lists: id → (url, metadata).
pub async fn sessions(hub: &HubProcess) -> BTreeMap<String, (String, Value)> {
    let (_, list) = hub.get("/api/v1/sessions").await;
    list.as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            let url = s["url"].as_str().unwrap_or_default().to_owned();
            (id, (url, s["metadata"].clone()))
        })
        .collect()
}

/// The ids a hub lists.
pub async fn ids(hub: &HubProcess) -> Vec<String> {
    sessions(hub).await.into_keys().collect()
}

/// Registers (or heartbeats) `id` at `url` with `metadata` through `hub`; the status.
pub async fn register(hub: &HubProcess, id: &str, url: &str, metadata: Value) -> u16 {
    let body = json!({"id": id, "url": url, "metadata": metadata});
    let reply = hub
        .client()
        .post(format!("{}/api/v1/sessions", hub.base))
        .json(&body)
        .send()
        .await
        .expect("register");
    reply.status().as_u16()
}

/// Registers and requires 200.
pub async fn register_ok(hub: &HubProcess, id: &str, url: &str, metadata: Value) {
    assert_eq!(register(hub, id, url, metadata).await, 200, "register {id}");
}

/// Deletes `id` through `hub`; the status.
pub async fn delete(hub: &HubProcess, id: &str) -> u16 {
    hub.delete(&format!("/api/v1/sessions/{id}")).await.0
}

/// Waits until every hub lists exactly `expected`.
pub async fn converged(hubs: &[&HubProcess], expected: &BTreeMap<String, (String, Value)>) {
    for hub in hubs {
        let same = wait_for(CONVERGE, || async {
            (sessions(hub).await == *expected).then_some(())
        })
        .await;
        assert!(
            same.is_some(),
            "{} lists {:?}, expected {expected:?}\n{}",
            hub.base,
            sessions(hub).await,
            hub.log()
        );
    }
}

/// Registers a fresh marker session through `from`, waits until every hub of `to` lists it
/// (so every change made before on `from` has reached them: the bucket orders them before
/// it), adds it to `expected` and waits until `from` and `to` list exactly that. The marker's
/// upstream is returned: it must live as long as the test looks.
pub async fn marker_round(
    from: &HubProcess,
    to: &[&HubProcess],
    expected: &mut BTreeMap<String, (String, Value)>,
) -> MockUpstream {
    let marker = MockUpstream::start().await;
    register_ok(from, "marker", &marker.url, json!({"marker": true})).await;
    for hub in to {
        let seen = wait_for(CONVERGE, || async {
            ids(hub).await.contains(&"marker".to_owned()).then_some(())
        })
        .await;
        assert!(seen.is_some(), "the marker is not on {}", hub.base);
    }
    expected.insert(
        "marker".into(),
        (marker.url.clone(), json!({"marker": true})),
    );
    let mut all = vec![from];
    all.extend_from_slice(to);
    converged(&all, expected).await;
    marker
}

/// Every key of bucket `{prefix}-{name}`: its decoded value, `None` for a delete.
pub async fn bucket<T: serde::de::DeserializeOwned>(
    nats: &NatsServer,
    name: &str,
) -> BTreeMap<String, Option<T>> {
    // A key listing waits for every key the bucket had when it began, so one whose key is
    // purged meanwhile (an expired tombstone) never ends: such a read is started again.
    for _ in 0..5 {
        if let Ok(all) = tokio::time::timeout(crate::support::WAIT, read_bucket(nats, name)).await {
            return all;
        }
    }
    panic!("bucket {name} could not be read");
}

async fn read_bucket<T: serde::de::DeserializeOwned>(
    nats: &NatsServer,
    name: &str,
) -> BTreeMap<String, Option<T>> {
    let js = async_nats::jetstream::new(nats.client().await);
    let store = js
        .get_key_value(format!("coopmux-{name}"))
        .await
        .expect("bucket");
    let mut keys = store.keys().await.expect("keys");
    let mut all = BTreeMap::new();
    while let Some(key) = keys.next().await {
        let key = key.expect("key");
        let Some(value) = store.get(&key).await.expect("get") else {
            continue;
        };
        let versioned: Versioned<T> = serde_json::from_slice(&value).expect("a Versioned value");
        all.insert(key, versioned.value);
    }
    all
}

/// The live sessions of the sessions bucket: id (key) → (url, metadata).
pub async fn bucket_sessions(nats: &NatsServer) -> BTreeMap<String, (String, Value)> {
    bucket::<SessionRecord>(nats, "sessions")
        .await
        .into_values()
        .flatten()
        .map(|r| (r.id, (r.url, r.metadata)))
        .collect()
}

/// The number of `session:offline` events of `id` a feed recorded.
pub fn offline_count(events: &crate::support::Events, id: &str) -> usize {
    let all: Vec<Value> = serde_json::from_str(&events.text()).unwrap();
    all.iter()
        .filter(|e| e["event"] == "session:offline" && e["session"] == id)
        .count()
}

/// `coopmux_evictions_total` summed over `hubs`.
pub async fn evictions(hubs: &[&HubProcess]) -> f64 {
    let mut sum = 0.0;
    for hub in hubs {
        let text = hub.get_text("/metrics").await;
        sum += crate::support::metric(&text, "coopmux_evictions_total");
    }
    sum
}
