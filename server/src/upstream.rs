//! The HTTP clients the hub uses to talk to coop sessions (docs/coop-protocol.md,
//! docs/architecture.md "What a session costs").
//!
//! Health checks (registration and the health checker) use one client that keeps no idle
//! connection, so a session nobody uses holds no socket between sweeps. Every other call
//! (pollers, prewarm, proxies, credential pushes) goes through a pooled client of the
//! upstream's origin, made on first use; [`Upstream::forget`] drops it when the last session
//! of that origin is removed, which closes its pooled connections at once instead of after
//! the idle timeout.

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
/// Idle connections kept per upstream host (count); the benchmark's single responder serving
/// many sessions is the case that needs more than a handful.
const POOL_IDLE_PER_HOST: usize = 64;
/// How long an idle pooled connection is kept.
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
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Health checks: no idle connection is kept.
    health: reqwest::Client,
    /// Pooled clients by origin (`scheme://host:port`), made on first use.
    pools: Arc<Mutex<HashMap<String, reqwest::Client>>>,
}

/// The settings every upstream client shares.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // A registrant names the URL: a redirect must not aim the hub anywhere else.
        .redirect(reqwest::redirect::Policy::none())
}

/// The origin of a base URL, the key of its pooled client (the URL itself when unparsable).
fn origin(base: &str) -> String {
    reqwest::Url::parse(base).map_or_else(|_| base.to_owned(), |u| u.origin().ascii_serialization())
}

impl Upstream {
    /// Builds the health client; pooled clients are made per origin on first use.
    pub fn new() -> Result<Self, reqwest::Error> {
        let health = builder().pool_max_idle_per_host(0).build()?;
        Ok(Self {
            health,
            pools: Arc::default(),
        })
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
        // Built outside the lock: building sets up TLS.
        let client = builder()
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(UpstreamError::transport)?;
        Ok(self.pools().entry(key).or_insert(client).clone())
    }

    /// Drops the pooled client of `base`'s origin: its idle connections close now, busy ones
    /// when their call ends.
    pub fn forget(&self, base: &str) {
        self.pools().remove(&origin(base));
    }

    /// Drops the pooled clients of every origin not among those of `bases` (a call that
    /// raced a removal may have made one again).
    pub fn retain<'a>(&self, bases: impl IntoIterator<Item = &'a str>) {
        let keep: HashSet<String> = bases.into_iter().map(origin).collect();
        self.pools().retain(|key, _| keep.contains(key));
    }

    /// Number of origins with a pooled client.
    pub fn pooled_origins(&self) -> usize {
        self.pools().len()
    }

    /// `GET {base}/api/v1/health` without auth: succeeds on a 2xx JSON answer.
    pub async fn health(&self, base: &str) -> Result<(), UpstreamError> {
        let reply = self
            .health
            .get(format!("{base}/api/v1/health"))
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
        let mut request = self.client(base)?.request(method, format!("{base}{path}"));
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
