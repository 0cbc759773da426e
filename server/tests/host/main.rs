//! `coopmux session`, the built-in session host, as a real process: its HTTP API and
//! WebSocket (a conformance table of coop's answers, every request of coop's dashboard), the
//! child's lifecycle and
//! switches, self-registration, replay integrity and real shells on real PTYs.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod conformance;
mod dashboard;
mod lifecycle;
mod register;
mod replay;
mod terminal;
