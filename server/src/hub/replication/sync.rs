//! The tasks of one table: the follower opens the bucket whenever NATS is up, reads it and
//! follows every change; the writer writes the changes made here, oldest first, each with
//! compare-and-set on the revision last seen, only while the bucket is open, read and
//! followed up to its last value (a replica that missed changes, paused or cut off, catches
//! up before it writes); the sweeper removes expired tombstones.

use super::bucket::{self, BucketError};
use super::slots::{Core, Phase};
use super::table::Value;
use super::{State, REOPEN, RETRY};
use crate::edge::backoff::Backoff;
use crate::hub::nats::LinkState;
use async_nats::jetstream::kv;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest gap between two sweeps for expired tombstones.
const SWEEP_MAX: Duration = Duration::from_secs(3600);

/// Why the follower stopped following the bucket (it opens it again).
#[derive(Debug, thiserror::Error)]
enum FollowError {
    /// The bucket could not be opened.
    #[error(transparent)]
    Open(#[from] BucketError),
    /// A JetStream call did not answer in time.
    #[error("{0} timed out")]
    TimedOut(&'static str),
    /// The bucket's stream could not be read.
    #[error("reading the bucket: {0}")]
    Info(#[from] async_nats::jetstream::stream::InfoError),
    /// The watch could not be started.
    #[error("watching the bucket: {0}")]
    Watch(#[from] kv::WatchError),
    /// The watch failed.
    #[error("the watch failed: {0}")]
    Watcher(#[from] kv::WatcherError),
    /// The watch ended without an error.
    #[error("the watch ended")]
    WatchEnded,
    /// The NATS link is no longer connected.
    #[error("NATS link lost")]
    LinkLost,
}

/// Why the bucket did not take a write (the writer tries again).
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// The key's revision in the bucket is the one the write expected, yet it was refused.
    #[error("the bucket's revision did not move")]
    Unmoved,
    /// The key could not be read back after a conflict.
    #[error("reading the key: {0}")]
    Entry(#[from] kv::EntryError),
    /// The server refused the write.
    #[error(transparent)]
    Update(#[from] kv::UpdateError),
    /// The server did not answer in time.
    #[error("timed out")]
    TimedOut,
}

pub(super) fn spawn<V: Value>(core: Arc<Core<V>>) {
    tokio::spawn(follow(core.clone()));
    tokio::spawn(write(core.clone()));
    if core.options.watch && core.options.keep_confirmed {
        tokio::spawn(sweep(core));
    }
}

fn set_phase<V: Value>(core: &Core<V>, phase: Phase) {
    let changed = {
        let mut state = core.lock();
        std::mem::replace(&mut state.phase, phase) != phase
    };
    if changed {
        core.shared.phases.notify_waiters();
        core.wake.notify_one();
    }
}

/// Waits until the link is connected and answering; `false` at shutdown.
async fn link_up<V: Value>(core: &Core<V>, links: &mut watch::Receiver<LinkState>) -> bool {
    tokio::select! {
        () = core.shared.shutdown.cancelled() => false,
        up = links.wait_for(|s| *s == LinkState::Connected) => up.is_ok(),
    }
}

async fn follow<V: Value>(core: Arc<Core<V>>) {
    let shutdown = core.shared.shutdown.clone();
    let Some(client) = core.shared.link.client(&shutdown).await else {
        return;
    };
    let mut links = core.shared.link.watch_state();
    let mut backoff = Backoff::new(REOPEN);
    let mut told = None;
    loop {
        if !link_up(&core, &mut links).await {
            return;
        }
        let opened = async {
            bucket::has_jetstream(&client, core.shared.op_timeout).await?;
            bucket::open(
                &client,
                &core.bucket,
                Duration::ZERO,
                core.shared.op_timeout,
            )
            .await
        };
        let ended = match opened.await {
            Ok(store) => {
                backoff.reset();
                let followed = follow_open(&core, &store, &mut links, &mut told).await;
                core.set_store(None);
                if shutdown.is_cancelled() {
                    return;
                }
                set_phase(&core, Phase::Reopening);
                followed
            }
            Err(BucketError::NoJetStream) => {
                set_phase(&core, Phase::NoJetStream);
                Err(BucketError::NoJetStream.into())
            }
            Err(err) => Err(err.into()),
        };
        if let Err(err) = ended {
            let state = State::of(core.lock().phase, core.shared.link.state());
            if told != Some(state) {
                let buffered = core.lock().queue.len();
                match state {
                    State::Local => {
                        tracing::warn!(bucket = %core.bucket, buffered, "NATS without JetStream: this replica keeps its own state and the changes made here until it can share them")
                    }
                    _ => {
                        tracing::warn!(bucket = %core.bucket, %err, buffered, "cannot share through NATS now: changes made here are kept and written when it is back")
                    }
                }
                told = Some(state);
            }
        }
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
}

/// Reads the open bucket and follows it until the link or the watch fails (`Err`) or
/// shutdown (`Ok`).
async fn follow_open<V: Value>(
    core: &Arc<Core<V>>,
    store: &kv::Store,
    links: &mut watch::Receiver<LinkState>,
    told: &mut Option<State>,
) -> Result<(), FollowError> {
    let timeout = core.shared.op_timeout;
    let info = tokio::time::timeout(timeout, store.stream.get_info())
        .await
        .map_err(|_| FollowError::TimedOut("reading the bucket"))??;
    let created = info.created.unix_timestamp_nanos();
    let same_bucket = {
        let mut state = core.lock();
        // Read again after an outage, the table is still buffering, not pending.
        if matches!(state.phase, Phase::Closed | Phase::NoJetStream) {
            state.phase = Phase::Syncing;
        }
        let same = state.stream == Some(created);
        let replaced = !same && state.stream.is_some();
        state.stream = Some(created);
        let keys: Vec<String> = state.slots.keys().cloned().collect();
        for key in &keys {
            if let Some(slot) = state.slots.get_mut(key) {
                slot.seen = false;
                if !same {
                    slot.revision = 0;
                }
            }
            // A new bucket (a server that lost its store) gets everything this replica holds.
            if replaced {
                state.requeue(key);
            }
        }
        if replaced {
            tracing::warn!(bucket = %core.bucket, keys = keys.len(), "the bucket is new: writing this replica's state to it again");
        }
        same
    };
    core.shared.phases.notify_waiters();
    core.set_store(Some(store.clone()));
    if core.options.watch {
        let watch = tokio::time::timeout(timeout, store.watch_with_history(">"))
            .await
            .map_err(|_| FollowError::TimedOut("watching the bucket"))??;
        follow_watch(core, watch, info.state.messages, same_bucket, links, told).await
    } else {
        synced(core, told);
        let shutdown = &core.shared.shutdown;
        tokio::select! {
            () = shutdown.cancelled() => Ok(()),
            _ = links.wait_for(|s| *s != LinkState::Connected) => Err(FollowError::LinkLost),
        }
    }
}

fn synced<V: Value>(core: &Core<V>, told: &mut Option<State>) {
    set_phase(core, Phase::Synced);
    if *told != Some(State::Shared) {
        let buffered = core.lock().queue.len();
        tracing::info!(bucket = %core.bucket, buffered, "shared through JetStream key-value");
        *told = Some(State::Shared);
    }
}

async fn follow_watch<V: Value>(
    core: &Arc<Core<V>>,
    mut watch: kv::Watch,
    messages: u64,
    same_bucket: bool,
    links: &mut watch::Receiver<LinkState>,
    told: &mut Option<State>,
) -> Result<(), FollowError> {
    // The last value of every key first; its end is the value the watch says nothing
    // follows (a quiet watch ends it too: writes are compare-and-set, so a value that comes
    // later is still weighed before anything is overwritten).
    let mut complete = messages == 0;
    while !complete {
        match tokio::time::timeout(core.shared.op_timeout, watch.next()).await {
            Ok(Some(Ok(entry))) => {
                complete = entry.delta == 0;
                apply(core, entry);
            }
            Ok(Some(Err(err))) => return Err(err.into()),
            Ok(None) => return Err(FollowError::WatchEnded),
            Err(_) => break,
        }
    }
    // Only a read to the end says which keys the bucket no longer has.
    if same_bucket && complete {
        let gone: Vec<String> = {
            let state = core.lock();
            (state.slots.iter())
                .filter(|(_, slot)| !slot.seen && !slot.pending)
                .map(|(key, _)| key.clone())
                .collect()
        };
        for key in gone {
            if let Some(incoming) = core.vanished(key) {
                core.deliver(incoming);
            }
        }
    }
    core.lock().behind = false;
    synced(core, told);
    let shutdown = &core.shared.shutdown;
    let mut behind = false;
    loop {
        // A count of what follows that never reaches 0 (an older server's count after
        // deletes, a consumer recreated after a pause) must not stop the writes for good:
        // a quiet watch ends "behind" as it ends the first read.
        let quiet = async {
            if behind {
                tokio::time::sleep(core.shared.op_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            changed = links.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                if *links.borrow_and_update() != LinkState::Connected {
                    return Err(FollowError::LinkLost);
                }
            }
            entry = watch.next() => match entry {
                Some(Ok(entry)) => {
                    behind = entry.delta > 0;
                    core.lock().behind = behind;
                    apply(core, entry);
                    if !behind {
                        core.wake.notify_one();
                    }
                }
                Some(Err(err)) => return Err(err.into()),
                None => return Err(FollowError::WatchEnded),
            },
            () = quiet => {
                tracing::debug!(bucket = %core.bucket, "the watch is quiet though it said more follows; writing again");
                behind = false;
                core.lock().behind = false;
                core.wake.notify_one();
            }
        }
    }
}

fn apply<V: Value>(core: &Arc<Core<V>>, entry: kv::Entry) {
    if let Some(incoming) = core.incoming(entry) {
        core.deliver(incoming);
    }
}

/// The next change to write, when it can be written: the bucket read and followed to its
/// end, the link answering.
fn next_write<V: Value>(core: &Core<V>) -> Option<(String, protocol::fleet::Versioned<V>, u64)> {
    if !core.shared.link.is_up() {
        return None;
    }
    let state = core.lock();
    if state.phase != Phase::Synced || state.behind {
        return None;
    }
    let (_, key) = state.queue.first()?;
    let slot = state.slots.get(key)?;
    Some((key.clone(), slot.held.clone(), slot.revision))
}

async fn write<V: Value>(core: Arc<Core<V>>) {
    let shutdown = core.shared.shutdown.clone();
    let mut links = core.shared.link.watch_state();
    let mut retry = Backoff::new(RETRY);
    loop {
        let (key, held, expected) = loop {
            let woken = core.wake.notified();
            if let Some(next) = next_write(&core) {
                break next;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = woken => {}
                changed = links.changed() => if changed.is_err() { return },
            }
        };
        let Some(store) = core.store() else {
            continue;
        };
        let value = match serde_json::to_vec(&held) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(bucket = %core.bucket, key, %err, "cannot encode a change; dropped");
                core.dropped(&key, &held.clock);
                continue;
            }
        };
        let timeout = core.shared.op_timeout;
        let update = store.update(&key, value.into(), expected);
        let trouble = match tokio::time::timeout(timeout, update).await {
            Ok(Ok(revision)) => {
                core.confirmed(&key, &held.clock, revision);
                retry.reset();
                continue;
            }
            Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                // Another change of the key is in the bucket: weigh it, then try again.
                match tokio::time::timeout(timeout, store.entry(key.clone())).await {
                    Ok(Ok(Some(entry))) => {
                        let revision = entry.revision;
                        apply(&core, entry);
                        if revision != expected {
                            continue;
                        }
                        WriteError::Unmoved
                    }
                    Ok(Ok(None)) => {
                        core.forget_revision(&key);
                        continue;
                    }
                    Ok(Err(err)) => err.into(),
                    Err(_) => WriteError::TimedOut,
                }
            }
            Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::InvalidKey => {
                tracing::error!(bucket = %core.bucket, key, "not a valid key; the change is dropped");
                core.dropped(&key, &held.clock);
                continue;
            }
            Ok(Err(err)) => err.into(),
            Err(_) => WriteError::TimedOut,
        };
        tracing::debug!(bucket = %core.bucket, key, error = %trouble, "write not taken; trying again");
        let delay = retry.next_delay().unwrap_or(RETRY.max);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
            changed = links.changed() => if changed.is_err() { return },
        }
    }
}

/// Removes tombstones older than the tombstone lifetime, here and (up to their revision, so
/// that a newer change of the key stays) in the bucket.
async fn sweep<V: Value>(core: Arc<Core<V>>) {
    let ttl = core.shared.settings.tombstone_ttl;
    let every = (ttl / 8).clamp(Duration::from_millis(100), SWEEP_MAX);
    let shutdown = core.shared.shutdown.clone();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let expired = core.expired_tombstones(ttl);
        if expired.is_empty() {
            continue;
        }
        let Some(store) = core.store().filter(|_| core.shared.link.is_up()) else {
            continue;
        };
        for (key, revision) in expired {
            let subject = format!("{}{key}", store.prefix);
            let purge = store.stream.purge().filter(subject).sequence(revision + 1);
            match tokio::time::timeout(core.shared.op_timeout, purge).await {
                Ok(Ok(_)) => {
                    tracing::debug!(bucket = %core.bucket, key, "expired tombstone removed")
                }
                Ok(Err(err)) => {
                    tracing::debug!(bucket = %core.bucket, key, %err, "cannot remove an expired tombstone")
                }
                Err(_) => {
                    tracing::debug!(bucket = %core.bucket, key, "removing an expired tombstone timed out")
                }
            }
        }
    }
}
