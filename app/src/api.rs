//! Typed server functions the dashboard calls, and the trait through which they reach the
//! server's registry (the same code the REST handlers use, provided as Leptos context).

use leptos::prelude::*;

/// What the server functions need from the running mux. Implemented by the server crate and
/// provided to Leptos as a [`SharedMuxApi`] context.
#[cfg(feature = "ssr")]
pub trait MuxApi: Send + Sync + 'static {
    /// Number of registered sessions.
    fn session_count(&self) -> usize;
    /// Every registered session in registration order, as `GET /api/v1/sessions` lists them.
    fn list_sessions(&self) -> Vec<crate::protocol::mux::SessionInfo>;
}

/// The context value server functions look up.
#[cfg(feature = "ssr")]
pub type SharedMuxApi = std::sync::Arc<dyn MuxApi>;

#[cfg(feature = "ssr")]
fn mux_api() -> Result<SharedMuxApi, ServerFnError> {
    use_context::<SharedMuxApi>().ok_or_else(|| ServerFnError::new("mux state is not provided"))
}

/// Number of registered sessions.
#[server(prefix = "/api/fn", endpoint = "session_count")]
pub async fn session_count() -> Result<usize, ServerFnError> {
    Ok(mux_api()?.session_count())
}

/// Every registered session in registration order (the same list as `GET /api/v1/sessions`).
#[server(prefix = "/api/fn", endpoint = "list_sessions")]
pub async fn list_sessions() -> Result<Vec<crate::protocol::mux::SessionInfo>, ServerFnError> {
    Ok(mux_api()?.list_sessions())
}
