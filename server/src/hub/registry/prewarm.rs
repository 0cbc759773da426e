//! Prewarm: keeps the caches of up to `--prewarm-capacity` unwatched
//! sessions warm by polling them every `--prewarm-poll-ms`.
//!
//! The sessions of a cycle are polled concurrently (bounded), so a few
//! dead upstreams cannot stall the whole cycle, and reads through the REST API touch the LRU
//! too, so the sessions people look at stay warm.

use super::{cache, Registry};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::time::MissedTickBehavior;

/// Sessions prewarmed at once (count).
const PREWARM_CONCURRENCY: usize = 16;

/// Insertion-ordered LRU of session ids; the most recently touched id is at the back.
#[derive(Debug, Default)]
pub(super) struct Lru {
    capacity: usize,
    order: VecDeque<String>,
}

impl Lru {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity.min(1024)),
        }
    }

    /// Moves `id` to the most recent end, dropping the oldest id when over capacity.
    pub(super) fn touch(&mut self, id: &str) {
        self.remove(id);
        if self.capacity == 0 {
            return;
        }
        if self.order.len() >= self.capacity {
            self.order.pop_front();
        }
        self.order.push_back(id.to_owned());
    }

    pub(super) fn remove(&mut self, id: &str) {
        if let Some(pos) = self.order.iter().position(|x| x == id) {
            self.order.remove(pos);
        }
    }

    pub(super) fn ids(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }
}

/// Runs prewarm cycles until shutdown. The first one starts at once.
pub(super) async fn run(registry: Arc<Registry>) {
    let mut ticks = tokio::time::interval(registry.settings.prewarm_poll);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = registry.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            () = registry.shutdown.cancelled() => return,
            () = registry.prewarm_cycle() => {}
        }
    }
}

impl Registry {
    /// Marks `id` as recently used for prewarm, if it is registered.
    pub(super) fn touch_prewarm(&self, id: &str) {
        let mut inner = self.lock();
        if inner.sessions.contains_key(id) {
            inner.prewarm.touch(id);
        }
    }

    /// Polls screen and status once for every prewarmed session that has no pollers.
    pub async fn prewarm_cycle(&self) {
        let ids = self.lock().prewarm.ids();
        let sessions: Vec<_> = ids
            .iter()
            .filter(|id| !self.has_pollers(id))
            .filter_map(|id| self.get(id).ok())
            .collect();
        futures_util::stream::iter(sessions)
            .for_each_concurrent(PREWARM_CONCURRENCY, |session| async move {
                // Errors are expected for upstreams on their way out; health eviction handles them.
                let _ = cache::refresh_screen(&self.upstream, &session).await;
                let _ = cache::refresh_status(&self.upstream, &session).await;
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn lru_keeps_the_most_recent_ids() {
        let mut lru = Lru::new(2);
        lru.touch("a");
        lru.touch("b");
        lru.touch("a");
        lru.touch("c");
        assert_eq!(lru.ids(), ["a", "c"]);
        lru.remove("a");
        assert_eq!(lru.ids(), ["c"]);
        let mut none = Lru::new(0);
        none.touch("a");
        assert!(none.ids().is_empty());
    }
}
