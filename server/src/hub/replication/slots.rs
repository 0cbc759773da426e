//! This replica's view of one bucket: a slot per key holding the newest state known here
//! (its own latest change, or the bucket's) and whether the bucket holds it yet, the queue of
//! changes to write in clock order, and the decision whether a value from the bucket wins
//! ([`Incoming::accept`]; docs/scaling.md, "The conflict rule").

use super::keys;
use super::table::{Domain, Options, Receipt, Value, Written};
use super::Shared;
use async_nats::jetstream::kv;
use protocol::fleet::{Clock, Versioned};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// Where a table's bucket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Never opened.
    Closed,
    /// The server has no JetStream.
    NoJetStream,
    /// Opened; the bucket's values are being read.
    Syncing,
    /// Opened and read: changes are written and followed.
    Synced,
    /// Was open; waiting for NATS to open it again.
    Reopening,
}

/// This replica's state of one key.
#[derive(Debug)]
pub(super) struct Slot<V> {
    /// The newest state known here.
    pub(super) held: Versioned<V>,
    /// The bucket's revision of the key as last seen (0: none in the current bucket).
    pub(super) revision: u64,
    /// `held` is a change made here that the bucket does not hold yet.
    pub(super) pending: bool,
    /// Seen in the bucket since it was last opened.
    pub(super) seen: bool,
    pub(super) waiters: Vec<oneshot::Sender<Written>>,
}

#[derive(Debug)]
pub(super) struct State<V> {
    pub(super) slots: HashMap<String, Slot<V>>,
    /// Keys with a change to write, oldest change first.
    pub(super) queue: BTreeSet<(Clock, String)>,
    pub(super) phase: Phase,
    /// The watch has not delivered everything the bucket held when it sent its last value.
    pub(super) behind: bool,
    /// Creation time of the bucket's stream as last opened: another one means a new bucket
    /// (a server that lost its store), which gets this replica's whole view again.
    pub(super) stream: Option<i128>,
}

impl<V> State<V> {
    /// The pending change of `key` is settled; its waiters learn it.
    fn finish(&mut self, key: &str, written: Written) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if slot.pending {
            slot.pending = false;
            self.queue
                .remove(&(slot.held.clock.clone(), key.to_owned()));
        }
        for waiter in slot.waiters.drain(..) {
            let _ = waiter.send(written);
        }
    }

    /// Queues `key`'s held state for writing.
    pub(super) fn requeue(&mut self, key: &str) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.pending = true;
            self.queue.insert((slot.held.clock.clone(), key.to_owned()));
        }
    }
}

pub(super) struct Core<V: Value> {
    pub(super) bucket: String,
    pub(super) options: Options,
    pub(super) shared: Arc<Shared>,
    state: Mutex<State<V>>,
    /// Wakes the writer: a change to write, or the bucket synced.
    pub(super) wake: Notify,
    domain: OnceLock<Arc<dyn Domain<V>>>,
    store: Mutex<Option<kv::Store>>,
}

/// Another replica's value of a key, handed to [`Domain::apply`].
pub struct Incoming<V: Value> {
    core: Arc<Core<V>>,
    key: String,
    id: String,
    change: Option<Change<V>>,
}

struct Change<V> {
    versioned: Versioned<V>,
    revision: u64,
    /// The key is no longer in the bucket at all (a tombstone that expired).
    vanished: bool,
}

impl<V: Value> Incoming<V> {
    /// The id the key stands for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Decides, against this replica's state of the key, whether the bucket's value wins: the
    /// value to apply (`Some(None)` for a delete), or `None` when this replica's state is
    /// newer or the same. Call it under the lock of the state the value changes.
    pub fn accept(mut self) -> Option<Option<V>> {
        let change = self.change.take()?;
        self.core.decide(&self.key, change)
    }
}

impl<V: Value> Drop for Incoming<V> {
    fn drop(&mut self) {
        // Not accepted (the user could not use it): its revision still counts.
        if let Some(change) = self.change.take() {
            let _ = self.core.decide(&self.key, change);
        }
    }
}

impl<V: Value> Core<V> {
    pub(super) fn new(bucket: String, options: Options, shared: Arc<Shared>) -> Self {
        Self {
            bucket,
            options,
            shared,
            state: Mutex::new(State {
                slots: HashMap::new(),
                queue: BTreeSet::new(),
                phase: Phase::Closed,
                behind: false,
                stream: None,
            }),
            wake: Notify::new(),
            domain: OnceLock::new(),
            store: Mutex::new(None),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn store(&self) -> Option<kv::Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_store(&self, store: Option<kv::Store>) {
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = store;
    }

    fn domain(&self) -> Option<&Arc<dyn Domain<V>>> {
        self.domain.get()
    }

    /// Sets the user's callbacks; `false` when they were set already.
    pub(super) fn set_domain(&self, domain: Arc<dyn Domain<V>>) -> bool {
        self.domain.set(domain).is_ok()
    }

    /// A change made here: held at once, queued for the bucket.
    pub(super) fn write(&self, id: &str, value: Option<V>, clock: Clock) -> Receipt {
        let key = keys::encode(id);
        let versioned = Versioned {
            clock,
            by: self.shared.replica.clone(),
            value,
        };
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        if let Some(slot) = state.slots.get(&key) {
            if versioned.clock <= slot.held.clock {
                // Newer news is held already (an eviction of what changed meanwhile).
                return Receipt::settled(Written::Lost);
            }
        }
        state.finish(&key, Written::Superseded);
        let slot = state.slots.entry(key.clone()).or_insert_with(|| Slot {
            held: versioned.clone(),
            revision: 0,
            pending: false,
            seen: false,
            waiters: Vec::new(),
        });
        slot.held = versioned;
        slot.waiters.push(tx);
        state.requeue(&key);
        drop(state);
        self.wake.notify_one();
        Receipt::waiting(rx)
    }

    /// A value of the bucket (from the watch or read after a lost compare-and-set), for the
    /// user to accept. `None` when it cannot be read.
    pub(super) fn incoming(self: &Arc<Self>, entry: kv::Entry) -> Option<Incoming<V>> {
        let versioned = match entry.operation {
            kv::Operation::Put => match decode::<V>(&entry.value) {
                Ok(versioned) => versioned,
                Err(err) => {
                    tracing::warn!(bucket = %self.bucket, key = %entry.key, %err, "ignoring a value that cannot be read");
                    self.note_revision(&entry.key, entry.revision);
                    return None;
                }
            },
            // A delete or purge marker (an older hub's): a tombstone older than any change.
            kv::Operation::Delete | kv::Operation::Purge => Versioned {
                clock: Clock::default(),
                by: String::new(),
                value: None,
            },
        };
        let Some(id) = keys::decode(&entry.key) else {
            tracing::warn!(bucket = %self.bucket, key = %entry.key, "ignoring a key that is no id");
            return None;
        };
        self.shared.hlc.observe(&versioned.clock);
        Some(Incoming {
            core: self.clone(),
            key: entry.key,
            id,
            change: Some(Change {
                versioned,
                revision: entry.revision,
                vanished: false,
            }),
        })
    }

    /// A key this replica held that the bucket, opened again, no longer has (its tombstone
    /// expired): deleted here too.
    pub(super) fn vanished(self: &Arc<Self>, key: String) -> Option<Incoming<V>> {
        let id = keys::decode(&key)?;
        Some(Incoming {
            core: self.clone(),
            key,
            id,
            change: Some(Change {
                versioned: Versioned {
                    clock: Clock::default(),
                    by: String::new(),
                    value: None,
                },
                revision: 0,
                vanished: true,
            }),
        })
    }

    /// Hands `incoming` to the user (or decides it alone before [`Table::start`]).
    pub(super) fn deliver(&self, incoming: Incoming<V>) {
        match self.domain() {
            Some(domain) => domain.apply(incoming),
            None => drop(incoming),
        }
    }

    fn note_revision(&self, key: &str, revision: u64) {
        if let Some(slot) = self.lock().slots.get_mut(key) {
            slot.revision = slot.revision.max(revision);
        }
    }

    fn decide(&self, key: &str, change: Change<V>) -> Option<Option<V>> {
        let me = self.shared.replica.as_str();
        let mut settled = None;
        let decision = {
            let mut state = self.lock();
            if change.vanished {
                match state.slots.get(key) {
                    Some(slot) if !slot.pending => {
                        let had_value = slot.held.value.is_some();
                        state.slots.remove(key);
                        had_value.then_some(None)
                    }
                    _ => None,
                }
            } else if let Some(slot) = state.slots.get_mut(key) {
                slot.revision = slot.revision.max(change.revision);
                slot.seen = true;
                if change.versioned.clock == slot.held.clock {
                    // The same change: this replica's own, or one it made alike (the same
                    // eviction judged on two replicas).
                    if slot.pending {
                        let won = change.versioned.by == me;
                        settled = Some((slot.held.clone(), won));
                        let written = if won { Written::Won } else { Written::Lost };
                        state.finish(key, written);
                        self.forget_if_done(&mut state, key);
                    }
                    None
                } else if self.supersedes(&change.versioned, &slot.held) {
                    if slot.pending {
                        settled = Some((slot.held.clone(), false));
                        state.finish(key, Written::Lost);
                    }
                    let value = change.versioned.value.clone();
                    if let Some(slot) = state.slots.get_mut(key) {
                        slot.held = change.versioned;
                    }
                    self.forget_if_done(&mut state, key);
                    Some(value)
                } else {
                    None
                }
            } else {
                let value = change.versioned.value.clone();
                if self.options.keep_confirmed {
                    state.slots.insert(
                        key.to_owned(),
                        Slot {
                            held: change.versioned,
                            revision: change.revision,
                            pending: false,
                            seen: true,
                            waiters: Vec::new(),
                        },
                    );
                }
                Some(value)
            }
        };
        if let (Some((change, won)), Some(domain), Some(id)) =
            (settled, self.domain(), keys::decode(key))
        {
            domain.settled(&id, &change, won);
        }
        decision
    }

    fn supersedes(&self, bucket: &Versioned<V>, local: &Versioned<V>) -> bool {
        match self.domain() {
            Some(domain) => domain.supersedes(bucket, local),
            None => bucket.clock > local.clock,
        }
    }

    /// Drops a settled slot of a table that keeps no confirmed state.
    fn forget_if_done(&self, state: &mut State<V>, key: &str) {
        if !self.options.keep_confirmed && state.slots.get(key).is_some_and(|s| !s.pending) {
            state.slots.remove(key);
        }
    }

    /// The bucket took the change stamped `clock` of `key` at `revision`.
    pub(super) fn confirmed(&self, key: &str, clock: &Clock, revision: u64) {
        let mut settled = None;
        {
            let mut state = self.lock();
            let Some(slot) = state.slots.get_mut(key) else {
                return;
            };
            slot.revision = slot.revision.max(revision);
            slot.seen = true;
            if slot.pending && slot.held.clock == *clock {
                settled = Some(slot.held.clone());
                state.finish(key, Written::Won);
                self.forget_if_done(&mut state, key);
            }
        }
        if let (Some(change), Some(domain), Some(id)) = (settled, self.domain(), keys::decode(key))
        {
            domain.settled(&id, &change, true);
        }
    }
}

impl<V: Value> Core<V> {
    /// A change that can never be written (it cannot be encoded, or its key is invalid):
    /// dropped, as lost.
    pub(super) fn dropped(&self, key: &str, clock: &Clock) {
        let mut state = self.lock();
        if state
            .slots
            .get(key)
            .is_some_and(|s| s.pending && s.held.clock == *clock)
        {
            state.finish(key, Written::Lost);
            state.slots.remove(key);
        }
    }

    /// The bucket has no value of `key` (any more): a write expects none.
    pub(super) fn forget_revision(&self, key: &str) {
        if let Some(slot) = self.lock().slots.get_mut(key) {
            slot.revision = 0;
        }
    }

    /// Takes out the tombstones older than `ttl` that the bucket holds; their keys and
    /// revisions.
    pub(super) fn expired_tombstones(&self, ttl: Duration) -> Vec<(String, u64)> {
        let ttl_us = u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX);
        let horizon = super::clock::wall_us().saturating_sub(ttl_us);
        let mut state = self.lock();
        let expired: Vec<(String, u64)> = (state.slots.iter())
            .filter(|(_, s)| !s.pending && s.held.value.is_none() && s.held.clock.us < horizon)
            .map(|(key, s)| (key.clone(), s.revision))
            .collect();
        for (key, _) in &expired {
            state.slots.remove(key);
        }
        expired.into_iter().filter(|(_, rev)| *rev > 0).collect()
    }
}

/// Reads a stored value: a [`Versioned`], or a bare value of an older hub (older than any
/// change).
pub(super) fn decode<V: Value>(bytes: &[u8]) -> Result<Versioned<V>, serde_json::Error> {
    match serde_json::from_slice::<Versioned<V>>(bytes) {
        Ok(versioned) => Ok(versioned),
        Err(err) => serde_json::from_slice::<V>(bytes)
            .map(|value| Versioned {
                clock: Clock::default(),
                by: String::new(),
                value: Some(value),
            })
            .map_err(|_| err),
    }
}
