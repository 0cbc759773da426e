//! One replicated table: a bucket, this replica's view of it, and the changes made here that
//! the bucket does not hold yet (docs/scaling.md, "How a change travels").
//!
//! Every key has a slot holding the newest state this replica knows: its own latest change or
//! the bucket's, each with its clock. A local change replaces the slot at once and is
//! queued (in clock order, one entry per key) until the bucket takes it; a value from the
//! bucket replaces the slot only when the table's user says it [`Domain::supersedes`] it
//! (by default: the newer clock wins). Users apply the bucket's values under their own lock
//! through [`Incoming::accept`], so no local change can come in between the decision and the
//! change of their state.

use super::keys;
use super::slots::{decode, Core, Incoming, Phase};
use async_nats::jetstream::kv;
use protocol::fleet::Versioned;
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// What a table holds: a serde value.
pub trait Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Value for T {}

/// What a table's user supplies: how the bucket's values change its own state.
pub trait Domain<V: Value>: Send + Sync + 'static {
    /// Another replica's value of a key (`None`: deleted) arrived. Call
    /// [`Incoming::accept`] under the lock of the state it changes; apply what it returns.
    fn apply(&self, incoming: Incoming<V>);

    /// Whether the bucket's value wins over this replica's (`local`, maybe a change not
    /// written yet). The default is the conflict rule of docs/scaling.md: the newer clock.
    fn supersedes(&self, bucket: &Versioned<V>, local: &Versioned<V>) -> bool {
        bucket.clock > local.clock
    }

    /// A change made here was settled: `won` when the bucket took it, not when another
    /// replica's change of the key won over it.
    fn settled(&self, _id: &str, _change: &Versioned<V>, _won: bool) {}
}

/// What became of a change made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The bucket holds it.
    Won,
    /// Another replica's change of the key won (it is applied here).
    Lost,
    /// A newer change made here replaced it before it was written.
    Superseded,
    /// Not settled yet: NATS is unreachable or slow; it is written when it can be.
    Deferred,
}

/// Waits for a change's [`Written`].
#[derive(Debug)]
pub struct Receipt(Option<oneshot::Receiver<Written>>);

impl Receipt {
    /// A receipt that waits on `rx`.
    pub(super) fn waiting(rx: oneshot::Receiver<Written>) -> Self {
        Self(Some(rx))
    }

    /// A receipt already settled as `written`.
    pub(super) fn settled(written: Written) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(written);
        Self(Some(rx))
    }

    /// The change's fate, or [`Written::Deferred`] if it is not settled within `limit`.
    pub async fn within(self, limit: Duration) -> Written {
        let Some(rx) = self.0 else {
            return Written::Deferred;
        };
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(written)) => written,
            _ => Written::Deferred,
        }
    }
}

/// How a table is kept.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Follow the bucket (every value, then every change) and apply other replicas' changes.
    /// Without it the table only writes, and reads a key when asked.
    pub watch: bool,
    /// Keep the slots the bucket confirmed (the state of every key); without it a slot is
    /// dropped once its change is written.
    pub keep_confirmed: bool,
}

/// One bucket's table; clones share it.
pub struct Table<V: Value> {
    pub(super) core: Arc<Core<V>>,
}

impl<V: Value> Clone for Table<V> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

impl<V: Value> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("bucket", &self.core.bucket)
            .finish_non_exhaustive()
    }
}

impl<V: Value> Table<V> {
    /// Starts following and writing the bucket, applying other replicas' changes through
    /// `domain`. Changes made before are kept and written once the bucket is open.
    pub fn start(&self, domain: Arc<dyn Domain<V>>) {
        if self.core.set_domain(domain) {
            super::sync::spawn(self.core.clone());
        }
    }

    /// A change of `id` made here now: its value is `value`.
    pub fn put(&self, id: &str, value: V) -> Receipt {
        self.core.write(id, Some(value), self.core.shared.hlc.now())
    }

    /// `id` was deleted here now (a tombstone, so that no older value comes back).
    pub fn delete(&self, id: &str) -> Receipt {
        self.core.write(id, None, self.core.shared.hlc.now())
    }

    /// Offers `value` for `id` with the oldest clock: the bucket keeps any value it has, and
    /// takes this one only for a key it lacks (what this replica held before it shared).
    pub fn seed(&self, id: &str, value: V) -> Receipt {
        self.core
            .write(id, Some(value), self.core.shared.hlc.seed())
    }

    /// `id`, judged dead here as this replica holds it, is deleted right after that value
    /// (docs/scaling.md, "The conflict rule"): any later change of it wins over the eviction.
    /// [`Written::Lost`] at once when a change of it made here is not written yet (news the
    /// check did not judge) or it is deleted already.
    pub fn evict(&self, id: &str) -> Receipt {
        let key = keys::encode(id);
        let judged = {
            let state = self.core.lock();
            match state.slots.get(&key) {
                Some(slot) if slot.pending || slot.held.value.is_none() => {
                    return Receipt::settled(Written::Lost);
                }
                Some(slot) => super::clock::after(&slot.held.clock),
                None => self.core.shared.hlc.now(),
            }
        };
        self.core.write(id, None, judged)
    }

    /// Waits for the change of `id` not written yet, if any ([`Written::Won`] at once when the
    /// bucket holds this replica's state of it already).
    pub fn receipt(&self, id: &str) -> Receipt {
        let mut state = self.core.lock();
        match state.slots.get_mut(&keys::encode(id)) {
            Some(slot) if slot.pending => {
                let (tx, rx) = oneshot::channel();
                slot.waiters.push(tx);
                Receipt(Some(rx))
            }
            _ => Receipt::settled(Written::Won),
        }
    }

    /// This replica's state of `id`: `Some(None)` when it holds a delete, `None` when it holds
    /// nothing of it.
    pub fn held(&self, id: &str) -> Option<Option<V>> {
        let state = self.core.lock();
        state
            .slots
            .get(&keys::encode(id))
            .map(|slot| slot.held.value.clone())
    }

    /// Whether changes reach the bucket now (NATS up, the bucket open and read).
    pub fn is_shared(&self) -> bool {
        self.core.lock().phase == Phase::Synced && self.core.shared.link.is_up()
    }

    /// Reads `id` from the bucket now and applies it like a watched change (a lease holder
    /// reads the account again before refreshing). Nothing when the bucket cannot be read.
    pub async fn refresh(&self, id: &str) {
        let Some(store) = self.core.store() else {
            return;
        };
        let read = store.entry(keys::encode(id));
        if let Ok(Ok(Some(entry))) = tokio::time::timeout(self.core.shared.op_timeout, read).await {
            if let Some(incoming) = self.core.incoming(entry) {
                self.core.deliver(incoming);
            }
        }
    }

    /// The bucket's value of `id` now; `None` when absent, deleted or unreadable.
    pub async fn read(&self, id: &str) -> Option<V> {
        let store = self.core.store()?;
        let read = store.entry(keys::encode(id));
        let entry = tokio::time::timeout(self.core.shared.op_timeout, read)
            .await
            .ok()?
            .ok()??;
        (entry.operation == kv::Operation::Put)
            .then(|| decode::<V>(&entry.value).ok()?.value)
            .flatten()
    }

    /// The state of this table's sharing.
    pub fn state(&self) -> super::State {
        let phase = self.core.lock().phase;
        let link = self.core.shared.link.state();
        super::State::of(phase, link)
    }

    /// Changes made here that the bucket does not hold yet.
    pub fn buffered(&self) -> usize {
        self.core.lock().queue.len()
    }

    /// Waits (at most `limit`) until the first opening decided whether the bucket can be
    /// used; the state then.
    pub async fn settled(&self, limit: Duration) -> super::State {
        let decided = async {
            loop {
                let notified = self.core.shared.phases.notified();
                if !matches!(self.core.lock().phase, Phase::Closed | Phase::Syncing) {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, decided).await;
        self.state()
    }
}
