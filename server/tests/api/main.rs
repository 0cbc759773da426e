//! The hub's HTTP side: registry, proxy, caches, health, auth, errors, OpenAPI and metrics,
//! the dashboard routes, the `coopmux` command line, credentials and launches.

use test_support as support;

mod assets;
mod auth;
mod cache;
mod cli;
mod credentials;
mod errors;
mod health;
mod heard;
mod inbox;
mod launch;
mod modules;
mod openapi;
mod proxy;
mod registry;
mod security;
mod session_hosts;
mod web_foundation;
