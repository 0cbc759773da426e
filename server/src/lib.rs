//! coopmux: a hub for fleets of coop terminal sessions.
//!
//! `serve` runs the hub: `registry` owns the sessions, `feed` the `/ws/mux` stream, `web` the
//! dashboard hosting. `session_host` is the built-in coop-compatible PTY server.

pub mod cli;
pub mod error;
pub mod feed;
pub mod logging;
pub mod registry;
pub mod routes;
pub mod serve;
pub mod session_host;
pub mod state;
pub mod web;
