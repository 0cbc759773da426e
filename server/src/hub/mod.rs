//! The hub (`coopmux` without a subcommand): `registry` owns the sessions (health checks,
//! caches, pollers, prewarm), `api` the REST handlers, `proxy` and `upstream` the calls to
//! coop sessions (over HTTP, or NATS for sessions without url), `auth` the token and the
//! dashboard's login, `bridge` the PTY WebSocket bridge, `feed` the `/ws/mux` stream, `inbox`
//! the agents' questions and `audit` the answers' record, `web` and `dashboard` the dashboard
//! hosting and its server functions, `launch` the launch API and its tracking, `credentials`
//! the credential broker. `nats` holds the hub's NATS settings and credential events,
//! `discovery` follows sessions announcing themselves on NATS, `replication` is the one driver
//! of what hub replicas share and `fleet` its sessions, tokens and launch links. `serve` wires
//! it all and runs it.

pub mod api;
pub mod audit;
pub mod auth;
pub mod bridge;
pub mod credentials;
pub mod dashboard;
pub mod discovery;
pub mod extract;
pub mod feed;
pub mod fleet;
pub mod inbox;
pub mod launch;
pub mod metrics;
pub mod nats;
pub mod open;
pub mod operations;
pub mod proxy;
pub mod registry;
pub mod replication;
pub mod routes;
pub mod serve;
pub mod state;
pub mod upstream;
pub mod web;
