//! The hub's router: REST API, WebSockets, dashboard, login page, and the envelope for
//! unknown routes and wrong methods. Layers: CORS (only with `--allowed-origin`) outside,
//! then request tracing, then the anti-framing headers, then auth, then the body limit.

use crate::edge::error::ApiError;
use crate::{
    hub::api, hub::audit, hub::auth, hub::bridge, hub::feed, hub::state::AppState, hub::web,
};
use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::http::HeaderValue;
use axum::{
    extract::{DefaultBodyLimit, Request},
    http::{Method, Uri},
    middleware,
    response::Redirect,
    routing::get,
    Router,
};
use tower_http::{cors::CorsLayer, set_header::SetResponseHeaderLayer, trace::TraceLayer};

/// Largest request body, in bytes (16 MiB): coop accepts 10 MiB uploads, which grow by a
/// third as base64 inside JSON.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Builds the complete router for a hub.
pub fn router(state: AppState, cors: Option<CorsLayer>) -> Router {
    let (api, _) = api::router().split_for_parts();
    let router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/mux") }))
        .route("/ws/mux", get(feed::ws_mux))
        .route("/ws/{id}", get(bridge::ws_session))
        .route("/mux/login", get(auth::login::login_form).post(auth::login::login_submit))
        .merge(api)
        .merge(web::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside auth: it sees who made the request.
        .layer(middleware::from_fn_with_state(state.hub.audit.clone(), audit::record))
        .layer(middleware::from_fn_with_state(state.hub.auth.clone(), auth::require))
        // No other site may frame the dashboard (clickjacking an operator into a launch);
        // outside auth, so its refusals and redirects carry them too.
        .layer(SetResponseHeaderLayer::overriding(
            X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        // The span carries the path only: a query may hold a WebSocket `?token=`.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
