//! coopmux: a hub for fleets of coop terminal sessions, in three wings.
//!
//! - `edge`: what both roles stand on (listener, guard, bind host, request credentials,
//!   coop's `/ws` core and output log, the NATS link).
//! - `hub`: the hub itself (`coopmux`): registry, proxy, bridge, feed, inbox, dashboard,
//!   launch, credential broker, replication.
//! - `host`: the built-in coop-compatible PTY server (`coopmux session`); it imports nothing
//!   of the hub.
//!
//! `cli` and `commands` parse the command line, `logging` sets up tracing. The module graph
//! is checked by a test (docs/architecture.md, "The server's modules").

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

pub mod cli;
pub mod commands;
pub mod edge;
pub mod host;
pub mod hub;
pub mod logging;
