//! Screen and status caches: filled by pollers and prewarm, and read by the REST endpoints
//! (`GET /api/v1/sessions/{id}/screen` and `…/status`).
//!
//! A read serves the cache while it is younger than the poll interval; otherwise it reads the
//! upstream live and falls back to the (older) cache when the upstream fails. So a session
//! that nobody has polled yet still answers, not with a "not yet cached" 502
//! (docs/coop-protocol.md).

use super::{now_ms, Registry, RegistryError, Session};
use crate::hub::upstream::{Upstream, UpstreamError};
use protocol::mux::{CachedScreen, CachedStatus};
use std::sync::Arc;

/// Reads the upstream screen and stores it in the session's cache.
pub(super) async fn refresh_screen(
    upstream: &Upstream,
    session: &Arc<Session>,
) -> Result<CachedScreen, UpstreamError> {
    let target = session.target();
    let mut screen: CachedScreen = upstream.get_json_from(&target, "/api/v1/screen").await?;
    screen.fetched_at = now_ms();
    session.store_screen(screen.clone(), &target.url);
    Ok(screen)
}

/// Reads the upstream status and stores it in the session's cache.
pub(super) async fn refresh_status(
    upstream: &Upstream,
    session: &Arc<Session>,
) -> Result<CachedStatus, UpstreamError> {
    let target = session.target();
    let mut status: CachedStatus = upstream.get_json_from(&target, "/api/v1/status").await?;
    status.fetched_at = now_ms();
    session.store_status(status.clone(), &target.url);
    Ok(status)
}

impl Registry {
    /// `GET /api/v1/sessions/{id}/screen`.
    pub async fn screen(&self, id: &str) -> Result<CachedScreen, RegistryError> {
        let session = self.get(id)?;
        self.touch_prewarm(id);
        let cached = session.cached_screen();
        if let Some(c) = &cached {
            if c.at.elapsed() < self.settings.screen_poll {
                return Ok(c.value.clone());
            }
        }
        match refresh_screen(&self.upstream, &session).await {
            Ok(screen) => Ok(screen),
            Err(err) => cached.map(|c| c.value).ok_or(RegistryError::Upstream(err)),
        }
    }

    /// `GET /api/v1/sessions/{id}/status`.
    pub async fn status(&self, id: &str) -> Result<CachedStatus, RegistryError> {
        let session = self.get(id)?;
        self.touch_prewarm(id);
        let cached = session.cached_status();
        if let Some(c) = &cached {
            if c.at.elapsed() < self.settings.status_poll {
                return Ok(c.value.clone());
            }
        }
        match refresh_status(&self.upstream, &session).await {
            Ok(status) => Ok(status),
            Err(err) => cached.map(|c| c.value).ok_or(RegistryError::Upstream(err)),
        }
    }

    /// The status read from the session now, not from the cache (the dashboard asks after an
    /// exit, which the cache may predate); for a session without url, which answers nothing,
    /// the last status it published on NATS.
    pub async fn live_status(&self, id: &str) -> Result<CachedStatus, RegistryError> {
        let session = self.get(id)?;
        match refresh_status(&self.upstream, &session).await {
            Ok(status) => Ok(status),
            Err(err @ UpstreamError::NoUrl { .. }) => session
                .cached_status()
                .map(|s| s.value)
                .ok_or(RegistryError::Upstream(err)),
            Err(err) => Err(RegistryError::Upstream(err)),
        }
    }
}
