//! Hub-level routes: health, metrics and the OpenAPI document.

use crate::hub::credentials::Credentials;
use crate::hub::registry::Registry;
use crate::hub::replication::Replication;
use axum::{
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    Json,
};
use protocol::mux::{Health, ReplicationHealth};
use std::sync::Arc;

/// Liveness of the mux; never needs auth.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "system",
    responses((status = 200, body = Health))
)]
pub async fn health(
    State(registry): State<Arc<Registry>>,
    State(credentials): State<Arc<Credentials>>,
    State(replication): State<Option<Arc<Replication>>>,
) -> Json<Health> {
    let replication = replication.as_deref();
    let word = |s: crate::hub::replication::State| s.as_str().to_owned();
    Json(Health {
        status: "running".to_owned(),
        session_count: registry.len(),
        nats: replication.map(|r| r.link().state().as_str().to_owned()),
        fleet: replication.and_then(|r| r.state_of("sessions")).map(word),
        credentials: credentials.sharing().map(str::to_owned),
        warnings: replication
            .and_then(|r| r.link().warning())
            .map(str::to_owned)
            .into_iter()
            .collect(),
        replication: replication.map(|r| {
            let (state, buffered) = r.status();
            ReplicationHealth {
                state: word(state),
                buffered_writes: buffered as u64,
            }
        }),
    })
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics(
    State(registry): State<Arc<Registry>>,
    State(replication): State<Option<Arc<Replication>>>,
) -> Response {
    let registry = &registry;
    let mut text = registry
        .metrics()
        .render(registry.len(), registry.watched_sessions());
    if let Some(replication) = &replication {
        text.push_str(&crate::hub::nats::render_metrics(replication.link()));
        text.push_str(&crate::hub::replication::render_metrics(replication));
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
pub async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], super::openapi::json()).into_response()
}
