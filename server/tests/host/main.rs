//! `coopmux session`, the built-in session host, as a real process: its HTTP API and
//! WebSocket, self-registration, replay integrity and real shells on real PTYs.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod register;
mod replay;
mod terminal;
