//! The one HTTP client the hub uses to talk to coop sessions (docs/coop-protocol.md).
//!
//! A single pooled [`reqwest::Client`] is shared by registration checks, the health checker,
//! pollers, prewarm and the proxies, so connections to an upstream are reused instead of a
//! new client (and TLS setup) per call.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
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

/// The shared upstream client.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

impl Upstream {
    /// Builds the pooled client.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A registrant names the URL: a redirect must not aim the hub anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client })
    }

    /// `GET {base}/api/v1/health` without auth: succeeds on a 2xx JSON answer.
    pub async fn health(&self, base: &str) -> Result<(), UpstreamError> {
        let reply = self
            .client
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
        let mut request = self.client.request(method, format!("{base}{path}"));
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
