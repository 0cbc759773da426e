//! The session registry: every coop session known to the hub (docs/coop-protocol.md,
//! "Registering with the hub").
//!
//! One mutex guards the session map, the watcher counts and the prewarm order together, so a
//! removal updates all three at once and emits exactly one `session:offline`. The lock is
//! never held across an `.await`: upstream calls work on an `Arc<Session>` taken out of it.

mod cache;
mod health;
pub mod ids;
pub mod mirror;
mod prewarm;
mod session;
pub mod tokens;
mod urls;
mod watch;

pub use health::SweepReport;
pub use mirror::{Alone, Eviction, Mirror, Remote, RemoteSession};
pub use session::{now_ms, Connection, Session, Stamped, Transport};
pub use tokens::RegistrationTokens;

use crate::{hub::metrics::Metrics, hub::upstream::Upstream, hub::upstream::UpstreamError};
use prewarm::Lru;
use protocol::mux::{MuxEvent, SessionInfo};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use watch::Watcher;

/// Capacity of the mux event feed (events), as coop's (docs/coop-protocol.md).
pub const EVENT_CAPACITY: usize = 512;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The id breaks the id rules.
    #[error("{0}")]
    InvalidId(String),
    /// The registration URL is not an http(s) URL.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    /// No session with that id.
    #[error("session not found")]
    NotFound,
    /// Registration: the upstream's health check failed.
    #[error("upstream unreachable: {0}")]
    Unreachable(UpstreamError),
    /// A live read failed and nothing was cached.
    #[error("upstream error: {0}")]
    Upstream(UpstreamError),
    /// Registration of a new id while `--max-sessions` are registered.
    #[error("the hub holds its maximum of {0} sessions (--max-sessions)")]
    Full(usize),
    /// A registration token named a session (by id or url) that it did not register.
    #[error("session {0} is held by a session this registration token did not register")]
    Held(String),
    /// Metadata larger than [`MAX_METADATA_BYTES`].
    #[error("metadata of {0} bytes is larger than the limit of {MAX_METADATA_BYTES} bytes")]
    MetadataTooLarge(usize),
}

/// Largest registration metadata, as JSON (bytes): coop sends a few labels; the hub keeps it
/// per session, sends it in every snapshot and replicates it (docs/security.md, "Bounds").
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// The size of `metadata` as JSON, checked against [`MAX_METADATA_BYTES`].
pub fn check_metadata(metadata: &Value) -> Result<(), RegistryError> {
    let bytes = serde_json::to_vec(metadata).map_or(usize::MAX, |v| v.len());
    if bytes > MAX_METADATA_BYTES {
        return Err(RegistryError::MetadataTooLarge(bytes));
    }
    Ok(())
}

/// Intervals and limits (from the command line; `serve` fills them in).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Screen poller interval (also the freshness limit of the screen cache).
    pub screen_poll: Duration,
    /// Status poller interval (also the freshness limit of the status cache).
    pub status_poll: Duration,
    /// Health checker interval.
    pub health_check: Duration,
    /// Failures before eviction (`>=`, so 0 evicts on the first failure).
    pub max_health_failures: u32,
    /// Sessions kept warm by prewarm.
    pub prewarm_capacity: usize,
    /// Prewarm cycle interval.
    pub prewarm_poll: Duration,
    /// Sessions registered at once (`--max-sessions`).
    pub max_sessions: usize,
}

/// A registration or heartbeat, as `POST /api/v1/sessions` receives it. No `Debug`: it
/// carries the session's token.
#[derive(Clone)]
pub struct Registration {
    /// Upstream base URL.
    pub url: String,
    /// Bearer token for the upstream.
    pub auth_token: Option<String>,
    /// Requested id; a UUID v4 is generated when absent.
    pub id: Option<String>,
    /// Free-form metadata (`null` when absent).
    pub metadata: Value,
    /// Set when a per-launch registration token (not the hub's) made the request.
    pub registrant: Option<Registrant>,
}

/// Who registers with a per-launch registration token (docs/security.md, "Agents inside
/// sessions"): it may take an id no session holds, heartbeat the session it registered, and
/// nothing that another party registered.
#[derive(Debug, Clone)]
pub struct Registrant {
    /// SHA-256 of the token ([`tokens::token_hash`]).
    pub token_hash: String,
    /// The id is the one the token's launch was given (`COOP_MUX_SESSION_ID`): it may also
    /// take over the entry a NATS announce of that same session made first.
    pub launched_as: bool,
}

impl Registrant {
    /// Whether this registrant may heartbeat or deregister `session`.
    pub fn may_act_on(&self, session: &Session) -> bool {
        match session.registrant() {
            Some(hash) => hash == self.token_hash,
            None => self.launched_as && session.nats_prefix().is_some(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Arc<Session>>,
    urls: urls::UrlIndex,
    watchers: HashMap<String, Watcher>,
    prewarm: Lru,
    /// Last fleet order key handed out (epoch µs), so local registrations stay in order.
    last_order_us: u64,
}

/// All registered sessions, their watchers, caches and the mux event feed.
#[derive(Debug)]
pub struct Registry {
    inner: Mutex<Inner>,
    events: broadcast::Sender<MuxEvent>,
    upstream: Upstream,
    metrics: Arc<Metrics>,
    settings: Settings,
    shutdown: CancellationToken,
    tokens: Arc<RegistrationTokens>,
    /// Told every local change (replicas; [`Alone`] for a hub alone).
    mirror: Arc<dyn Mirror>,
    /// Ticks once per health interval, before each sweep ([`Registry::ping_grid`]).
    ping_grid: tokio::sync::watch::Sender<()>,
}

impl Registry {
    /// An empty registry whose changes go to `mirror`. Background tasks start with
    /// [`Registry::spawn_background`].
    pub fn new(
        settings: Settings,
        upstream: Upstream,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        mirror: Arc<dyn Mirror>,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let inner = Inner {
            prewarm: Lru::new(settings.prewarm_capacity),
            ..Inner::default()
        };
        Self {
            inner: Mutex::new(inner),
            events,
            upstream,
            metrics,
            settings,
            shutdown,
            tokens: Arc::new(RegistrationTokens::new(mirror.clone())),
            mirror,
            ping_grid: tokio::sync::watch::channel(()).0,
        }
    }

    /// The per-launch registration credentials.
    pub fn tokens(&self) -> &Arc<RegistrationTokens> {
        &self.tokens
    }

    /// Starts the health checker and the prewarm cycle; both stop at shutdown.
    pub fn spawn_background(self: &Arc<Self>) {
        tokio::spawn(health::run(self.clone()));
        tokio::spawn(prewarm::run(self.clone()));
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The shared upstream client.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The hub's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A receiver of the mux event feed (`session:online`, `session:offline`, …).
    pub fn subscribe(&self) -> broadcast::Receiver<MuxEvent> {
        self.events.subscribe()
    }

    /// A sender into the mux event feed, for other producers (event feeds, credentials).
    pub fn event_sender(&self) -> broadcast::Sender<MuxEvent> {
        self.events.clone()
    }

    /// Number of registered sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// True when no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Session>, RegistryError> {
        self.lock()
            .sessions
            .get(id)
            .cloned()
            .ok_or(RegistryError::NotFound)
    }

    /// Every session in registration order (the fleet's order: registration time, then id,
    /// the same on every replica).
    pub fn sessions(&self) -> Vec<Arc<Session>> {
        let mut all: Vec<_> = self.lock().sessions.values().cloned().collect();
        all.sort_by(|a, b| (a.order_us(), &a.id).cmp(&(b.order_us(), &b.id)));
        all
    }

    /// Public view of every session in registration order (`GET /api/v1/sessions`).
    pub fn list(&self) -> Vec<SessionInfo> {
        self.sessions().iter().map(|s| s.info()).collect()
    }

    /// Same as [`Registry::list`]; the name the `/ws/mux` snapshot uses.
    pub fn snapshot(&self) -> Vec<SessionInfo> {
        self.list()
    }

    /// Registers a session or, for a known id, applies a heartbeat. Returns the id.
    ///
    /// A new id evicts every other id with the same URL (a restarted coop) and emits
    /// `session:online`. A heartbeat updates url, token and metadata and resets the failure
    /// count, silently.
    pub async fn register(
        self: &Arc<Self>,
        registration: Registration,
    ) -> Result<String, RegistryError> {
        let url = normalize_url(&registration.url)?;
        if let Some(id) = &registration.id {
            ids::validate(id).map_err(RegistryError::InvalidId)?;
        }
        check_metadata(&registration.metadata)?;
        self.upstream
            .health(&url)
            .await
            .map_err(RegistryError::Unreachable)?;
        let id = registration
            .id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut connection = Connection {
            url,
            auth_token: registration.auth_token,
            metadata: registration.metadata,
            registrant: registration
                .registrant
                .as_ref()
                .map(|r| r.token_hash.clone()),
        };
        let mut inner = self.lock();
        if let Some(r) = &registration.registrant {
            // Checked again under the lock: a session may have registered since the handler's
            // check (`Registry::check_registrant`).
            check_held(&inner, &id, &connection.url, r)?;
        }
        if let Some(existing) = inner.sessions.get(&id).cloned() {
            if connection.registrant.is_none() {
                connection.registrant = existing.registrant();
            }
            let old_url = existing.url();
            inner.urls.moved(&id, &old_url, &connection.url);
            existing.refresh(connection);
            // The heartbeat's health check just passed.
            existing.heard();
            // Reachable over HTTP now: health checks judge it from here on.
            existing.set_transport(Transport::Http);
            self.mirror.put(&existing);
            return Ok(id);
        }
        let order = self.next_order(&mut inner);
        self.insert_locked(&mut inner, &id, connection, Transport::Http, order, true)?;
        drop(inner);
        tracing::info!(session = %id, "session registered");
        Ok(id)
    }

    /// Refuses a registration token's registration of `id` at `url` when a session it did
    /// not register holds that id, or that url (which a new id would evict).
    pub fn check_registrant(
        &self,
        id: &str,
        url: &str,
        registrant: &Registrant,
    ) -> Result<(), RegistryError> {
        let url = normalize_url(url)?;
        check_held(&self.lock(), id, &url, registrant)
    }

    /// An `online` or `heartbeat` announce seen on NATS (docs/scaling.md): registers the
    /// session with transport NATS, or refreshes it. A session known over HTTP stays one
    /// session and keeps its HTTP details. Returns `true` for a new session.
    pub fn announce(
        self: &Arc<Self>,
        id: &str,
        url: Option<&str>,
        metadata: Value,
        prefix: &str,
    ) -> Result<bool, RegistryError> {
        ids::validate(id).map_err(RegistryError::InvalidId)?;
        check_metadata(&metadata)?;
        let url = match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => normalize_url(url)?,
            None => String::new(),
        };
        let mut connection = Connection {
            url,
            auth_token: None,
            metadata,
            registrant: None,
        };
        let mut inner = self.lock();
        if let Some(existing) = inner.sessions.get(id).cloned() {
            existing.announced();
            if existing.nats_prefix().is_some() {
                connection.registrant = existing.registrant();
                let old_url = existing.url();
                inner.urls.moved(id, &old_url, &connection.url);
                existing.refresh(connection);
            }
            return Ok(false);
        }
        let transport = Transport::Nats {
            prefix: prefix.to_owned(),
        };
        let order = self.next_order(&mut inner);
        self.insert_locked(&mut inner, id, connection, transport, order, true)?;
        drop(inner);
        tracing::info!(session = %id, prefix, "session discovered on NATS");
        Ok(true)
    }

    /// The fleet order key of a registration now: `(epoch µs, epoch ms)`, the µs strictly
    /// increasing on this replica.
    fn next_order(&self, inner: &mut Inner) -> (u64, u64) {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        inner.last_order_us = now_us.max(inner.last_order_us + 1);
        (inner.last_order_us, now_ms())
    }

    /// A new session: evicts every other id with the same URL (a restarted coop), emits
    /// `session:online`. A local change (`mirrored`) is told to the mirror, with the ids it
    /// replaced; another replica's is not (that replica tells the others).
    fn insert_locked(
        self: &Arc<Self>,
        inner: &mut Inner,
        id: &str,
        connection: Connection,
        transport: Transport,
        order: (u64, u64),
        mirrored: bool,
    ) -> Result<(), RegistryError> {
        if inner.sessions.len() >= self.settings.max_sessions {
            return Err(RegistryError::Full(self.settings.max_sessions));
        }
        let stale = inner.urls.ids(&connection.url).to_vec();
        for stale_id in &stale {
            tracing::info!(session = %stale_id, replaced_by = %id, "evicting session with the same url");
            if self.remove_locked(inner, stale_id).is_some() && mirrored {
                self.mirror.delete(stale_id);
            }
        }
        let reachable = !connection.url.is_empty();
        let session = Arc::new(Session::new(
            id.to_owned(),
            order,
            connection.clone(),
            transport,
            self.shutdown.child_token(),
        ));
        inner.sessions.insert(id.to_owned(), session.clone());
        inner.urls.insert(&connection.url, id);
        if reachable {
            inner.prewarm.touch(id);
        }
        // A client may already be watching this id (it subscribed before a re-registration).
        if let Some(watcher) = inner.watchers.get_mut(id) {
            watcher.pollers = Some(self.spawn_pollers(&session));
        }
        self.metrics.registration();
        if mirrored {
            self.mirror.put(&session);
        }
        // Sent under the lock so that the feed's order matches the map's history.
        let _ = self.events.send(MuxEvent::SessionOnline {
            session: id.to_owned(),
            url: connection.url,
            metadata: connection.metadata,
        });
        Ok(())
    }

    /// Deregisters a session everywhere; `false` when the id is unknown.
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let removed = self.remove_locked(&mut inner, id).is_some();
        if removed {
            self.mirror.delete(id);
            drop(inner);
            tracing::info!(session = %id, "session removed");
        }
        removed
    }

    /// Removes `session` only if it is still the entry registered under its id (a heartbeat
    /// keeps the same entry; a delete-then-register makes a new one that must survive), here
    /// and on every replica.
    pub(crate) fn evict(&self, session: &Arc<Session>) -> bool {
        let mut inner = self.lock();
        let current = inner.sessions.get(&session.id);
        if !current.is_some_and(|c| Arc::ptr_eq(c, session)) {
            return false;
        }
        let removed = self.remove_locked(&mut inner, &session.id).is_some();
        if removed {
            self.mirror.delete(&session.id);
        }
        removed
    }

    fn remove_locked(&self, inner: &mut Inner, id: &str) -> Option<Arc<Session>> {
        let session = inner.sessions.remove(id)?;
        inner.urls.remove(&session.url(), id);
        // Ends pollers and bridges: they hang off the session's token.
        session.cancel.cancel();
        // Closes the pooled connections to its upstream now rather than after the idle
        // timeout. Another session of the same origin just reconnects on its next call.
        self.upstream.forget(&session.url());
        inner.prewarm.remove(id);
        if let Some(watcher) = inner.watchers.get_mut(id) {
            // Watchers keep their count: their clients still hold the subscription and will
            // release it; if the id registers again, pollers restart for them.
            watcher.pollers = None;
        }
        let _ = self.events.send(MuxEvent::SessionOffline {
            session: id.to_owned(),
        });
        Some(session)
    }
}

/// [`Registry::check_registrant`] on the locked maps.
fn check_held(
    inner: &Inner,
    id: &str,
    url: &str,
    registrant: &Registrant,
) -> Result<(), RegistryError> {
    if let Some(existing) = inner.sessions.get(id) {
        if registrant.may_act_on(existing) {
            return Ok(());
        }
        return Err(RegistryError::Held(id.to_owned()));
    }
    for other in inner.urls.ids(url) {
        let held = inner.sessions.get(other);
        if held.is_some_and(|s| !registrant.may_act_on(s)) {
            return Err(RegistryError::Held(other.clone()));
        }
    }
    Ok(())
}

/// `url` with trailing `/` removed, if it is an http(s) URL with a host and nothing that
/// would change where the hub's calls land: no user info, query or fragment (the hub appends
/// fixed paths; see [`crate::hub::upstream::join`]).
fn normalize_url(raw: &str) -> Result<String, RegistryError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed =
        reqwest::Url::parse(trimmed).map_err(|e| RegistryError::InvalidUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(RegistryError::InvalidUrl(
            "url must be an http:// or https:// URL with a host".to_owned(),
        ));
    }
    let refused = [
        (
            !parsed.username().is_empty() || parsed.password().is_some(),
            "user info",
        ),
        (parsed.query().is_some(), "a query"),
        (parsed.fragment().is_some(), "a fragment"),
    ];
    if let Some((_, what)) = refused.iter().find(|(present, _)| *present) {
        return Err(RegistryError::InvalidUrl(format!(
            "url must not carry {what}: the hub appends its own paths to it"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_trailing_slashes_and_must_be_http() {
        assert_eq!(normalize_url("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(normalize_url("https://h/x//").unwrap(), "https://h/x");
        assert!(normalize_url("ftp://h").is_err());
        assert!(normalize_url("not a url").is_err());
        for bad in [
            "http://h:1/admin?x=",
            "http://h:1/admin?",
            "http://h:1/admin#",
            "http://h:1/#x",
            "http://u:p@h:1",
            "http://u@h:1/",
        ] {
            let err = normalize_url(bad).unwrap_err().to_string();
            assert!(err.contains("must not carry"), "{bad}: {err}");
        }
    }
}
