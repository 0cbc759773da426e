//! The edge: what the hub and the built-in session host both stand on. The listener and its
//! connection deadlines, the Host/Origin/token guard, the bind host, the credentials a request
//! carries (`headers`), coop's `/ws` core with its output log (`coop_ws`), the one API error
//! and its HTTP mapping (`error`), the NATS link, and
//! small parts (backoff policies, secrets, the state directory, the clock, process hardening).
//! Nothing here imports the hub or the host (docs/architecture.md, "The server's modules").

pub mod backoff;
pub mod bind_host;
pub mod clock;
pub mod coop_ws;
pub mod error;
pub mod guard;
pub mod headers;
pub mod listener;
pub mod nats;
pub mod process;
pub mod secret;
pub mod state_dir;
