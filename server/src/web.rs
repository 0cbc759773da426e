//! Hosting of the Leptos dashboard: server-side rendering at `/mux`, the typed server
//! functions, and the static files cargo-leptos builds into the site root.

use crate::extract::read_body;
use crate::state::AppState;
use app::{shell, App};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};
use tower_http::services::{ServeDir, ServeFile};

/// Name cargo-leptos gives the WASM, JS and CSS bundles (`[[workspace.metadata.leptos]] name`).
const OUTPUT_NAME: &str = "coopmux";

/// Where the built site lives: `LEPTOS_SITE_ROOT`, else `site/` beside the binary's target
/// profile directory (`target/release/coopmux` → `target/site`), else `target/site`.
pub fn site_root() -> PathBuf {
    if let Some(root) = std::env::var_os("LEPTOS_SITE_ROOT") {
        return PathBuf::from(root);
    }
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("site")));
    match beside_binary {
        Some(dir) if dir.join("pkg").is_dir() => dir,
        _ => PathBuf::from("target/site"),
    }
}

/// Leptos options for a hub bound at `addr`.
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root().to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Routes of the dashboard: pages, server functions, bundles and vendored assets.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let api: app::api::SharedMuxApi = Arc::new(crate::dashboard::DashboardApi(state.hub.clone()));
    let options = state.leptos.clone();
    let root = PathBuf::from(options.site_root.as_ref());
    Router::new()
        .leptos_routes_with_context(
            state,
            routes,
            move || provide_context(api.clone()),
            move || shell(options.clone()),
        )
        // Server functions read their whole body themselves: bound it as the REST API does.
        .layer(middleware::from_fn(limit_body))
        // A failed server function answers with its REST status, not Leptos's blanket 500.
        .layer(middleware::from_fn(crate::dashboard::failure_status))
        .nest_service("/pkg", static_dir(root.join("pkg")))
        .nest_service("/vendor", static_dir(root.join("vendor")))
        // The icon (`public/favicon.svg`) at the path browsers ask for unprompted, which the
        // login page may use before any login.
        .route_service("/favicon.ico", ServeFile::new(root.join("favicon.svg")))
}

/// Buffers a request body within the router's body limit ([`crate::routes::MAX_BODY_BYTES`]); a larger one
/// is a 413 in the envelope, as on the REST routes.
async fn limit_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    // The limit travels in the request's extensions, so the read sees the parts too.
    match read_body(Request::from_parts(parts.clone(), body), &()).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(err) => err.into_response(),
    }
}

/// Serves a directory of built assets, preferring the `.br`/`.gz` files that
/// `scripts/precompress.mjs` writes beside them (max-quality compression, done once at build).
fn static_dir(dir: PathBuf) -> ServeDir {
    ServeDir::new(dir).precompressed_br().precompressed_gzip()
}
