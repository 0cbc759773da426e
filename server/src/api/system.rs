//! Hub-level routes: health, metrics and the OpenAPI document.

use crate::state::AppState;
use axum::{
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    Json,
};
use protocol::mux::Health;

/// Liveness of the mux; never needs auth.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "system",
    responses((status = 200, body = Health))
)]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "running".to_owned(),
        session_count: state.hub.registry.len(),
    })
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let registry = &state.hub.registry;
    let text = registry
        .metrics()
        .render(registry.len(), registry.watched_sessions());
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
    ([(CONTENT_TYPE, "application/json")], crate::openapi::json()).into_response()
}
