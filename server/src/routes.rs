//! The hub's router: REST API, WebSockets, dashboard, and the envelope for unknown routes.

use crate::{error::ApiError, feed, state::AppState, web};
use app::protocol::mux::Health;
use axum::{
    extract::State,
    http::{Method, Uri},
    response::Redirect,
    routing::get,
    Json, Router,
};

/// Builds the complete router for a hub.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/mux") }))
        .route("/api/v1/health", get(health))
        .route("/ws/mux", get(feed::ws_mux))
        .merge(web::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "running".to_owned(),
        session_count: state.hub.registry.len(),
    })
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
