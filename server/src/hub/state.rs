//! Shared state of the running hub, assembled from its parts.
//!
//! The parts (registry, auth, launcher, bridges, feeds, credentials) never import this module:
//! each handler extracts just the part it needs (`State<Arc<Registry>>`, `State<BridgeState>`,
//! …) through the [`FromRef`] impls below, so dependencies point one way, into the parts.

use crate::hub::bridge::{BridgeState, Bridges};
use crate::hub::feed::{EventFeeds, FeedState};
use crate::{
    cli::ServeArgs, hub::audit::Audit, hub::auth::Auth, hub::credentials::Credentials,
    hub::fleet::Fleet, hub::inbox::Inbox, hub::launch::Launcher, hub::metrics::Metrics,
    hub::registry::Registry, hub::replication::Replication,
};
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
    pub auth: Arc<Auth>,
    /// Counters and gauges for `/metrics` (the registry holds the same instance).
    pub metrics: Arc<Metrics>,
    /// Cancelled on shutdown; long-lived handlers (WebSockets) watch it.
    pub shutdown: CancellationToken,
    /// The launch API's spawner and launch records.
    pub launcher: Arc<Launcher>,
    /// The per-session PTY bridges of `/ws/{id}`.
    pub bridges: Arc<Bridges>,
    /// The upstream event feeds of sessions watched on `/ws/mux`.
    pub event_feeds: Arc<EventFeeds>,
    /// The credential broker, its pool and distributor (always present; empty without a
    /// config file).
    pub credentials: Arc<Credentials>,
    /// What replicas share through NATS, with the NATS link; `None` without NATS.
    pub replication: Option<Arc<Replication>>,
    /// The sessions, tokens and launch links shared with the other replicas; `None` without
    /// NATS.
    pub fleet: Option<Arc<Fleet>>,
    /// Every prompt agents wait on.
    pub inbox: Arc<Inbox>,
    /// The audit log.
    pub audit: Arc<Audit>,
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

impl FromRef<AppState> for Arc<Registry> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.registry.clone()
    }
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.auth.clone()
    }
}

impl FromRef<AppState> for Arc<Inbox> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.inbox.clone()
    }
}

impl FromRef<AppState> for Arc<Audit> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.audit.clone()
    }
}

impl FromRef<AppState> for Arc<Launcher> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.launcher.clone()
    }
}

impl FromRef<AppState> for Arc<Credentials> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.credentials.clone()
    }
}

impl FromRef<AppState> for Option<Arc<Replication>> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.replication.clone()
    }
}

impl FromRef<AppState> for BridgeState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            registry: state.hub.registry.clone(),
            bridges: state.hub.bridges.clone(),
            shutdown: state.hub.shutdown.clone(),
        }
    }
}

impl FromRef<AppState> for FeedState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            registry: state.hub.registry.clone(),
            event_feeds: state.hub.event_feeds.clone(),
            shutdown: state.hub.shutdown.clone(),
        }
    }
}
