//! Prometheus metrics at `GET /metrics`, in the text exposition format.
//!
//! Plain atomics rather than a metrics library: the set is small and fixed, and the
//! exposition is a few lines of formatting.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Kind of a per-watched-session poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollerKind {
    /// Screen poller.
    Screen,
    /// Status poller.
    Status,
}

/// Counters and gauges of the hub.
#[derive(Debug, Default)]
pub struct Metrics {
    registrations: AtomicU64,
    health_checks: AtomicU64,
    health_failures: AtomicU64,
    evictions: AtomicU64,
    last_health_sweep_ms: AtomicU64,
    proxy_by_status: Mutex<BTreeMap<u16, u64>>,
    proxy_upstream_unreachable: AtomicU64,
    ws_clients: Arc<AtomicI64>,
    bytes_relayed: AtomicU64,
    screen_pollers: Arc<AtomicI64>,
    status_pollers: Arc<AtomicI64>,
    launches_by_outcome: Mutex<BTreeMap<&'static str, u64>>,
    credential_refreshes_ok: AtomicU64,
    credential_refreshes_failed: AtomicU64,
}

/// Keeps a gauge raised while alive; dropping it lowers the gauge again, so a task that ends
/// in any way (cancelled, panicked) is no longer counted.
#[derive(Debug)]
pub struct GaugeGuard(Arc<AtomicI64>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A session registered under a new id.
    pub fn registration(&self) {
        self.registrations.fetch_add(1, Ordering::Relaxed);
    }

    /// The health checker sent a session a health request.
    pub fn health_check(&self) {
        self.health_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// A health check failed.
    pub fn health_failure(&self) {
        self.health_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A session was evicted by the health checker.
    pub fn eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Duration of the last complete health sweep.
    pub fn health_sweep(&self, took: std::time::Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.last_health_sweep_ms.store(ms, Ordering::Relaxed);
    }

    /// A proxied request got an answer with this status (the status the mux returned).
    pub fn proxy_status(&self, status: u16) {
        let mut map = self
            .proxy_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *map.entry(status).or_default() += 1;
    }

    /// A proxied request could not reach its upstream (answered 502).
    pub fn proxy_unreachable(&self) {
        self.proxy_upstream_unreachable
            .fetch_add(1, Ordering::Relaxed);
        self.proxy_status(502);
    }

    /// Bytes carried between clients and upstreams (request plus reply bodies, PTY data).
    pub fn relayed(&self, bytes: usize) {
        self.bytes_relayed
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A launch reached a final outcome (`registered`, `failed`, `spawn_failed`, `throttled`).
    pub fn launch(&self, outcome: &'static str) {
        let mut map = self
            .launches_by_outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *map.entry(outcome).or_default() += 1;
    }

    /// An OAuth refresh of a credential ended (`ok` true: a new key was stored).
    pub fn credential_refresh(&self, ok: bool) {
        let counter = if ok {
            &self.credential_refreshes_ok
        } else {
            &self.credential_refreshes_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connected WebSocket client until the guard is dropped.
    pub fn ws_client(&self) -> GaugeGuard {
        self.ws_clients.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(self.ws_clients.clone())
    }

    /// Counts a running poller until the guard is dropped.
    pub fn poller(&self, kind: PollerKind) -> GaugeGuard {
        let gauge = match kind {
            PollerKind::Screen => &self.screen_pollers,
            PollerKind::Status => &self.status_pollers,
        };
        gauge.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(gauge.clone())
    }

    /// Running pollers of one kind.
    pub fn pollers_running(&self, kind: PollerKind) -> i64 {
        match kind {
            PollerKind::Screen => self.screen_pollers.load(Ordering::Relaxed),
            PollerKind::Status => self.status_pollers.load(Ordering::Relaxed),
        }
    }

    /// The exposition text; `sessions` and `watched` come from the registry at render time.
    pub fn render(&self, sessions: usize, watched: usize) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "coopmux_sessions",
            "Registered sessions.",
            sessions,
        );
        gauge(
            &mut out,
            "coopmux_watched_sessions",
            "Registered sessions with at least one watcher.",
            watched,
        );
        counter(
            &mut out,
            "coopmux_registrations_total",
            "Registrations of new session ids.",
            load(&self.registrations),
        );
        counter(
            &mut out,
            "coopmux_health_checks_total",
            "Health requests the health checker sent upstream.",
            load(&self.health_checks),
        );
        counter(
            &mut out,
            "coopmux_health_failures_total",
            "Failed upstream health checks.",
            load(&self.health_failures),
        );
        counter(
            &mut out,
            "coopmux_evictions_total",
            "Sessions evicted after repeated health failures.",
            load(&self.evictions),
        );
        gauge(
            &mut out,
            "coopmux_health_sweep_duration_seconds",
            "Duration of the last health sweep.",
            format!("{:.3}", load(&self.last_health_sweep_ms) as f64 / 1000.0),
        );
        let _ = writeln!(
            out,
            "# HELP coopmux_proxy_requests_total Proxied requests by the status the mux answered.\n# TYPE coopmux_proxy_requests_total counter"
        );
        let by_status = self
            .proxy_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (status, count) in by_status {
            let _ = writeln!(
                out,
                "coopmux_proxy_requests_total{{status=\"{status}\"}} {count}"
            );
        }
        counter(
            &mut out,
            "coopmux_proxy_upstream_unreachable_total",
            "Proxied requests whose upstream could not be reached.",
            load(&self.proxy_upstream_unreachable),
        );
        gauge(
            &mut out,
            "coopmux_ws_clients",
            "Connected WebSocket clients.",
            self.ws_clients.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "coopmux_bytes_relayed_total",
            "Bytes relayed between clients and upstream sessions.",
            load(&self.bytes_relayed),
        );
        let _ = writeln!(
            out,
            "# HELP coopmux_pollers_running Running per-watched-session pollers.\n# TYPE coopmux_pollers_running gauge"
        );
        for (kind, value) in [
            ("screen", self.screen_pollers.load(Ordering::Relaxed)),
            ("status", self.status_pollers.load(Ordering::Relaxed)),
        ] {
            let _ = writeln!(out, "coopmux_pollers_running{{kind=\"{kind}\"}} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP coopmux_launches_total Launches by outcome.\n# TYPE coopmux_launches_total counter"
        );
        let launches = self
            .launches_by_outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (outcome, count) in launches {
            let _ = writeln!(
                out,
                "coopmux_launches_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP coopmux_credential_refreshes_total OAuth credential refreshes by result.\n# TYPE coopmux_credential_refreshes_total counter"
        );
        for (result, counter) in [
            ("ok", &self.credential_refreshes_ok),
            ("failed", &self.credential_refreshes_failed),
        ] {
            let _ = writeln!(
                out,
                "coopmux_credential_refreshes_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}
