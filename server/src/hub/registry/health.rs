//! The health checker: every `--health-check-ms` it checks every session's
//! `GET /api/v1/health` concurrently, and evicts a session after `--max-health-failures`
//! consecutive failures. A session the hub heard from lately ([`Session::heard`]: a
//! heartbeat, frames or pongs on an open state feed or bridge) gets no request: at ten
//! thousand sessions those requests were most of the hub's idle CPU (docs/architecture.md,
//! "What a session costs").

use super::{Registry, Session};
use crate::hub::upstream::HEALTH_TIMEOUT;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Health checks in flight at once (count): enough to sweep a thousand sessions in a few
/// round trips, few enough not to open a thousand sockets at once.
const HEALTH_CONCURRENCY: usize = 64;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Sessions checked.
    pub checked: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Sessions evicted.
    pub evicted: usize,
}

/// Runs sweeps until shutdown. The first one starts at once; missed ticks are skipped.
pub(super) async fn run(registry: Arc<Registry>) {
    let mut ticks = tokio::time::interval(registry.settings.health_check);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = registry.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        registry.ping_grid.send_replace(());
        tokio::select! {
            () = registry.shutdown.cancelled() => return,
            _ = registry.health_sweep() => {}
        }
        crate::edge::process::trim_heap();
    }
}

impl Registry {
    /// The health check interval.
    pub fn health_interval(&self) -> Duration {
        self.settings.health_check
    }

    /// A tick once per health interval, just before each sweep: state feeds ping on it, so the
    /// hub wakes once for every feed's ping, and their pongs arrive well before the next sweep
    /// decides whom to ask (docs/architecture.md, "What a session costs").
    pub fn ping_grid(&self) -> watch::Receiver<()> {
        self.ping_grid.subscribe()
    }

    /// How long a state feed may go unheard before it pings on the next tick: one and a half
    /// intervals, so an idle feed pings on every other tick, which [`Registry::heard_window`]
    /// covers (halving the pings that were most of an idle hub's CPU).
    pub fn ping_after(&self) -> Duration {
        self.settings.health_check * 3 / 2
    }

    /// How recently a session must have been heard from to need no health request: two
    /// intervals, plus the time a health request would have had to answer (an idle state feed
    /// pings on every other tick, and its pong may take as long).
    pub fn heard_window(&self) -> Duration {
        2 * self.settings.health_check + HEALTH_TIMEOUT
    }

    /// Checks every session once; evicts those that reached the failure limit.
    pub async fn health_sweep(&self) -> SweepReport {
        let started = Instant::now();
        let sessions = self.sessions();
        let checked = sessions.len();
        // Drops pooled clients made by calls that raced a removal.
        let urls: Vec<String> = sessions.iter().map(|s| s.url()).collect();
        self.upstream.retain(urls.iter().map(String::as_str));
        let outcomes: Vec<(bool, bool)> = futures_util::stream::iter(sessions)
            .map(|session| self.check(session))
            .buffer_unordered(HEALTH_CONCURRENCY)
            .collect()
            .await;
        let took: Duration = started.elapsed();
        self.metrics.health_sweep(took);
        let report = SweepReport {
            checked,
            failed: outcomes.iter().filter(|(ok, _)| !ok).count(),
            evicted: outcomes.iter().filter(|(_, evicted)| *evicted).count(),
        };
        tracing::debug!(?report, ?took, "health sweep");
        report
    }

    /// One check: `(healthy, evicted)`.
    async fn check(&self, session: Arc<Session>) -> (bool, bool) {
        // NATS sessions live by their announces (docs/scaling.md), not by health checks.
        if session.cancel.is_cancelled() || session.nats_prefix().is_some() {
            return (true, false);
        }
        if session.heard_within(self.heard_window()) {
            session.health_ok();
            return (true, false);
        }
        let url = session.url();
        self.metrics.health_check();
        let Err(err) = self.upstream.health(&url).await else {
            session.health_ok();
            return (true, false);
        };
        self.metrics.health_failure();
        let failures = session.health_failed();
        tracing::warn!(session = %session.id, failures, %err, "health check failed");
        if failures < self.settings.max_health_failures {
            return (false, false);
        }
        let limit = self.settings.max_health_failures;
        let evicted = (self.evict_judged(&session, |s| s.health_failures() >= limit)).await;
        if evicted {
            self.metrics.eviction();
            tracing::warn!(session = %session.id, failures, "session evicted after failed health checks");
        }
        (false, evicted)
    }
}
