//! The hub's WebSockets with real session hosts: the `/ws/{id}` bridge and the `/ws/mux` feed.

#[path = "../support/mod.rs"]
mod support;

mod bridge;
mod feed;
mod inbox;
mod nats;
mod replicas;
