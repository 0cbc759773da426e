//! Watching: while at least one client watches a session, one screen poller and one status
//! poller keep its caches fresh.
//!
//! The count is kept per id even while no session has that id, so every `start_watching` is
//! matched by exactly one `stop_watching` whatever happens in between, also when a watched
//! session goes away and comes back.

use super::{cache, Registry, Session};
use crate::hub::metrics::{GaugeGuard, PollerKind};
use crate::hub::upstream::Upstream;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Watch count of one id, and the pollers' token while the session exists.
#[derive(Debug, Default)]
pub(super) struct Watcher {
    pub(super) count: usize,
    pub(super) pollers: Option<CancellationToken>,
}

impl Registry {
    /// A client starts watching `id`. The first watcher of a registered session starts its
    /// pollers. Returns whether the session currently exists.
    pub fn start_watching(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let session = inner.sessions.get(id).cloned();
        let watcher = inner.watchers.entry(id.to_owned()).or_default();
        watcher.count += 1;
        if watcher.pollers.is_none() {
            if let Some(session) = &session {
                watcher.pollers = Some(self.spawn_pollers(session));
            }
        }
        session.is_some()
    }

    /// A client stops watching `id`. The last one stops the pollers. Extra calls are ignored.
    pub fn stop_watching(&self, id: &str) {
        let mut inner = self.lock();
        let Some(watcher) = inner.watchers.get_mut(id) else {
            return;
        };
        watcher.count = watcher.count.saturating_sub(1);
        if watcher.count == 0 {
            if let Some(pollers) = inner.watchers.remove(id).and_then(|w| w.pollers) {
                pollers.cancel();
            }
        }
    }

    /// Number of clients watching `id`.
    pub fn watch_count(&self, id: &str) -> usize {
        self.lock().watchers.get(id).map_or(0, |w| w.count)
    }

    /// Registered sessions that have pollers running.
    pub fn watched_sessions(&self) -> usize {
        self.lock()
            .watchers
            .values()
            .filter(|w| w.pollers.is_some())
            .count()
    }

    /// Whether `id` has running pollers (prewarm leaves those alone).
    pub(super) fn has_pollers(&self, id: &str) -> bool {
        self.lock()
            .watchers
            .get(id)
            .is_some_and(|w| w.pollers.is_some())
    }

    /// Spawns the two pollers of `session`; they stop when the returned token (a child of the
    /// session's own) is cancelled.
    pub(super) fn spawn_pollers(&self, session: &Arc<Session>) -> CancellationToken {
        let token = session.cancel.child_token();
        for (kind, period) in [
            (PollerKind::Screen, self.settings.screen_poll),
            (PollerKind::Status, self.settings.status_poll),
        ] {
            // Counted before spawning so that the gauge is right as soon as this returns.
            let guard = self.metrics.poller(kind);
            tokio::spawn(poll(
                kind,
                period,
                session.clone(),
                self.upstream.clone(),
                token.clone(),
                guard,
            ));
        }
        token
    }
}

async fn poll(
    kind: PollerKind,
    period: Duration,
    session: Arc<Session>,
    upstream: Upstream,
    token: CancellationToken,
    _running: GaugeGuard,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let read = async {
            let result = match kind {
                PollerKind::Screen => cache::refresh_screen(&upstream, &session).await.map(drop),
                PollerKind::Status => cache::refresh_status(&upstream, &session).await.map(drop),
            };
            if let Err(err) = result {
                // Expected while an upstream restarts; the health checker reports real outages.
                tracing::debug!(session = %session.id, ?kind, %err, "poll failed");
            }
        };
        tokio::select! {
            () = token.cancelled() => return,
            () = read => {}
        }
    }
}
