//! Hosting of the Leptos dashboard: server-side rendering at `/mux`, the typed server
//! functions, and the static files cargo-leptos builds into the site root.

use crate::hub::extract::read_body;
use crate::hub::state::AppState;
use app::shell;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{render_app_to_stream_with_context, LeptosRoutes};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeFile;

pub mod assets;

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

/// Leptos options for a hub bound at `addr`. When the bundles are built, the page names
/// them by content hash ([`assets`]).
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let root = site_root();
    let hash_file = assets::hash_file(&root, OUTPUT_NAME);
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .hash_files(hash_file.is_some())
        // An absolute path: Leptos joins it to the binary's directory, which it replaces.
        .hash_file(
            hash_file
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "hash.txt".to_owned())
                .into(),
        )
        .build()
}

/// Routes of the dashboard: the page, server functions, bundles and vendored assets.
///
/// The one page is routed here rather than by a Leptos router, which the WASM bundle would
/// have to carry (see docs/architecture.md, "Dashboard bundle size").
pub fn router(state: &AppState) -> Router<AppState> {
    let api: app::api::SharedMuxApi =
        Arc::new(crate::hub::dashboard::DashboardApi(state.hub.clone()));
    let options = state.leptos.clone();
    let root = PathBuf::from(options.site_root.as_ref());
    let app_state = state.clone();
    // With a token the page is served to anyone (a navigation carries no login credential),
    // so it is rendered without the fleet: no mux API in its context (docs/security.md).
    let login_required = state.hub.auth.enabled();
    let context = {
        let api = api.clone();
        move || {
            provide_context(app_state.clone());
            if !login_required {
                provide_context(api.clone());
            }
        }
    };
    // No page routes from Leptos (the list is empty): this registers the server functions.
    let router = Router::new().leptos_routes_with_context(
        state,
        Vec::new(),
        move || provide_context(api.clone()),
        || (),
    );
    let vendor = assets::vendor_urls(&root);
    let page = render_app_to_stream_with_context(context, move || {
        shell(options.clone(), vendor.clone(), login_required)
    });
    let page = Router::new()
        .route("/mux", get(move |req: Request| page(req)))
        .layer(middleware::from_fn(assets::no_cache))
        .layer(CompressionLayer::new());
    router
        .merge(page)
        // Server functions read their whole body themselves: bound it as the REST API does.
        .layer(middleware::from_fn(limit_body))
        // A failed server function answers with its REST status, not Leptos's blanket 500.
        .layer(middleware::from_fn(crate::hub::dashboard::failure_status))
        .nest("/pkg", assets::static_dir(root.join("pkg")))
        .nest("/vendor", assets::static_dir(root.join("vendor")))
        // The symbols font (`public/fonts`), fetched only when a page shows one of its
        // characters (docs/architecture.md, "Glyphs the viewer's fonts lack").
        .nest("/fonts", assets::static_dir(root.join("fonts")))
        // The icon (`public/favicon.svg`) at the path browsers ask for unprompted, which the
        // login page may use before any login.
        .route_service("/favicon.ico", ServeFile::new(root.join("favicon.svg")))
}

/// Buffers a request body within the router's body limit ([`crate::hub::routes::MAX_BODY_BYTES`]); a larger one
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
