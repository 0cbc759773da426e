//! Typed server functions the dashboard calls, and the trait through which they reach the
//! running mux (the same code the REST handlers use, provided as Leptos context).
//!
//! Every function fails with [`ApiFailure`]: the HTTP status, code and message the REST
//! endpoint would have answered, so the dashboard can show the server's own words inline.

use leptos::prelude::*;
use protocol::credentials::{
    AccountAdded, AccountStatus, DistributeRequest, DistributeResponse, ExchangeRequest,
    NewAccountRequest, ReauthRequest, ReauthResponse, SetTokenRequest,
};
use protocol::launch::{LaunchConfig, LaunchDetail, LaunchResponse};
use protocol::mux::{CachedScreen, CachedStatus, SessionInfo};
// Arguments travel as JSON: form encoding cannot express an empty map or nested enums.
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a dashboard call failed: the REST status (0 when the call never reached a handler),
/// the envelope's code and the server's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    /// HTTP status the REST endpoint answers with.
    pub status: u16,
    /// The code of the error envelope (`SESSION_NOT_FOUND`, ...); empty when no handler
    /// answered.
    #[serde(default)]
    pub code: String,
    /// The message of the error envelope.
    pub message: String,
}

impl ApiFailure {
    /// A failure with `status` and `message`, without a code (no handler answered).
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self::with_code(status, String::new(), message)
    }

    /// A failure with the status, code and message of an error envelope.
    pub fn with_code(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl FromServerFnError for ApiFailure {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::new(0, value.to_string())
    }
}

/// The client of the typed server functions: the browser's `fetch` with the page's login
/// credential added (docs/security.md, "The dashboard's login").
pub struct HubClient;

mod hub_client {
    use super::HubClient;
    use futures::{Sink, Stream};
    use leptos::server_fn::client::{browser::BrowserClient, Client};
    use leptos::server_fn::error::FromServerFnError;
    use leptos::server_fn::request::browser::BrowserRequest;
    use leptos::server_fn::response::browser::BrowserResponse;
    use leptos::server_fn::Bytes;
    use std::future::Future;

    impl<E, I, O> Client<E, I, O> for HubClient
    where
        E: FromServerFnError,
        I: FromServerFnError,
        O: FromServerFnError,
    {
        type Request = BrowserRequest;
        type Response = BrowserResponse;

        fn send(req: BrowserRequest) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
            #[cfg(feature = "hydrate")]
            if let Some(login) = crate::login::credential() {
                req.headers().set(crate::login::HEADER, &login);
            }
            <BrowserClient as Client<E, I, O>>::send(req)
        }

        fn open_websocket(
            path: &str,
        ) -> impl Future<
            Output = Result<
                (
                    impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                    impl Sink<Bytes> + Send + 'static,
                ),
                E,
            >,
        > + Send {
            <BrowserClient as Client<E, I, O>>::open_websocket(path)
        }

        fn spawn(future: impl Future<Output = ()> + Send + 'static) {
            <BrowserClient as Client<E, I, O>>::spawn(future)
        }
    }
}

/// A request to one session, forwarded through the mux's proxy (the inspector and uploads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SessionAction {
    /// Nudge the agent with a message (`POST …/agent/nudge`).
    Nudge {
        /// Text to send.
        message: String,
    },
    /// Answer the agent's prompt (`POST …/agent/respond`), coop's body as is.
    Respond {
        /// Coop's respond body, e.g. `{"accept":true}` or `{"text":"…"}`.
        body: serde_json::Value,
    },
    /// Press named keys (`POST …/input/keys`).
    Keys {
        /// Key names such as `enter`, `ctrl-c`.
        keys: Vec<String>,
    },
    /// Upload a file into the session (`POST …/upload`); answers `{path, bytes_written}`.
    Upload {
        /// File name.
        filename: String,
        /// Base64 of the content.
        data: String,
    },
    /// The session's credential profiles (`GET …/session/profiles`).
    Profiles,
    /// Switch to a registered profile (`POST …/session/switch`; coop waits for idle).
    Switch {
        /// Profile name.
        profile: String,
    },
    /// Restart the agent (`POST …/session/restart`).
    Restart,
    /// Stop the session (`POST …/shutdown`).
    Shutdown,
}

#[cfg(feature = "ssr")]
pub use server_side::*;

#[cfg(feature = "ssr")]
mod server_side {
    use super::*;
    use std::{future::Future, pin::Pin};

    /// A boxed future of a dashboard call.
    pub type ApiFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiFailure>> + Send>>;

    /// What the server functions need from the running mux. Implemented by the server crate
    /// and provided to Leptos as a [`SharedMuxApi`] context.
    pub trait MuxApi: Send + Sync + 'static {
        /// Number of registered sessions.
        fn session_count(&self) -> usize;
        /// Every registered session in registration order, as `GET /api/v1/sessions`.
        fn list_sessions(&self) -> Vec<SessionInfo>;
        /// `GET /api/v1/config/launch`.
        fn launch_config(&self) -> LaunchConfig;
        /// `POST /api/v1/sessions/launch`.
        fn launch(&self, env: BTreeMap<String, String>) -> Result<LaunchResponse, ApiFailure>;
        /// Recent launches, newest first, with their output tails.
        fn launches(&self) -> Vec<LaunchDetail>;
        /// Forwards `action` to session `id`; answers the upstream's JSON.
        fn session_action(&self, id: String, action: SessionAction)
            -> ApiFuture<serde_json::Value>;
        /// The current status of each of `ids` that is registered and answers, read from
        /// the sessions in parallel.
        fn session_states(&self, ids: Vec<String>) -> ApiFuture<BTreeMap<String, CachedStatus>>;
        /// `GET /api/v1/sessions/{id}/screen`.
        fn session_screen(&self, id: String) -> ApiFuture<CachedScreen>;
        /// Shuts an exited session down and removes it from the registry.
        fn dismiss_session(&self, id: String) -> ApiFuture<()>;
        /// `GET /api/v1/credentials/status`.
        fn credential_status(&self) -> Result<Vec<AccountStatus>, ApiFailure>;
        /// `POST /api/v1/credentials/new`.
        fn credential_new(&self, req: NewAccountRequest) -> ApiFuture<AccountAdded>;
        /// `POST /api/v1/credentials/set`.
        fn credential_set(&self, req: SetTokenRequest) -> ApiFuture<()>;
        /// `POST /api/v1/credentials/reauth`.
        fn credential_reauth(&self, req: ReauthRequest) -> ApiFuture<ReauthResponse>;
        /// `POST /api/v1/credentials/exchange`.
        fn credential_exchange(&self, req: ExchangeRequest) -> ApiFuture<()>;
        /// `POST /api/v1/credentials/distribute`.
        fn credential_distribute(&self, req: DistributeRequest) -> ApiFuture<DistributeResponse>;
    }

    /// The context value server functions look up.
    pub type SharedMuxApi = std::sync::Arc<dyn MuxApi>;

    pub(super) fn mux_api() -> Result<SharedMuxApi, ApiFailure> {
        use_context::<SharedMuxApi>().ok_or_else(|| ApiFailure::new(500, "mux state missing"))
    }
}

/// Number of registered sessions.
#[server(prefix = "/api/fn", endpoint = "session_count", input = Json, client = HubClient)]
pub async fn session_count() -> Result<usize, ApiFailure> {
    Ok(mux_api()?.session_count())
}

/// Every registered session in registration order (the same list as `GET /api/v1/sessions`).
#[server(prefix = "/api/fn", endpoint = "list_sessions", input = Json, client = HubClient)]
pub async fn list_sessions() -> Result<Vec<SessionInfo>, ApiFailure> {
    Ok(mux_api()?.list_sessions())
}

/// Whether launch is available, and the mux's working directory.
#[server(prefix = "/api/fn", endpoint = "launch_config", input = Json, client = HubClient)]
pub async fn get_launch_config() -> Result<LaunchConfig, ApiFailure> {
    Ok(mux_api()?.launch_config())
}

/// Launches a session with `env` (validated by the server exactly as the REST endpoint).
#[server(prefix = "/api/fn", endpoint = "launch", input = Json, client = HubClient)]
pub async fn launch(env: BTreeMap<String, String>) -> Result<LaunchResponse, ApiFailure> {
    mux_api()?.launch(env)
}

/// Recent launches with their output tails, newest first.
#[server(prefix = "/api/fn", endpoint = "launches", input = Json, client = HubClient)]
pub async fn launches() -> Result<Vec<LaunchDetail>, ApiFailure> {
    Ok(mux_api()?.launches())
}

/// Forwards an inspector action or an upload to session `id`.
#[server(prefix = "/api/fn", endpoint = "session_action", input = Json, client = HubClient)]
pub async fn act_on_session(
    id: String,
    action: SessionAction,
) -> Result<serde_json::Value, ApiFailure> {
    mux_api()?.session_action(id, action).await
}

/// The status (state, exit code) of each of `ids` that answers: the dashboard refreshes every
/// session at once after (re)connecting, and reads the exit code of a session that exited.
#[server(prefix = "/api/fn", endpoint = "session_states", input = Json, client = HubClient)]
pub async fn session_states(
    ids: Vec<String>,
) -> Result<BTreeMap<String, CachedStatus>, ApiFailure> {
    mux_api()?.session_states(ids).await
}

/// A session's current screen (the mux's cache), painted when a replay shows nothing.
#[server(prefix = "/api/fn", endpoint = "session_screen", input = Json, client = HubClient)]
pub async fn session_screen(id: String) -> Result<CachedScreen, ApiFailure> {
    mux_api()?.session_screen(id).await
}

/// Dismisses an exited session: shuts its host down and removes it from the registry.
#[server(prefix = "/api/fn", endpoint = "dismiss_session", input = Json, client = HubClient)]
pub async fn dismiss_session(id: String) -> Result<(), ApiFailure> {
    mux_api()?.dismiss_session(id).await
}

/// Every credential account with its status (no secrets).
#[server(prefix = "/api/fn", endpoint = "credential_status", input = Json, client = HubClient)]
pub async fn credential_status() -> Result<Vec<AccountStatus>, ApiFailure> {
    mux_api()?.credential_status()
}

/// Adds a credential account.
#[server(prefix = "/api/fn", endpoint = "credential_new", input = Json, client = HubClient)]
pub async fn credential_new(req: NewAccountRequest) -> Result<AccountAdded, ApiFailure> {
    mux_api()?.credential_new(req).await
}

/// Sets an account's key.
#[server(prefix = "/api/fn", endpoint = "credential_set", input = Json, client = HubClient)]
pub async fn credential_set(req: SetTokenRequest) -> Result<(), ApiFailure> {
    mux_api()?.credential_set(req).await
}

/// Starts OAuth reauthorisation of an account.
#[server(prefix = "/api/fn", endpoint = "credential_reauth", input = Json, client = HubClient)]
pub async fn credential_reauth(req: ReauthRequest) -> Result<ReauthResponse, ApiFailure> {
    mux_api()?.credential_reauth(req).await
}

/// Completes a PKCE reauthorisation with the pasted code.
#[server(prefix = "/api/fn", endpoint = "credential_exchange", input = Json, client = HubClient)]
pub async fn credential_exchange(req: ExchangeRequest) -> Result<(), ApiFailure> {
    mux_api()?.credential_exchange(req).await
}

/// Pushes an account's key to every eligible session.
#[server(prefix = "/api/fn", endpoint = "credential_distribute", input = Json, client = HubClient)]
pub async fn credential_distribute(
    req: DistributeRequest,
) -> Result<DistributeResponse, ApiFailure> {
    mux_api()?.credential_distribute(req).await
}
