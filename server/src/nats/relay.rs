//! Proxy calls for sessions discovered on NATS without a reachable url (docs/scaling.md,
//! "Input"): text input, nudge and respond are published to the session's subjects; raw
//! input, keys and everything else need HTTP, so they answer 409 `NO_URL` instead of being
//! dropped on the way (coop ignores them on NATS).

use crate::error::{envelope, ApiError};
use crate::registry::{Registry, Session};
use axum::{
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use protocol::coop::{InputText, NudgeRequest, RespondRequest};
use protocol::nats::{session_subject, Relayed};
use serde::{de::DeserializeOwned, Serialize};

/// Answers `upstream_path` for `session`, which has no url.
pub async fn forward(
    registry: &Registry,
    session: &Session,
    upstream_path: &str,
    body: Option<Bytes>,
) -> Result<Response, ApiError> {
    let no_url = || {
        envelope(
            StatusCode::CONFLICT,
            "NO_URL",
            format!(
                "session {} announced no reachable url on NATS; {upstream_path} needs HTTP",
                session.id
            ),
        )
    };
    let Some(prefix) = session.nats_prefix() else {
        return Ok(no_url());
    };
    let body = body.unwrap_or_default();
    let (kind, payload) = match upstream_path {
        "/api/v1/input" => ("input", reencode::<InputText>(&body)?),
        "/api/v1/agent/nudge" => ("nudge", reencode::<NudgeRequest>(&body)?),
        "/api/v1/agent/respond" => ("respond", reencode::<RespondRequest>(&body)?),
        _ => return Ok(no_url()),
    };
    let subject = publish(registry, &prefix, &session.id, kind, payload).await?;
    registry.metrics().relayed(body.len());
    Ok(Json(Relayed {
        transport: "nats".to_owned(),
        subject,
    })
    .into_response())
}

/// Publishes `payload` (a body coop reads) to `{prefix}.session.{id}.{kind}`; returns the
/// subject. Also the way `/ws/mux`'s `input:send` reaches a session without url.
pub async fn publish(
    registry: &Registry,
    prefix: &str,
    id: &str,
    kind: &str,
    payload: Vec<u8>,
) -> Result<String, ApiError> {
    let Some(client) = registry.nats().and_then(|link| link.try_client()) else {
        return Err(ApiError::Upstream(
            "not connected to NATS, the only way to this session".to_owned(),
        ));
    };
    let subject = session_subject(prefix, id, kind);
    client
        .publish(subject.clone(), payload.into())
        .await
        .map_err(|e| ApiError::Upstream(format!("NATS publish failed: {e}")))?;
    Ok(subject)
}

/// The body as `T` and back: only the fields coop reads reach the bus, and a bad body is a 422
/// here rather than a silent drop there.
fn reencode<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let value: T = serde_json::from_slice(body)
        .map_err(|e| ApiError::Unprocessable(format!("invalid body: {e}")))?;
    serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))
}
