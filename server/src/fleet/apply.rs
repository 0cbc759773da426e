//! The watcher: opens the buckets once NATS is up, loads them, reconciles this replica's
//! registry with them and then applies every change another replica makes, with the same
//! events as a local change and without writing back. A reconnect starts it over.

use super::{keys::id_of_key, Buckets, Fleet, FleetMode, Pending};
use crate::backoff::Backoff;
use crate::nats::kv::open_bucket;
use crate::nats::{connection::NATS_CONNECT, LinkState};
use crate::registry::Registry;
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use protocol::fleet::{SessionRecord, TokenRecord};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the watcher looks at the link for a reconnect.
const LINK_CHECK: Duration = Duration::from_millis(500);

pub(super) async fn run(fleet: Arc<Fleet>, registry: Arc<Registry>, shutdown: CancellationToken) {
    let Some(client) = fleet.link.client(&shutdown).await else {
        return;
    };
    let mut backoff = Backoff::new(NATS_CONNECT);
    loop {
        match open(&fleet, &client).await {
            Ok(buckets) => {
                backoff.reset();
                *fleet.buckets.lock().unwrap_or_else(|e| e.into_inner()) = Some(buckets.clone());
                if fleet.mode() != FleetMode::Shared {
                    tracing::info!(prefix = %fleet.bucket_prefix, "fleet shared through JetStream key-value buckets");
                }
                fleet.set_mode(FleetMode::Shared);
                if let Err(err) = follow(&fleet, &registry, &buckets, &shutdown).await {
                    tracing::warn!(%err, "fleet watch ended; loading the buckets again");
                }
            }
            Err(err) => {
                if fleet.mode() != FleetMode::Local {
                    tracing::warn!(%err, "NATS without JetStream key-value: the registry stays local to this replica");
                }
                fleet.set_mode(FleetMode::Local);
            }
        }
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
}

/// Opens (creating when missing) the three buckets.
async fn open(fleet: &Fleet, client: &async_nats::Client) -> Result<Buckets, String> {
    let js = jetstream::new(client.clone());
    let open = |suffix: &'static str| {
        let bucket = format!("{}-{suffix}", fleet.bucket_prefix);
        let js = js.clone();
        async move { open_bucket(&js, &bucket, Duration::ZERO, super::FLEET_OP_TIMEOUT).await }
    };
    Ok(Buckets {
        sessions: open("sessions").await?,
        tokens: open("tokens").await?,
        launches: open("launches").await?,
    })
}

/// Loads both buckets, reconciles, then applies changes until the watch ends, the link
/// comes back after an outage (`Ok`: the caller loads again) or shutdown.
async fn follow(
    fleet: &Arc<Fleet>,
    registry: &Arc<Registry>,
    buckets: &Buckets,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut sessions = buckets
        .sessions
        .watch_with_history(">")
        .await
        .map_err(|e| e.to_string())?;
    let mut tokens = buckets
        .tokens
        .watch_with_history(">")
        .await
        .map_err(|e| e.to_string())?;
    let initial = buckets
        .sessions
        .status()
        .await
        .map_err(|e| e.to_string())?
        .info
        .state
        .messages;
    // The snapshot: the last value of every key, then reconcile.
    let mut present = HashSet::new();
    if initial > 0 {
        while let Some(entry) = sessions.next().await {
            let entry = entry.map_err(|e| e.to_string())?;
            let delta = entry.delta;
            if entry.operation == kv::Operation::Put {
                present.insert(entry.key.clone());
            }
            apply_session(fleet, registry, entry, true);
            if delta == 0 {
                break;
            }
        }
    }
    reconcile(fleet, registry, &present);
    let mut ticks = tokio::time::interval(LINK_CHECK);
    let mut was_down = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            entry = sessions.next() => match entry {
                Some(Ok(entry)) => apply_session(fleet, registry, entry, false),
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("the sessions watch ended".to_owned()),
            },
            entry = tokens.next() => match entry {
                Some(Ok(entry)) => apply_token(registry, &entry),
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("the tokens watch ended".to_owned()),
            },
            _ = ticks.tick() => {
                let up = fleet.link.state() == LinkState::Connected;
                if !up {
                    was_down = true;
                } else if was_down {
                    tracing::info!("NATS is back: reconciling the fleet");
                    return Ok(());
                }
            }
        }
    }
}

/// After a load: the bucket's sessions are applied; this replica's sessions the bucket
/// misses, and those changed while NATS was down, are put back; those deleted here while
/// NATS was down are deleted there.
fn reconcile(fleet: &Fleet, registry: &Registry, present: &HashSet<String>) {
    let dirty: Vec<String> = std::mem::take(&mut fleet.keys().dirty)
        .into_iter()
        .collect();
    for id in &dirty {
        if registry.get(id).is_err() && present.contains(&super::kv_key(id)) {
            fleet.delete_session(id);
        }
    }
    for session in registry.sessions() {
        let key = super::kv_key(&session.id);
        if !present.contains(&key) || dirty.contains(&session.id) {
            fleet.put_session(registry.record(&session));
        }
    }
}

/// One value of the sessions bucket. In the snapshot, deletes are skipped (reconcile decides
/// what this replica's sessions the bucket misses become).
fn apply_session(fleet: &Fleet, registry: &Arc<Registry>, entry: kv::Entry, snapshot: bool) {
    let key = entry.key;
    let put = entry.operation == kv::Operation::Put;
    let record: Option<SessionRecord> = if put {
        match serde_json::from_slice(&entry.value) {
            Ok(record) => Some(record),
            Err(err) => {
                tracing::warn!(key, %err, "ignoring a malformed fleet record");
                return;
            }
        }
    } else {
        None
    };
    {
        let mut keys = fleet.keys();
        if put {
            keys.revisions.insert(key.clone(), entry.revision);
        } else {
            keys.revisions.remove(&key);
        }
        match (keys.pending.get(&key).copied(), &record) {
            // Our own latest write came back: the local state already is this.
            (Some(Pending::Put(seq)), Some(r))
                if r.origin == fleet.replica && r.origin_seq == seq =>
            {
                keys.pending.remove(&key);
                return;
            }
            (Some(Pending::Delete), None) => {
                keys.pending.remove(&key);
                return;
            }
            // A value older than our own write on its way: ours follows and wins.
            (Some(_), _) => return,
            (None, _) => {}
        }
    }
    match record {
        Some(record) => registry.apply_record(record),
        None if snapshot => {}
        None => {
            if let Some(id) = id_of_key(&key) {
                registry.apply_delete(&id);
            }
        }
    }
}

/// One value of the tokens bucket: known tokens (by hash) and their bindings.
fn apply_token(registry: &Registry, entry: &kv::Entry) {
    let tokens = registry.tokens();
    if entry.operation != kv::Operation::Put {
        tokens.forget_hash(&entry.key);
        return;
    }
    match serde_json::from_slice::<TokenRecord>(&entry.value) {
        Ok(record) => tokens.learn_hash(&entry.key, record.session),
        Err(err) => tracing::warn!(%err, "ignoring a malformed token record"),
    }
}
