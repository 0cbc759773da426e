//! Watching sessions from `/ws/mux`: per-id reference counts of the event feeds, and each
//! connection's own watched set.
//!
//! Every `start` is matched by exactly one `stop` (the connection's set is released on drop,
//! whatever ends it), and the count is kept per id whether or not a session currently has
//! that id, so re-registrations neither lose nor duplicate a feed. The registry's
//! pollers are counted alongside through `start_watching`/`stop_watching`.

use super::events;
use crate::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// Sessions one `/ws/mux` connection may watch at once: a dashboard watches every session,
/// so this matches the default `--max-sessions`; a client cannot grow the hub's memory past it.
pub const MAX_WATCHED_PER_CONNECTION: usize = 16_384;

/// The event feeds of all watched ids: one per id, whatever the number of watchers.
#[derive(Debug, Default)]
pub struct EventFeeds {
    feeds: Mutex<HashMap<String, (usize, CancellationToken)>>,
}

impl EventFeeds {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, (usize, CancellationToken)>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of running event feeds.
    pub fn running(&self) -> usize {
        self.lock().len()
    }

    fn start(&self, registry: &Arc<Registry>, id: &str, shutdown: &CancellationToken) {
        registry.start_watching(id);
        let mut feeds = self.lock();
        let entry = feeds
            .entry(id.to_owned())
            .or_insert_with(|| (0, shutdown.child_token()));
        entry.0 += 1;
        if entry.0 == 1 {
            tokio::spawn(events::run(
                registry.clone(),
                id.to_owned(),
                entry.1.clone(),
                events::Sink::Mux,
            ));
        }
    }

    fn stop(&self, registry: &Registry, id: &str) {
        registry.stop_watching(id);
        let mut feeds = self.lock();
        if let Some((count, token)) = feeds.get_mut(id) {
            *count -= 1;
            if *count == 0 {
                token.cancel();
                feeds.remove(id);
            }
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
    /// (ids that break the id rules are skipped); returns those now watched.
    pub fn add(&mut self, ids: Vec<String>) -> Vec<String> {
        let mut added = Vec::new();
        for id in ids {
            if self.ids.len() >= MAX_WATCHED_PER_CONNECTION {
                break;
            }
            if crate::registry::ids::validate(&id).is_ok() && self.ids.insert(id.clone()) {
                self.feeds.start(&self.registry, &id, &self.shutdown);
                added.push(id);
            }
        }
        added
    }

    /// Stops watching the ids that were watched; returns those.
    pub fn remove(&mut self, ids: Vec<String>) -> Vec<String> {
        let mut removed = Vec::new();
        for id in ids {
            if self.ids.remove(&id) {
                self.feeds.stop(&self.registry, &id);
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
        }
    }
}
