//! How a call reaches a session, decided here once for the proxy, `/ws/mux` and the
//! dashboard (docs/scaling.md, "Input"): over HTTP when it has a url; for a session discovered
//! on NATS without one, text input, nudge and respond are published to its subjects (only the
//! fields coop reads), and every other call is refused with [`UpstreamError::NoUrl`] instead
//! of being dropped on the way (coop ignores raw input and keys on NATS).

use super::{Upstream, UpstreamError, UpstreamReply};
use bytes::Bytes;
use http::Method;
use protocol::coop::{InputText, NudgeRequest, RespondRequest};
use protocol::nats::{session_subject, Relayed};
use serde::{de::DeserializeOwned, Serialize};

/// Where a session is, as the registry holds it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Session id.
    pub id: String,
    /// Upstream base URL; empty for a session discovered on NATS without one.
    pub url: String,
    /// Bearer token for the upstream.
    pub token: Option<String>,
    /// The NATS prefix it announced under, for a session discovered on NATS.
    pub nats_prefix: Option<String>,
}

/// What a call got.
#[derive(Debug)]
pub enum Reply {
    /// The session's HTTP answer (any status).
    Http(UpstreamReply),
    /// Published on NATS (which has no reply).
    Published(Relayed),
}

impl Upstream {
    /// Sends `method path` (with `body`) to `to`, over HTTP or published on NATS.
    pub async fn send(
        &self,
        to: &Target,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Reply, UpstreamError> {
        if !to.url.is_empty() {
            let token = to.token.as_deref();
            return (self.call(method, &to.url, path, token, body).await).map(Reply::Http);
        }
        let no_url = || UpstreamError::NoUrl {
            id: to.id.clone(),
            path: path.to_owned(),
        };
        let prefix = to.nats_prefix.as_deref().ok_or_else(no_url)?;
        let body = body.unwrap_or_default();
        let (kind, payload) = match path {
            "/api/v1/input" => ("input", reencode::<InputText>(&body)?),
            "/api/v1/agent/nudge" => ("nudge", reencode::<NudgeRequest>(&body)?),
            "/api/v1/agent/respond" => ("respond", reencode::<RespondRequest>(&body)?),
            _ => return Err(no_url()),
        };
        let client = (self.nats.as_ref())
            .and_then(|link| link.try_client())
            .ok_or_else(|| {
                UpstreamError::Nats("not connected to NATS, the only way to this session".into())
            })?;
        let subject = session_subject(prefix, &to.id, kind);
        client
            .publish(subject.clone(), payload.into())
            .await
            .map_err(|e| UpstreamError::Nats(format!("NATS publish failed: {e}")))?;
        Ok(Reply::Published(Relayed {
            transport: "nats".to_owned(),
            subject,
        }))
    }

    /// `GET path` of `to` parsed as `T`; non-2xx is an error, and so is a session without url
    /// (NATS carries no answer: what it publishes is in the registry's caches).
    pub async fn get_json_from<T: DeserializeOwned>(
        &self,
        to: &Target,
        path: &str,
    ) -> Result<T, UpstreamError> {
        if to.url.is_empty() {
            return Err(UpstreamError::NoUrl {
                id: to.id.clone(),
                path: path.to_owned(),
            });
        }
        self.get_json(&to.url, path, to.token.as_deref()).await
    }
}

/// The body as `T` and back: only the fields coop reads reach the bus, and a bad body is
/// refused here rather than dropped silently there.
fn reencode<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<Vec<u8>, UpstreamError> {
    let value: T = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::InvalidBody(format!("invalid body: {e}")))?;
    serde_json::to_vec(&value).map_err(|e| UpstreamError::InvalidBody(e.to_string()))
}
