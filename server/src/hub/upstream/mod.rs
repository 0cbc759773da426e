//! The HTTP clients the hub uses to talk to coop sessions (docs/coop-protocol.md,
//! docs/architecture.md "What a session costs").
//!
//! Health checks (registration and the health checker) keep one bare idle socket per
//! `http://` origin between sweeps ([`health`]): a sweep reuses the previous sweep's
//! connection instead of opening and tearing down a TCP connection per session, which is
//! what idle CPU at ten thousand sessions is made of, and an idle session costs a socket, not
//! a client. Every other call (pollers, prewarm, proxies, credential pushes), and health
//! checks the bare path leaves alone (TLS, unusual replies), go through a pooled HTTP client
//! of the upstream's origin, made on first use: only sessions in use pay for one. Idle
//! connections of both kinds live for an idle timeout longer than the health interval.
//! [`Upstream::forget`] drops an origin's pool and idle sockets when its session is removed,
//! which closes them at once instead of after the idle timeout. All pooled clients share one
//! TLS configuration (roots, verifier, session cache). [`route`] decides, once for every
//! caller, whether a call goes over HTTP or is published on NATS.

mod health;
pub mod route;

pub use route::{Reply, Target};

use crate::hub::nats::Link;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Timeout of every upstream call but health checks.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of `GET /api/v1/health` checks (registration and the health checker).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
/// Connect timeout; a dead host should fail fast rather than eat the whole call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections kept per upstream origin by a pooled client (count).
const POOL_IDLE_PER_HOST: usize = 16;
/// How long an idle pooled connection is kept at least; raised to 1.5 health intervals when
/// those are longer, so every sweep finds the previous sweep's connection.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest upstream reply body read (screen, status, agent, proxied replies): a 1000×1000
/// screen with colours is well under it; a registrant cannot make the hub buffer more.
pub const UPSTREAM_BODY_BYTES: usize = 8 << 20;
/// Largest health reply body read.
const HEALTH_BODY_BYTES: usize = 64 << 10;

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or did not answer in time.
    #[error("{0}")]
    Transport(String),
    /// The upstream answered with a non-2xx status.
    #[error("upstream answered {0}")]
    Status(StatusCode),
    /// The upstream answered 2xx with a body that is not the expected JSON.
    #[error("invalid JSON from upstream: {0}")]
    InvalidJson(String),
    /// The upstream's reply body is larger than the hub reads.
    #[error("upstream reply is larger than {0} bytes")]
    TooLarge(usize),
    /// The session announced no url on NATS and the call needs HTTP.
    #[error("session {id} announced no reachable url on NATS; {path} needs HTTP")]
    NoUrl {
        /// Session id.
        id: String,
        /// The upstream path the call needed.
        path: String,
    },
    /// A body to publish on NATS is not what coop reads.
    #[error("{0}")]
    InvalidBody(String),
    /// Publishing on NATS failed, or NATS is not connected.
    #[error("{0}")]
    Nats(String),
}

impl UpstreamError {
    fn transport(err: reqwest::Error) -> Self {
        // `without_url` keeps a session URL (which could carry userinfo) out of messages/logs;
        // the source chain says what actually happened ("connection refused", "timed out").
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(message)
    }
}

/// `path` (one of the hub's fixed paths, starting with `/`) under `base`, joined as URL parts
/// rather than as text: the request goes to `base`'s origin and path with `path` appended,
/// never to a query or fragment `base` might carry (docs/security.md, "Registrants").
pub fn join(base: &str, path: &str) -> Result<reqwest::Url, UpstreamError> {
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| UpstreamError::Transport(format!("invalid upstream url: {e}")))?;
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// A reply the upstream actually sent (any status), as the proxies pass it on.
#[derive(Debug)]
pub struct UpstreamReply {
    /// Upstream status code.
    pub status: StatusCode,
    /// Upstream `Content-Type`, if any.
    pub content_type: Option<HeaderValue>,
    /// Upstream body.
    pub body: Bytes,
}

/// The upstream clients, shared by the whole hub (clones share them).
#[derive(Clone)]
pub struct Upstream {
    /// Pooled clients by origin (`scheme://host:port`), made on first use.
    pools: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    /// Idle health-check sockets by origin.
    health: Arc<health::HealthPool>,
    /// The TLS configuration every pool is built with (cloning it shares its parts).
    tls: rustls::ClientConfig,
    /// Idle timeout of pooled connections.
    idle_timeout: Duration,
    /// The NATS link sessions without url are reached on.
    nats: Option<Arc<Link>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("pooled_origins", &self.pooled_origins())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// The TLS configuration of every pool: the built-in web roots, as reqwest's own default.
fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    // reqwest sets no ALPN on a preconfigured config; the pools speak HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// The origin of a base URL, the key of its pooled client (the URL itself when unparsable).
fn origin(base: &str) -> String {
    reqwest::Url::parse(base).map_or_else(|_| base.to_owned(), |u| u.origin().ascii_serialization())
}

impl Upstream {
    /// Upstream clients for a hub whose health checks run every `health_interval`; pools are
    /// made per origin on first use. Sessions without url are reached on `nats`.
    pub fn new(health_interval: Duration, nats: Option<Arc<Link>>) -> Self {
        Self {
            pools: Arc::default(),
            health: Arc::default(),
            tls: tls_config(),
            idle_timeout: POOL_IDLE_TIMEOUT.max(health_interval.saturating_mul(3) / 2),
            nats,
        }
    }

    fn pools(&self) -> MutexGuard<'_, HashMap<String, reqwest::Client>> {
        // The map stays consistent whatever panicked while holding it.
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pooled client of `base`'s origin.
    fn client(&self, base: &str) -> Result<reqwest::Client, UpstreamError> {
        let key = origin(base);
        if let Some(client) = self.pools().get(&key) {
            return Ok(client.clone());
        }
        // Built outside the lock: building reads the proxy settings.
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls.clone())
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A registrant names the URL: a redirect must not aim the hub anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(self.idle_timeout)
            .build()
            .map_err(UpstreamError::transport)?;
        Ok(self.pools().entry(key).or_insert(client).clone())
    }

    /// Drops the pool of `base`'s origin: its idle connections close now, busy ones when
    /// their call ends.
    pub fn forget(&self, base: &str) {
        let origin = origin(base);
        self.pools().remove(&origin);
        self.health.forget(&origin);
    }

    /// Closes the idle health-check sockets of `base`'s origin: a session followed by a state
    /// feed is judged by the feed while it stays open, so keeping a second socket to it would
    /// only double the hub's file descriptors (and the host's connections) per session.
    pub fn close_idle_health(&self, base: &str) {
        self.health.forget(&origin(base));
    }

    /// Drops the pooled clients of every origin not among those of `bases` (a call that
    /// raced a removal may have made one again).
    pub fn retain<'a>(&self, bases: impl IntoIterator<Item = &'a str>) {
        let keep: HashSet<String> = bases.into_iter().map(origin).collect();
        self.pools().retain(|key, _| keep.contains(key));
        self.health.retain(&keep, self.idle_timeout);
    }

    /// Number of origins with a pooled client or an idle health-check socket.
    pub fn pooled_origins(&self) -> usize {
        let mut origins: HashSet<String> = self.pools().keys().cloned().collect();
        origins.extend(self.health.origins());
        origins.len()
    }

    /// `GET {base}/api/v1/health` without auth: succeeds on a 2xx JSON answer.
    pub async fn health(&self, base: &str) -> Result<(), UpstreamError> {
        let checked =
            tokio::time::timeout(HEALTH_TIMEOUT, self.health.check(base, self.idle_timeout))
                .await
                .map_err(|_| UpstreamError::Transport("health check timed out".to_owned()))?;
        match checked {
            Ok(result) => result,
            Err(health::Unsupported) => self.health_over_http(base).await,
        }
    }

    /// A health check through the origin's pooled client.
    async fn health_over_http(&self, base: &str) -> Result<(), UpstreamError> {
        let reply = self
            .client(base)?
            .get(join(base, "/api/v1/health")?)
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
            .map_err(UpstreamError::transport)?;
        let status = reply.status();
        if !status.is_success() {
            return Err(UpstreamError::Status(status));
        }
        let body = read_capped(reply, HEALTH_BODY_BYTES).await?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)
            .map(|_| ())
            .map_err(|e| UpstreamError::InvalidJson(e.to_string()))
    }

    /// `GET {base}{path}` with the session's bearer token, parsed as `T`; non-2xx is an error.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<T, UpstreamError> {
        let reply = self.call(Method::GET, base, path, token, None).await?;
        if !reply.status.is_success() {
            return Err(UpstreamError::Status(reply.status));
        }
        serde_json::from_slice(&reply.body).map_err(|e| UpstreamError::InvalidJson(e.to_string()))
    }

    /// Sends one request and returns whatever the upstream answered, whatever its status.
    /// Only a failure to get an answer at all is an error.
    pub async fn call(
        &self,
        method: Method,
        base: &str,
        path: &str,
        token: Option<&str>,
        json_body: Option<Bytes>,
    ) -> Result<UpstreamReply, UpstreamError> {
        let mut request = self.client(base)?.request(method, join(base, path)?);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = json_body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let reply = request.send().await.map_err(UpstreamError::transport)?;
        let status = reply.status();
        let content_type = reply.headers().get(http::header::CONTENT_TYPE).cloned();
        let body = read_capped(reply, UPSTREAM_BODY_BYTES).await?;
        Ok(UpstreamReply {
            status,
            content_type,
            body,
        })
    }
}

/// Reads a reply body, refusing one longer than `limit` bytes (declared or actual).
async fn read_capped(mut reply: reqwest::Response, limit: usize) -> Result<Bytes, UpstreamError> {
    if reply.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::TooLarge(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = reply.chunk().await.map_err(UpstreamError::transport)? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn paths_are_appended_to_the_base_path_only() {
        let at = |base: &str| join(base, "/api/v1/input").unwrap().to_string();
        assert_eq!(at("http://h:1"), "http://h:1/api/v1/input");
        assert_eq!(at("http://h:1/pre/"), "http://h:1/pre/api/v1/input");
        assert_eq!(at("http://h:1/admin?x="), "http://h:1/admin/api/v1/input");
        assert_eq!(at("http://h:1/admin#"), "http://h:1/admin/api/v1/input");
    }
}
