//! The fleet that hub replicas share (docs/scaling.md, "Replicas sharing one fleet"): with
//! NATS on and JetStream enabled on the server, every session, every registration-token hash
//! and every launch → session link is also a key in a JetStream key-value bucket, and each
//! replica watches the buckets and applies the others' changes to its own registry.
//!
//! The registry's map stays the fast read path; this module only mirrors it. Local changes
//! are applied at once and queued for the bucket ([`Fleet::put_session`],
//! [`Fleet::delete_session`]): registration never waits for NATS. Evictions are the one
//! write that waits (bounded), because it is a compare-and-set on the revision last seen, so
//! that two replicas never both evict and a heartbeat through another replica wins.

mod apply;
mod keys;
mod writer;

pub use keys::kv_key;

use crate::nats::{Link, LinkState};
use crate::registry::Registry;
use async_nats::jetstream::kv;
use protocol::fleet::SessionRecord;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Writes queued for the buckets at once (count). Beyond it a write is dropped and logged;
/// the next reconcile (on reconnect) re-puts what the bucket misses.
pub const FLEET_WRITE_QUEUE: usize = 16_384;

/// Longest wait for one bucket operation (a put, a compare-and-set delete, a read).
pub const FLEET_OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Default prefix of the bucket names (`{prefix}-sessions`, `-tokens`, `-launches`).
pub const DEFAULT_BUCKET_PREFIX: &str = "coopmux";

/// Where the registry lives, as `/api/v1/health` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FleetMode {
    /// Not known yet: NATS not connected, or the buckets not opened.
    Pending = 0,
    /// In the shared buckets.
    Shared = 1,
    /// The server has no JetStream: this replica's memory only.
    Local = 2,
}

impl FleetMode {
    /// The word `/api/v1/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Shared => "shared",
            Self::Local => "local",
        }
    }
}

/// A write waiting for the writer task.
#[derive(Debug)]
pub(crate) enum Write {
    /// Put a session record.
    PutSession(Box<SessionRecord>),
    /// Delete a session key (a DELETE, an eviction already decided elsewhere).
    DeleteSession(String),
    /// Put a token record (key = the token's hash).
    PutToken(String, protocol::fleet::TokenRecord),
    /// Delete a token key.
    DeleteToken(String),
}

/// A local write whose echo the watch has not delivered yet: until it does, remote values
/// of that key are older than the local state and are not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Put(u64),
    Delete,
}

/// The three buckets.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    pub(crate) sessions: kv::Store,
    pub(crate) tokens: kv::Store,
    pub(crate) launches: kv::Store,
}

#[derive(Debug, Default)]
struct Keys {
    /// Local writes not yet seen in the watch, by session key.
    pending: HashMap<String, Pending>,
    /// Last revision seen per session key (for compare-and-set).
    revisions: HashMap<String, u64>,
    /// Session ids changed here while the bucket was out of reach; reconcile writes them.
    dirty: HashSet<String>,
}

/// The shared fleet of one replica.
#[derive(Debug)]
pub struct Fleet {
    /// This replica's id (a UUID), written into every record it puts.
    replica: String,
    bucket_prefix: String,
    mode: AtomicU8,
    seq: AtomicU64,
    keys: Mutex<Keys>,
    buckets: Mutex<Option<Buckets>>,
    writes: mpsc::Sender<Write>,
    queue: Mutex<Option<mpsc::Receiver<Write>>>,
    link: Arc<Link>,
}

/// What a compare-and-set eviction came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// This replica deleted the key: it evicts.
    Won,
    /// The key changed or went meanwhile (a heartbeat elsewhere, or another replica
    /// evicted): the watch applies whatever happened.
    Lost,
    /// The bucket is not in use: the replica evicts locally.
    Local,
}

impl Fleet {
    /// A fleet on `link` with buckets `{bucket_prefix}-…`; [`Fleet::start`] opens them.
    pub fn new(link: Arc<Link>, bucket_prefix: &str) -> Arc<Self> {
        let (writes, queue) = mpsc::channel(FLEET_WRITE_QUEUE);
        Arc::new(Self {
            replica: uuid::Uuid::new_v4().to_string(),
            bucket_prefix: bucket_prefix.to_owned(),
            mode: AtomicU8::new(FleetMode::Pending as u8),
            seq: AtomicU64::new(0),
            keys: Mutex::default(),
            buckets: Mutex::new(None),
            writes,
            queue: Mutex::new(Some(queue)),
            link,
        })
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Where the registry lives now.
    pub fn mode(&self) -> FleetMode {
        match self.mode.load(Ordering::Relaxed) {
            1 => FleetMode::Shared,
            2 => FleetMode::Local,
            _ => FleetMode::Pending,
        }
    }

    fn set_mode(&self, mode: FleetMode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    fn keys(&self) -> MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn buckets(&self) -> Option<Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether writes go to the buckets (shared and connected).
    fn writing(&self) -> bool {
        self.mode() == FleetMode::Shared && self.link.state() == LinkState::Connected
    }

    fn enqueue(&self, write: Write) {
        if let Err(err) = self.writes.try_send(write) {
            tracing::warn!(%err, "fleet write queue full; the next reconcile repairs the bucket");
        }
    }

    fn mark_dirty(&self, id: &str) {
        if self.mode() == FleetMode::Shared {
            self.keys().dirty.insert(id.to_owned());
        }
    }

    /// Queues a put of a session changed locally (registered, heartbeat, announced).
    pub fn put_session(&self, mut record: SessionRecord) {
        if !self.writing() {
            self.mark_dirty(&record.id);
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        record.origin = self.replica.clone();
        record.origin_seq = seq;
        self.keys()
            .pending
            .insert(kv_key(&record.id), Pending::Put(seq));
        self.enqueue(Write::PutSession(Box::new(record)));
    }

    /// Queues the delete of a session removed locally (DELETE, `offline` announce).
    pub fn delete_session(&self, id: &str) {
        if !self.writing() {
            self.mark_dirty(id);
            return;
        }
        self.keys().pending.insert(kv_key(id), Pending::Delete);
        self.enqueue(Write::DeleteSession(id.to_owned()));
    }

    /// Queues a token record (issued or bound); `hash` is the token's SHA-256.
    pub fn put_token(&self, hash: &str, record: protocol::fleet::TokenRecord) {
        if self.writing() {
            self.enqueue(Write::PutToken(hash.to_owned(), record));
        }
    }

    /// Queues the delete of a revoked token's record.
    pub fn delete_token(&self, hash: &str) {
        if self.writing() {
            self.enqueue(Write::DeleteToken(hash.to_owned()));
        }
    }

    /// Evicts `id` by compare-and-set on the revision this replica last saw.
    pub async fn evict(&self, id: &str) -> Eviction {
        let key = kv_key(id);
        let Some(buckets) = self.buckets().filter(|_| self.writing()) else {
            return Eviction::Local;
        };
        let revision = {
            let keys = self.keys();
            if keys.pending.contains_key(&key) {
                // A local write is on its way: that is news the check has not judged.
                return Eviction::Lost;
            }
            keys.revisions.get(&key).copied()
        };
        let Some(revision) = revision else {
            return Eviction::Lost;
        };
        let delete = buckets
            .sessions
            .delete_expect_revision(&key, Some(revision));
        match tokio::time::timeout(FLEET_OP_TIMEOUT, delete).await {
            Ok(Ok(())) => {
                self.keys().pending.insert(key, Pending::Delete);
                Eviction::Won
            }
            Ok(Err(err)) => {
                tracing::debug!(session = id, %err, "eviction lost the compare-and-set");
                Eviction::Lost
            }
            Err(_) => {
                tracing::warn!(session = id, "eviction compare-and-set timed out");
                Eviction::Lost
            }
        }
    }

    /// Records that `launch_id` became `session_id`, create-only: `false` when the launch is
    /// already linked to another session (or the bucket is not in use).
    pub async fn link_launch(&self, launch_id: &str, session_id: &str) -> bool {
        let Some(buckets) = self.buckets().filter(|_| self.writing()) else {
            return false;
        };
        let record = protocol::fleet::LaunchRecord {
            session: session_id.to_owned(),
        };
        let Ok(value) = serde_json::to_vec(&record) else {
            return false;
        };
        let create = buckets.launches.create(kv_key(launch_id), value.into());
        matches!(
            tokio::time::timeout(FLEET_OP_TIMEOUT, create).await,
            Ok(Ok(_))
        )
    }

    /// The session a launch was linked to, by any replica.
    pub async fn launch_session(&self, launch_id: &str) -> Option<String> {
        let buckets = self.buckets()?;
        let get = buckets.launches.get(kv_key(launch_id));
        let value = tokio::time::timeout(FLEET_OP_TIMEOUT, get)
            .await
            .ok()?
            .ok()??;
        let record: protocol::fleet::LaunchRecord = serde_json::from_slice(&value).ok()?;
        Some(record.session)
    }

    /// Binds the token with this hash to `session_id` unless another replica bound it to
    /// another session first (compare-and-set on its record). `None` when the bucket cannot
    /// tell (not in use, no record, timed out): the local decision stands.
    pub async fn bind_token(&self, hash: &str, session_id: &str) -> Option<bool> {
        let buckets = self.buckets().filter(|_| self.writing())?;
        let bind = async {
            for _ in 0..3 {
                let entry = buckets.tokens.entry(hash).await.ok()??;
                if entry.operation != kv::Operation::Put {
                    return None;
                }
                let record: protocol::fleet::TokenRecord =
                    serde_json::from_slice(&entry.value).ok()?;
                if let Some(bound) = record.session {
                    return Some(bound == session_id);
                }
                let bound = protocol::fleet::TokenRecord {
                    session: Some(session_id.to_owned()),
                };
                let value = serde_json::to_vec(&bound).ok()?;
                if buckets
                    .tokens
                    .update(hash, value.into(), entry.revision)
                    .await
                    .is_ok()
                {
                    return Some(true);
                }
            }
            None
        };
        tokio::time::timeout(FLEET_OP_TIMEOUT, bind)
            .await
            .ok()
            .flatten()
    }

    /// Opens the buckets once NATS is connected and keeps this replica's registry in step
    /// with them until shutdown: the writer drains the queue, the watcher applies every
    /// change (and re-syncs after a reconnect).
    pub fn start(self: &Arc<Self>, registry: Arc<Registry>, shutdown: CancellationToken) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(queue) = queue {
            tokio::spawn(writer::run(self.clone(), queue, shutdown.clone()));
        }
        tokio::spawn(apply::run(self.clone(), registry, shutdown));
    }
}
