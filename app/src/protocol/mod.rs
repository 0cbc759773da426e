//! Wire types shared by the server and the WASM dashboard.
//!
//! `mux` is the hub's own API (REST shapes and `/ws/mux` events); `coop` is the API of a coop
//! session, spoken by the built-in session host and by the proxy and bridge towards upstreams.

pub mod coop;
pub mod credentials;
pub mod launch;
pub mod mux;
