//! Operations on sessions that both doors offer: the REST API (`api/`) and the dashboard's
//! server functions (`dashboard`) are thin adapters over these, so each exists once and fails
//! the same way through either door (docs/architecture.md, "The server's modules").

use crate::edge::error::ApiError;
use crate::hub::proxy;
use crate::hub::registry::Registry;
use axum::http::Method;
use futures_util::StreamExt;
use protocol::mux::CachedStatus;
use protocol::AgentState;
use std::collections::BTreeMap;

/// Most sessions one [`states`] call may ask about (the default `--max-sessions`).
pub const MAX_STATE_IDS: usize = 16_384;
/// Status reads one [`states`] call runs at once.
const STATE_READS_IN_FLIGHT: usize = 32;

/// A session's status read from the session itself (the cache may predate an exit); for a
/// session reached over NATS, the last status it published there.
pub async fn live_status(registry: &Registry, id: &str) -> Result<CachedStatus, ApiError> {
    Ok(registry.live_status(id).await?)
}

/// The live status of each of `ids`. Read live, not from the cache: the answer must not be
/// older than the event that asked for it (an exit). Sessions that do not answer, or are not
/// registered, are left out: the dashboard keeps what it knew.
pub async fn states(
    registry: &Registry,
    ids: Vec<String>,
) -> Result<BTreeMap<String, CachedStatus>, ApiError> {
    if ids.len() > MAX_STATE_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_STATE_IDS} sessions per call"
        )));
    }
    Ok(futures_util::stream::iter(ids)
        .map(|id| async move {
            let status = live_status(registry, &id).await.ok()?;
            Some((id, status))
        })
        .buffer_unordered(STATE_READS_IN_FLIGHT)
        .filter_map(std::future::ready)
        .collect()
        .await)
}

/// Shuts an exited session's host down and removes the session; a session whose program
/// still runs is refused (409 `SESSION_NOT_EXITED`).
pub async fn dismiss(registry: &Registry, id: &str) -> Result<(), ApiError> {
    let status = live_status(registry, id).await?;
    if status.state != AgentState::Exited {
        return Err(ApiError::Conflict(
            "SESSION_NOT_EXITED",
            format!("session {id} is {}, not exited", status.state),
        ));
    }
    // A host that cannot be reached is removed all the same: that is what was asked.
    if let Err(err) = proxy::forward(registry, id, Method::POST, "/api/v1/shutdown", None).await {
        tracing::debug!(session = %id, %err, "dismiss: shutdown failed");
    }
    registry.remove(id);
    registry.tokens().revoke_session(id);
    Ok(())
}
