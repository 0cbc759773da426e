//! coopmux: a hub for fleets of coop terminal sessions.
//!
//! `serve` runs the hub: `registry` owns the sessions (health checks, caches, pollers,
//! prewarm), `api` the REST handlers, `proxy` and `upstream` the calls to coop sessions (over
//! HTTP, or NATS for sessions without url), `auth` the token and login cookie, `feed` the
//! `/ws/mux` stream, `web` the dashboard hosting, `launch` the launch API and its tracking,
//! `credentials` the credential broker (accounts, OAuth refresh and reauth, persistence,
//! distribution to sessions, pool). `nats` is the NATS link, `discovery` follows sessions
//! announcing themselves on it, `replication` is the one driver of what hub replicas share
//! and `fleet` its sessions, tokens and launch links. `session_host` is the built-in
//! coop-compatible PTY server.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

pub mod api;
pub mod audit;
pub mod auth;
pub mod backoff;
pub mod bind_host;
pub mod bridge;
pub mod cli;
pub mod commands;
pub mod coop_ws;
pub mod credentials;
pub mod dashboard;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod feed;
pub mod fleet;
pub mod guard;
pub mod inbox;
pub mod launch;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod nats;
pub mod open;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod replication;
pub mod routes;
pub mod secret;
pub mod serve;
pub mod session_host;
pub mod state;
pub mod upstream;
pub mod web;
