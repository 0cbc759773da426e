//! The hub's WebSockets with real session hosts: the `/ws/{id}` bridge and the `/ws/mux` feed.

use test_support as support;

mod bridge;
mod feed;
mod inbox;
mod nats;
mod replicas;
