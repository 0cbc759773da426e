//! Shared state of the running hub, handed to every handler.

use crate::{cli::ServeArgs, registry::Registry};
use app::api::{MuxApi, SharedMuxApi};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything the hub's handlers share.
#[derive(Debug)]
pub struct Hub {
    /// Configuration from the command line.
    pub config: ServeArgs,
    /// Registered sessions.
    pub registry: Registry,
    /// Cancelled on shutdown; long-lived handlers (WebSockets) watch it.
    pub shutdown: CancellationToken,
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

impl MuxApi for Hub {
    fn session_count(&self) -> usize {
        self.registry.len()
    }
}

impl AppState {
    /// The hub as the context type server functions look up.
    pub fn mux_api(&self) -> SharedMuxApi {
        self.hub.clone()
    }
}
