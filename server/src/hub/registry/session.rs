//! One registered session: its connection details (which heartbeats may change), its health
//! failure count, its screen/status caches and the token that ends everything tied to it.

use protocol::mux::{CachedScreen, CachedStatus, SessionInfo};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where and how to reach an upstream. Replaced as a whole by a heartbeat.
#[derive(Clone)]
pub struct Connection {
    /// Upstream base URL without a trailing `/`.
    pub url: String,
    /// Bearer token the mux sends upstream.
    pub auth_token: Option<String>,
    /// Free-form registration metadata.
    pub metadata: Value,
    /// The SHA-256 of the per-launch registration token that registered it, if one did: only
    /// that token may heartbeat or deregister it (docs/security.md, "Registrants"). Kept
    /// across heartbeats made with the hub's token and across announces.
    pub registrant: Option<String>,
}

impl std::fmt::Debug for Connection {
    // Hand-written so that a token can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("metadata", &self.metadata)
            .field("registrant", &self.registrant)
            .finish()
    }
}

/// How a session reached the hub, which decides how its liveness is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Registered over HTTP: health checks judge it.
    Http,
    /// Discovered on NATS under `prefix`: announces judge it (docs/scaling.md).
    Nats {
        /// The subject prefix it announced under; input is published there.
        prefix: String,
    },
}

/// A cached value and when it was read (monotonic, for freshness checks).
#[derive(Debug, Clone)]
pub struct Stamped<T> {
    /// The value.
    pub value: T,
    /// When it was stored.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Cache {
    screen: Option<Stamped<CachedScreen>>,
    status: Option<Stamped<CachedStatus>>,
}

/// A registered session.
#[derive(Debug)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Fleet order: the registration time in epoch µs, strictly increasing per replica, so
    /// that every replica orders the fleet alike (ties broken by id).
    order_us: AtomicU64,
    registered_at_ms: AtomicU64,
    connection: RwLock<Connection>,
    health_failures: AtomicU32,
    cache: Mutex<Cache>,
    transport: RwLock<Transport>,
    last_announce: Mutex<Instant>,
    /// When the hub last heard from it ([`Session::heard`]), in ms of [`since_start_ms`];
    /// 0: not since its last feed closed.
    heard_at_ms: AtomicU64,
    /// Cancelled when the session is removed; pollers and bridges hang off it.
    pub cancel: CancellationToken,
}

pub use crate::edge::clock::now_ms;

/// Milliseconds since the first call (at least 1), a monotonic clock that fits an atomic.
fn since_start_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(elapsed).unwrap_or(u64::MAX).saturating_add(1)
}

impl Session {
    pub(crate) fn new(
        id: String,
        (order_us, registered_at_ms): (u64, u64),
        connection: Connection,
        transport: Transport,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            id,
            order_us: AtomicU64::new(order_us),
            registered_at_ms: AtomicU64::new(registered_at_ms),
            connection: RwLock::new(connection),
            health_failures: AtomicU32::new(0),
            cache: Mutex::new(Cache::default()),
            transport: RwLock::new(transport),
            last_announce: Mutex::new(Instant::now()),
            heard_at_ms: AtomicU64::new(0),
            cancel,
        }
    }

    /// A copy of the connection details.
    pub fn connection(&self) -> Connection {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Upstream base URL.
    pub fn url(&self) -> String {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .url
            .clone()
    }

    /// Heartbeat: new connection details, failure count reset. A changed URL points at a
    /// different upstream, so the caches of the old one are dropped.
    pub(crate) fn refresh(&self, connection: Connection) {
        let url_changed = {
            let mut current = self.connection.write().unwrap_or_else(|e| e.into_inner());
            let changed = current.url != connection.url;
            *current = connection;
            changed
        };
        self.health_failures.store(0, Ordering::Relaxed);
        if url_changed {
            *self.lock_cache() = Cache::default();
        }
    }

    /// When it first registered, epoch ms.
    pub fn registered_at_ms(&self) -> u64 {
        self.registered_at_ms.load(Ordering::Relaxed)
    }

    /// The fleet order key (registration time in epoch µs).
    pub fn order_us(&self) -> u64 {
        self.order_us.load(Ordering::Relaxed)
    }

    /// The bucket's registration time of the same session wins (the fleet's order).
    pub(crate) fn set_registered(&self, order_us: u64, at_ms: u64) {
        self.order_us.store(order_us, Ordering::Relaxed);
        self.registered_at_ms.store(at_ms, Ordering::Relaxed);
    }

    /// How the session reached the hub.
    pub fn transport(&self) -> Transport {
        self.transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The NATS prefix of a session discovered on NATS.
    pub fn nats_prefix(&self) -> Option<String> {
        match self.transport() {
            Transport::Nats { prefix } => Some(prefix),
            Transport::Http => None,
        }
    }

    pub(crate) fn set_transport(&self, transport: Transport) {
        *self.transport.write().unwrap_or_else(|e| e.into_inner()) = transport;
    }

    /// The hash of the registration token that registered it (`None`: the hub's token, an
    /// open hub, or NATS).
    pub fn registrant(&self) -> Option<String> {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .registrant
            .clone()
    }

    /// Records an announce (online or heartbeat) seen on NATS.
    pub(crate) fn announced(&self) {
        *self.last_announce.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Time since the last announce (since registration when there was none).
    pub fn since_announce(&self) -> std::time::Duration {
        self.last_announce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// The session answered the hub just now: a heartbeat (which passed a health check), or
    /// a frame or pong on one of its open upstream WebSockets. The health checker sends no
    /// request to a session heard from within the interval (docs/architecture.md, "What a
    /// session costs").
    pub(crate) fn heard(&self) {
        self.heard_at_ms.store(since_start_ms(), Ordering::Relaxed);
    }

    /// An upstream WebSocket of the session closed: what it delivered no longer says the
    /// session lives (its process may have died), so the next sweep checks it.
    pub(crate) fn unheard(&self) {
        self.heard_at_ms.store(0, Ordering::Relaxed);
    }

    /// Whether the hub heard from the session within `window` (and no feed closed since).
    pub fn heard_within(&self, window: Duration) -> bool {
        let at = self.heard_at_ms.load(Ordering::Relaxed);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        at != 0 && since_start_ms().saturating_sub(at) < window_ms
    }

    /// Consecutive failed health checks.
    pub fn health_failures(&self) -> u32 {
        self.health_failures.load(Ordering::Relaxed)
    }

    /// Records a failed health check; returns the new count.
    pub(crate) fn health_failed(&self) -> u32 {
        self.health_failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records a successful health check.
    pub(crate) fn health_ok(&self) {
        self.health_failures.store(0, Ordering::Relaxed);
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A poisoned cache holds whole values only; keep serving it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached screen, if any.
    pub fn cached_screen(&self) -> Option<Stamped<CachedScreen>> {
        self.lock_cache().screen.clone()
    }

    /// The cached status, if any.
    pub fn cached_status(&self) -> Option<Stamped<CachedStatus>> {
        self.lock_cache().status.clone()
    }

    /// Stores a screen read from `from_url`, unless a heartbeat moved the session meanwhile.
    pub(crate) fn store_screen(&self, screen: CachedScreen, from_url: &str) {
        if self.url() == from_url {
            self.lock_cache().screen = Some(Stamped {
                value: screen,
                at: Instant::now(),
            });
        }
    }

    /// Stores a status read from `from_url`, unless a heartbeat moved the session meanwhile.
    pub(crate) fn store_status(&self, status: CachedStatus, from_url: &str) {
        if self.url() == from_url {
            self.lock_cache().status = Some(Stamped {
                value: status,
                at: Instant::now(),
            });
        }
    }

    /// Where calls to this session go ([`crate::hub::upstream::Upstream::send`] decides how).
    pub fn target(&self) -> crate::hub::upstream::Target {
        let connection = self.connection();
        crate::hub::upstream::Target {
            id: self.id.clone(),
            url: connection.url,
            token: connection.auth_token,
            nats_prefix: self.nats_prefix(),
        }
    }

    /// The public view of this session (no token).
    pub fn info(&self) -> SessionInfo {
        let connection = self.connection();
        SessionInfo {
            id: self.id.clone(),
            url: connection.url,
            metadata: connection.metadata,
            registered_at_ms: self.registered_at_ms(),
            health_failures: self.health_failures(),
            cached_state: self
                .lock_cache()
                .status
                .as_ref()
                .map(|s| s.value.state.clone()),
        }
    }
}
