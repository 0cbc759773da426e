//! `coopmux session`, the built-in session host, as a real process: its HTTP API and
//! WebSocket (a conformance table of coop's answers, every request of coop's dashboard), the
//! child's lifecycle and
//! switches, self-registration, replay integrity, real shells on real PTYs, and Claude Code
//! (the claudeless simulator): its states, prompts and answers.

use test_support as support;

mod api;
mod claude;
mod conformance;
mod dashboard;
mod lifecycle;
mod register;
mod replay;
mod terminal;
