//! `GET /api/v1/audit`: the audit log, paged.

use super::Audit;
use crate::edge::error::ApiError;
use axum::extract::{rejection::QueryRejection, Query, State};
use axum::Json;
use protocol::inbox::AuditPage;
use serde::Deserialize;
use std::sync::Arc;

/// Entries per page by default and at most (count).
const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 1000;

/// The page asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Entries after this `seq` (0: from the oldest kept).
    #[serde(default)]
    after: u64,
    /// Entries per page (default 100, at most 1000).
    limit: Option<usize>,
}

/// The audit log: answers, responds, nudges, launches, kills and credential changes, oldest
/// first, `limit` entries after `after`.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(PageQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "a malformed query", body = protocol::ErrorEnvelope),
    )
)]
pub async fn list(
    State(audit): State<Arc<Audit>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(page) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
    let (entries, more) = audit.page(page.after, limit);
    let next_after = more.then(|| entries.last().map_or(page.after, |e| e.seq));
    Ok(Json(AuditPage {
        entries,
        next_after,
    }))
}
