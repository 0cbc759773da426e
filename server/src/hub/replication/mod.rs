//! What replicas share (docs/scaling.md, "Replicas sharing one fleet", "The conflict rule"):
//! one driver for every piece of state hub replicas keep in step through NATS JetStream
//! key-value buckets. Sessions, registration tokens and launch links (`fleet`) and credential
//! accounts (`credentials`) are its users; each gives only its domain callbacks ([`Domain`]).
//!
//! The driver owns, once for all of them: the link's state (a `watch` of [`Link`]), opening
//! the buckets with one reopen policy, the [`State`] health shows, the key codec ([`keys`]),
//! the clock every change is stamped with ([`clock`]), and the conflict rule: a change made
//! here is held at once and written with compare-and-set, in order; a value from the bucket
//! replaces this replica's only when it is newer. While NATS is down or does not answer,
//! changes are kept (one per key, the newest) and written when it is back, where they win
//! over older values and lose to newer ones. Deletes are tombstones carrying their clock, so
//! a replica that missed them cannot bring a value back; they are removed after
//! [`Settings::tombstone_ttl`].
//!
//! A new thing to share is a new user, not another driver: a [`Table`] from
//! [`Replication::table`]; a [`Domain`] whose `apply` calls [`Incoming::accept`] under the
//! lock of its own state and applies what it returns, and whose `supersedes` states its rule
//! when newest-wins is not it (the first answer of a prompt wins, say: as tokens keep their
//! first binding); changes made here through [`Table::put`] and [`Table::delete`] under the
//! same lock; and, where the caller must know whether its change is the replicas' (a
//! compare-and-set answer), the [`Receipt`] awaited a bounded time.

pub mod bucket;
pub mod clock;
pub mod keys;
mod slots;
mod sync;
mod table;

pub use slots::Incoming;
pub use table::{Domain, Options, Receipt, Table, Value, Written};

use crate::edge::backoff::Policy;
use crate::hub::nats::{Link, LinkState};
use clock::Hlc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Opening a bucket again (NATS back, a watch that failed, a server without JetStream yet):
/// quick at first, then every 10 s.
pub const REOPEN: Policy = Policy {
    first: Duration::from_millis(200),
    max: Duration::from_secs(10),
    attempts: None,
};

/// Retrying a write the server did not answer: the link's probe says soon whether it is
/// gone; until then, a few tries.
pub const RETRY: Policy = Policy {
    first: Duration::from_millis(100),
    max: Duration::from_secs(2),
    attempts: None,
};

/// Longest wait for one bucket operation (a write, a read, opening).
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a tombstone stays by default (24 h): a replica cut off for longer may bring back
/// what was deleted meanwhile.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The driver's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Prefix of the bucket names (`{prefix}-{name}`).
    pub bucket_prefix: String,
    /// How long a tombstone stays in the buckets.
    pub tombstone_ttl: Duration,
}

/// Where a table's sharing stands, as `/api/v1/health` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// The bucket is followed and written.
    Shared,
    /// Not known yet: NATS not reached, or the bucket not opened yet.
    Pending,
    /// NATS is down or does not answer (or the bucket is being opened again): changes made
    /// here are kept and written when it is back.
    Buffering,
    /// The server has no JetStream: this hub's memory only (changes are kept in case it gets
    /// it).
    Local,
}

impl State {
    /// The word `/api/v1/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Pending => "pending",
            Self::Buffering => "buffering",
            Self::Local => "local",
        }
    }

    fn of(phase: slots::Phase, link: LinkState) -> Self {
        use slots::Phase;
        match (phase, link) {
            (Phase::NoJetStream, _) => Self::Local,
            (Phase::Synced, LinkState::Connected) => Self::Shared,
            (Phase::Closed, LinkState::Connecting | LinkState::Connected) => Self::Pending,
            (Phase::Syncing, LinkState::Connected) => Self::Pending,
            _ => Self::Buffering,
        }
    }
}

/// What every table of one replica shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) link: Arc<Link>,
    /// This replica's id (a UUID): its clocks and writes carry it.
    pub(crate) replica: String,
    pub(crate) hlc: Hlc,
    pub(crate) settings: Settings,
    pub(crate) op_timeout: Duration,
    pub(crate) shutdown: CancellationToken,
    /// Notified whenever a table's phase changes.
    pub(crate) phases: Notify,
}

/// A table's state and buffered writes, for health.
trait Gauge: Send + Sync + std::fmt::Debug {
    fn state(&self) -> State;
    fn buffered(&self) -> usize;
}

impl<V: Value> Gauge for Table<V> {
    fn state(&self) -> State {
        Table::state(self)
    }

    fn buffered(&self) -> usize {
        Table::buffered(self)
    }
}

/// The replication driver of one hub.
#[derive(Debug)]
pub struct Replication {
    shared: Arc<Shared>,
    /// Every table by name, for health.
    tables: Mutex<Vec<(String, Box<dyn Gauge>)>>,
}

impl Replication {
    /// The driver of a replica on `link`; tables start with [`Table::start`].
    pub fn new(link: Arc<Link>, settings: Settings, shutdown: CancellationToken) -> Arc<Self> {
        let replica = uuid::Uuid::new_v4().to_string();
        Arc::new(Self {
            shared: Arc::new(Shared {
                hlc: Hlc::new(&replica),
                replica,
                link,
                settings,
                op_timeout: OP_TIMEOUT,
                shutdown,
                phases: Notify::new(),
            }),
            tables: Mutex::default(),
        })
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.shared.replica
    }

    /// The NATS link.
    pub fn link(&self) -> &Arc<Link> {
        &self.shared.link
    }

    /// The table of bucket `{prefix}-{name}`, not started yet (changes made before
    /// [`Table::start`] are kept and written once it runs).
    pub fn table<V: Value>(&self, name: &str, options: Options) -> Table<V> {
        let bucket = format!("{}-{name}", self.shared.settings.bucket_prefix);
        let table = Table {
            core: Arc::new(slots::Core::new(bucket, options, self.shared.clone())),
        };
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_owned(), Box::new(table.clone())));
        table
    }

    /// The state of table `name`, if there is one.
    pub fn state_of(&self, name: &str) -> Option<State> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.state())
    }

    /// Opens the bucket `{prefix}-{name}` whose values expire after `max_age` (a lease
    /// bucket), once NATS is up; `None` when it cannot be opened now.
    pub async fn raw_bucket(
        &self,
        name: &str,
        max_age: Duration,
    ) -> Option<async_nats::jetstream::kv::Store> {
        let client = self.shared.link.try_client()?;
        if !self.shared.link.is_up() {
            return None;
        }
        let bucket = format!("{}-{name}", self.shared.settings.bucket_prefix);
        bucket::open(client, &bucket, max_age, self.shared.op_timeout)
            .await
            .map_err(|err| tracing::debug!(%err, "cannot open a bucket"))
            .ok()
    }

    /// The state of every table together (the least shared one) and the changes they keep.
    pub fn status(&self) -> (State, usize) {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let state = tables
            .iter()
            .map(|(_, t)| t.state())
            .max()
            .unwrap_or(State::Pending);
        (state, tables.iter().map(|(_, t)| t.buffered()).sum())
    }
}

/// The replication lines of `/metrics`.
pub fn render_metrics(replication: &Replication) -> String {
    let (_, buffered) = replication.status();
    format!(
        "# HELP coopmux_replication_buffered_writes Changes made here that the shared buckets do not hold yet.\n\
         # TYPE coopmux_replication_buffered_writes gauge\n\
         coopmux_replication_buffered_writes {buffered}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::{slots::Phase, LinkState, State};

    #[test]
    fn health_tells_an_outage_and_a_frozen_server_from_no_jetstream() {
        use LinkState::{Connected, Connecting, Disconnected, Unresponsive};
        for (phase, link, state) in [
            (Phase::NoJetStream, Connected, State::Local),
            (Phase::Synced, Disconnected, State::Buffering),
            (Phase::Synced, Unresponsive, State::Buffering),
            (Phase::Synced, Connected, State::Shared),
            (Phase::Closed, Connecting, State::Pending),
            (Phase::Closed, Disconnected, State::Buffering),
        ] {
            assert_eq!(State::of(phase, link), state, "{phase:?} {link:?}");
        }
    }
}
