//! Watching sessions from `/ws/mux`: per-id reference counts of the event feeds, and each
//! connection's own watched set.
//!
//! Every `start` is matched by exactly one `stop` (the connection's set is released on drop,
//! whatever ends it), and the count is kept per id whether or not a session currently has
//! that id, so re-registrations neither lose nor duplicate a feed. The registry's
//! pollers are counted alongside through `start_watching`/`stop_watching`. A feed runs only
//! while a session holds its id: it ends with the session, and the connections that watch
//! the id start it again when `session:online` says the id registered again. All
//! subscriptions together are bounded in bytes (docs/security.md, "Bounds").

use super::events;
use crate::hub::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// Sessions one `/ws/mux` connection may watch at once: a dashboard watches every session,
/// so this matches the default `--max-sessions`; a client cannot grow the hub's memory past it.
pub const MAX_WATCHED_PER_CONNECTION: usize = 16_384;

/// Memory all `/ws/mux` subscriptions of the hub may hold together (bytes, estimated per
/// subscription as its id plus [`WATCH_ENTRY_BYTES`]): ten dashboards watching a full fleet of
/// 16,384 sessions fit; clients past it get an error for the ids not watched.
pub const MAX_WATCH_BYTES: usize = 64 << 20;

/// What one connection's subscription to one id costs besides the id (bytes): its entry in
/// the connection's set and its share of the hub's per-id watch counts.
pub const WATCH_ENTRY_BYTES: usize = 256;

/// One watched id: how many subscriptions hold it, and its event feed while the session is
/// registered (a number telling feeds of successive registrations apart).
#[derive(Debug, Default)]
struct Feed {
    watchers: usize,
    running: Option<(u64, CancellationToken)>,
}

#[derive(Debug, Default)]
struct Feeds {
    by_id: HashMap<String, Feed>,
    /// Bytes held by all connections' subscriptions (see [`MAX_WATCH_BYTES`]).
    bytes: usize,
    next_feed: u64,
}

/// The event feeds of all watched ids: at most one per id, whatever the number of watchers,
/// and only while a session holds the id, so ids nobody registered cost an entry, not a task.
#[derive(Debug, Default)]
pub struct EventFeeds {
    feeds: Mutex<Feeds>,
}

impl EventFeeds {
    fn lock(&self) -> MutexGuard<'_, Feeds> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of running event feeds.
    pub fn running(&self) -> usize {
        self.lock()
            .by_id
            .values()
            .filter(|f| f.running.is_some())
            .count()
    }

    /// Bytes held by all subscriptions.
    pub fn watch_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Takes `bytes` of the hub's subscription budget; false when they do not fit.
    fn reserve(&self, bytes: usize) -> bool {
        let mut feeds = self.lock();
        if feeds.bytes + bytes > MAX_WATCH_BYTES {
            return false;
        }
        feeds.bytes += bytes;
        true
    }

    fn release(&self, bytes: usize) {
        let mut feeds = self.lock();
        feeds.bytes = feeds.bytes.saturating_sub(bytes);
    }

    fn start(self: &Arc<Self>, registry: &Arc<Registry>, id: &str, shutdown: &CancellationToken) {
        registry.start_watching(id);
        let mut feeds = self.lock();
        feeds.by_id.entry(id.to_owned()).or_default().watchers += 1;
        self.spawn_locked(&mut feeds, registry, id, shutdown);
    }

    fn stop(&self, registry: &Registry, id: &str) {
        registry.stop_watching(id);
        let mut feeds = self.lock();
        if let Some(feed) = feeds.by_id.get_mut(id) {
            feed.watchers -= 1;
            if feed.watchers == 0 {
                if let Some((_, token)) = feed.running.take() {
                    token.cancel();
                }
                feeds.by_id.remove(id);
            }
        }
    }

    /// Session `id` may have (re)registered: starts its feed if it is watched and has none.
    pub(super) fn online(
        self: &Arc<Self>,
        registry: &Arc<Registry>,
        id: &str,
        shutdown: &CancellationToken,
    ) {
        let mut feeds = self.lock();
        self.spawn_locked(&mut feeds, registry, id, shutdown);
    }

    /// Starts the feed of a watched id without one, if a session holds the id.
    fn spawn_locked(
        self: &Arc<Self>,
        feeds: &mut Feeds,
        registry: &Arc<Registry>,
        id: &str,
        shutdown: &CancellationToken,
    ) {
        let number = feeds.next_feed;
        let Some(feed) = feeds.by_id.get_mut(id) else {
            return;
        };
        if feed.running.is_some() || registry.get(id).is_err() {
            return;
        }
        let token = shutdown.child_token();
        feed.running = Some((number, token.clone()));
        feeds.next_feed += 1;
        let (this, registry, id, shutdown) = (
            self.clone(),
            registry.clone(),
            id.to_owned(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            events::run(&registry, &id, token, events::Sink::Mux).await;
            this.ended(&registry, &id, number, &shutdown);
        });
    }

    /// Feed `number` of `id` ended (its session went away, or its watchers left): a session
    /// that registered the id again meanwhile gets a new one.
    fn ended(
        self: &Arc<Self>,
        registry: &Arc<Registry>,
        id: &str,
        number: u64,
        shutdown: &CancellationToken,
    ) {
        let mut feeds = self.lock();
        let Some(feed) = feeds.by_id.get_mut(id) else {
            return;
        };
        if feed.running.as_ref().is_some_and(|(n, _)| *n == number) {
            feed.running = None;
            if !shutdown.is_cancelled() {
                self.spawn_locked(&mut feeds, registry, id, shutdown);
            }
        }
    }
}

/// Why some ids of a `subscribe` were not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The connection watches [`MAX_WATCHED_PER_CONNECTION`] ids.
    ConnectionFull(usize),
    /// The hub's subscriptions hold [`MAX_WATCH_BYTES`].
    HubFull(usize),
}

impl Refused {
    /// The `error` message a client gets.
    pub fn message(self) -> String {
        match self {
            Self::ConnectionFull(n) => format!(
                "{n} sessions not watched: a connection watches at most {MAX_WATCHED_PER_CONNECTION}"
            ),
            Self::HubFull(n) => format!(
                "{n} sessions not watched: the hub's subscriptions are at their limit of {MAX_WATCH_BYTES} bytes"
            ),
        }
    }
}

/// The ids one `/ws/mux` connection watches; released when dropped.
#[derive(Debug)]
pub struct Watched {
    ids: HashSet<String>,
    feeds: Arc<EventFeeds>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
}

impl Watched {
    /// An empty set.
    pub fn new(
        feeds: Arc<EventFeeds>,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            ids: HashSet::new(),
            feeds,
            registry,
            shutdown,
        }
    }

    /// Starts watching the ids not yet watched, up to [`MAX_WATCHED_PER_CONNECTION`] in all
    /// and within the hub's [`MAX_WATCH_BYTES`] (ids that break the id rules are skipped);
    /// returns those now watched, and why others were not.
    pub fn add(&mut self, ids: Vec<String>) -> (Vec<String>, Option<Refused>) {
        let mut added = Vec::new();
        let mut refused = None;
        let total = ids.len();
        for (i, id) in ids.into_iter().enumerate() {
            if crate::hub::registry::ids::validate(&id).is_err() || self.ids.contains(&id) {
                continue;
            }
            if self.ids.len() >= MAX_WATCHED_PER_CONNECTION {
                refused = Some(Refused::ConnectionFull(total - i));
                break;
            }
            if !self.feeds.reserve(cost(&id)) {
                refused = Some(Refused::HubFull(total - i));
                break;
            }
            self.ids.insert(id.clone());
            self.feeds.start(&self.registry, &id, &self.shutdown);
            added.push(id);
        }
        (added, refused)
    }

    /// A session registered: starts its event feed if this connection watches it.
    pub fn online(&self, id: &str) {
        if self.ids.contains(id) {
            self.feeds.online(&self.registry, id, &self.shutdown);
        }
    }

    /// After missed registry events: starts the feeds of watched sessions that lack one.
    pub fn resync(&self) {
        for id in &self.ids {
            self.feeds.online(&self.registry, id, &self.shutdown);
        }
    }

    /// Stops watching the ids that were watched; returns those.
    pub fn remove(&mut self, ids: Vec<String>) -> Vec<String> {
        let mut removed = Vec::new();
        for id in ids {
            if self.ids.remove(&id) {
                self.feeds.stop(&self.registry, &id);
                self.feeds.release(cost(&id));
                removed.push(id);
            }
        }
        removed
    }

    /// Whether `id` is watched.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// The watched ids.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.ids.iter()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        for id in self.ids.drain() {
            self.feeds.stop(&self.registry, &id);
            self.feeds.release(cost(&id));
        }
    }
}

/// What watching `id` costs the hub's budget.
fn cost(id: &str) -> usize {
    id.len() + WATCH_ENTRY_BYTES
}
