//! Shapes of a coop session's own API (reference §12), shared by the session host and the mux.
