//! The defences of docs/security.md, each against the attack it stops: cross-site and
//! rebinding requests to the hub and to a session host, the hub's token inside agents, hostile
//! credential env keys, stored keys across runs without config, and the hub's bounds.

mod bounds;
mod browser;
mod connections;
mod credentials;
mod launch_env;
mod launch_token;
mod memory;
mod registrants;
mod same_user;
