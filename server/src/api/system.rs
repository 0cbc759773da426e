//! Hub-level routes: health, metrics and the OpenAPI document.

use crate::credentials::Credentials;
use crate::registry::Registry;
use axum::{
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    Json,
};
use protocol::mux::Health;
use std::sync::Arc;

/// Liveness of the mux; never needs auth.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "system",
    responses((status = 200, body = Health))
)]
pub async fn health(
    State(registry): State<Arc<Registry>>,
    State(credentials): State<Arc<Credentials>>,
) -> Json<Health> {
    Json(Health {
        status: "running".to_owned(),
        session_count: registry.len(),
        nats: registry.nats().map(|link| link.state().as_str().to_owned()),
        fleet: registry.fleet().map(|f| f.mode().as_str().to_owned()),
        credentials: credentials.sharing().map(str::to_owned),
        warnings: (registry.nats().and_then(|link| link.warning()))
            .map(str::to_owned)
            .into_iter()
            .collect(),
    })
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let registry = &registry;
    let mut text = registry
        .metrics()
        .render(registry.len(), registry.watched_sessions());
    if let Some(link) = registry.nats() {
        text.push_str(&crate::nats::render_metrics(link));
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
