//! `/ws/mux`: upgrade rules, watching, screen batches and errors.

mod auth;
mod watch;
