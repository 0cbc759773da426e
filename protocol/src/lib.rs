//! coopmux wire types, shared by the server, the session host, the WASM dashboard, tests and
//! benches. Serde only: no runtime, no UI.
//!
//! `mux` is the hub's own API (REST shapes and `/ws/mux` events); `coop` is the API of a coop
//! session, spoken by the built-in session host and by the proxy and bridge towards upstreams.
//! `claude` is what Claude Code's hooks send the session host.

pub mod agent_state;
pub mod claude;
pub mod coop;
pub mod credentials;
mod envelope;
pub mod fleet;
pub mod inbox;
pub mod launch;
pub mod mux;
pub mod nats;

pub use agent_state::AgentState;
pub use envelope::{ErrorBody, ErrorEnvelope};
