//! Shared state of the running hub, handed to every handler.

use crate::{auth::Auth, cli::ServeArgs, metrics::Metrics, registry::Registry};
use app::api::SharedMuxApi;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything the hub's handlers share.
#[derive(Debug)]
pub struct Hub {
    /// Configuration from the command line.
    pub config: ServeArgs,
    /// Registered sessions, their caches, watchers and the mux event feed.
    pub registry: Arc<Registry>,
    /// Token, login sessions and allowed origins.
    pub auth: Auth,
    /// Counters and gauges for `/metrics` (the registry holds the same instance).
    pub metrics: Arc<Metrics>,
    /// Cancelled on shutdown; long-lived handlers (WebSockets) watch it.
    pub shutdown: CancellationToken,
    /// The launch API's spawner and launch records.
    pub launcher: Arc<crate::launch::Launcher>,
    /// The per-session PTY bridges of `/ws/{id}`.
    pub bridges: Arc<crate::bridge::Bridges>,
    /// The upstream event feeds of sessions watched on `/ws/mux`.
    pub event_feeds: Arc<crate::feed::EventFeeds>,
    /// The credential broker, its pool and distributor (always present; empty without a
    /// config file).
    pub credentials: Arc<crate::credentials::Credentials>,
}

/// Router state: the hub plus Leptos' options.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Leptos rendering options (site root, output name).
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// The hub as the context type server functions look up.
    pub fn mux_api(&self) -> SharedMuxApi {
        std::sync::Arc::new(crate::dashboard::DashboardApi(self.hub.clone()))
    }
}
