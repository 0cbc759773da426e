//! The hub's REST shapes and the `/ws/mux` event stream (docs/architecture.md, "The path of a
//! `/ws/mux` event").

use crate::AgentState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `"running"` while the mux serves.
    pub status: String,
    /// Number of registered sessions.
    pub session_count: usize,
    /// The NATS connection (`connecting`, `connected`, `unresponsive`: connected but the
    /// server does not answer, `disconnected`); absent when NATS is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<String>,
    /// Where the registry lives with NATS on (a [`ReplicationHealth::state`] word): `shared`,
    /// `buffering`, `local` or `pending`; absent without NATS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<String>,
    /// Credential sharing between replicas, the same words as `fleet`; absent without NATS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Problems of the configuration the operator should fix (e.g. a NATS server that asks
    /// for no credentials); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What replicas share through NATS (docs/scaling.md): absent without NATS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationHealth>,
}

/// The replication part of `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationHealth {
    /// `shared` (the buckets are watched and written), `buffering` (NATS is down or does not
    /// answer: changes are kept in order and written when it is back), `local` (the server
    /// has no JetStream: this hub's memory only) or `pending` (not known yet).
    pub state: String,
    /// Changes made here that the buckets do not hold yet.
    pub buffered_writes: u64,
}

/// `POST /api/v1/sessions` body: a session registers itself (or a heartbeat renews it). No
/// `Debug`: it carries the session's token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// Upstream base URL (a trailing `/` is removed).
    pub url: String,
    /// Bearer token the mux sends to the upstream.
    #[serde(default)]
    pub auth_token: Option<String>,
    /// Session id; a UUID v4 is generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// One session in the `sessions` snapshot of `/ws/mux`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// Upstream base URL.
    pub url: String,
    /// Cached agent state, if a status was ever read.
    pub state: Option<AgentState>,
    /// Free-form metadata given at registration.
    #[serde(default)]
    pub metadata: Value,
}

/// Messages the server sends on `/ws/mux`, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum MuxEvent {
    /// Snapshot of every session, sent on connect.
    #[serde(rename = "sessions")]
    Sessions {
        /// All registered sessions.
        sessions: Vec<SessionSummary>,
    },
    /// A session registered.
    #[serde(rename = "session:online")]
    SessionOnline {
        /// Session id.
        session: String,
        /// Upstream base URL.
        url: String,
        /// Registration metadata.
        #[serde(default)]
        metadata: Value,
    },
    /// A session was removed.
    #[serde(rename = "session:offline")]
    SessionOffline {
        /// Session id.
        session: String,
    },
    /// The launch API spawned a launch command.
    #[serde(rename = "launch:started")]
    LaunchStarted {
        /// Launch id.
        launch_id: String,
        /// Session id the child was given.
        session_id: String,
    },
    /// A launched child's session registered.
    #[serde(rename = "launch:registered")]
    LaunchRegistered {
        /// Launch id.
        launch_id: String,
        /// Session id that registered.
        session_id: String,
    },
    /// A launch still waits for its session past a milestone: its command exited 0 before
    /// registering (`handed_off`), or `--launch-timeout-ms` passed (`not_registered_yet`).
    #[serde(rename = "launch:waiting")]
    LaunchWaiting {
        /// Launch id.
        launch_id: String,
        /// Session id the child was given.
        session_id: String,
        /// The launch's state now.
        state: crate::launch::LaunchState,
        /// Why it waits, for a person.
        reason: String,
    },
    /// A launch exited with an error before its session registered, or could not be spawned.
    #[serde(rename = "launch:failed")]
    LaunchFailed {
        /// Launch id.
        launch_id: String,
        /// Session id the child was given.
        session_id: String,
        /// Why, for a person.
        reason: String,
        /// Exit code, when the child exited normally.
        #[serde(default)]
        exit_code: Option<i32>,
    },
    /// The broker stored a fresh key for an account (the key itself is never sent).
    #[serde(rename = "credential:refreshed")]
    CredentialRefreshed {
        /// Account name.
        account: String,
    },
    /// Refreshing an account's key failed.
    #[serde(rename = "credential:refresh:failed")]
    CredentialRefreshFailed {
        /// Account name.
        account: String,
        /// Why, for a person (no secret).
        error: String,
    },
    /// An account needs a person to authorise it again.
    #[serde(rename = "credential:reauth:required")]
    CredentialReauthRequired {
        /// Account name.
        account: String,
        /// Where to authorise.
        auth_url: String,
        /// Code to type there (device flow).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_code: Option<String>,
    },
    /// An error caused by a client message.
    #[serde(rename = "error")]
    Error {
        /// What went wrong.
        message: String,
        /// The session a failed `input:send` or `resize` was for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// A prompt appeared in the inbox (sent to every client).
    #[serde(rename = "inbox:item")]
    InboxItem(crate::inbox::InboxItem),
    /// An item left the inbox (sent to every client).
    #[serde(rename = "inbox:gone")]
    InboxGone {
        /// The item's id.
        item: String,
        /// Its session.
        session: String,
        /// Why it left.
        reason: crate::inbox::GoneReason,
    },
    /// A watched session's agent changed state (only sent to clients watching it).
    #[serde(rename = "transition")]
    Transition(MuxTransition),
    /// Screens of watched sessions whose `seq` changed since the client's last batch.
    #[serde(rename = "screen_batch")]
    ScreenBatch {
        /// One entry per changed screen.
        screens: Vec<ScreenEntry>,
    },
}

/// A `transition` on `/ws/mux`: the upstream's transition plus the session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MuxTransition {
    /// Session id.
    pub session: String,
    /// Previous state.
    pub prev: AgentState,
    /// New state.
    pub next: AgentState,
    /// Upstream state sequence number.
    pub seq: u64,
    /// What caused it (left out when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The agent's last message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// Prompt context when the new state is `prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Value>,
    /// Error details when the new state is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Error category when the new state is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    /// Why the agent is parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_reason: Option<String>,
    /// When a parked agent resumes, in epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at_epoch_ms: Option<u64>,
}

impl MuxTransition {
    /// The transition an upstream `exit` push stands for (coop sends no transition into
    /// `exited`), with cause `exit`.
    pub fn exited(session: String, prev: AgentState, seq: u64) -> Self {
        Self {
            session,
            prev,
            next: AgentState::Exited,
            seq,
            cause: Some("exit".to_owned()),
            last_message: None,
            prompt: None,
            error_detail: None,
            error_category: None,
            parked_reason: None,
            resume_at_epoch_ms: None,
        }
    }
}

/// One screen of a `screen_batch` (no `alt_screen`, `fetched_at` or cursor, as coop's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenEntry {
    /// Session id.
    pub session: String,
    /// Plain text of each row.
    pub lines: Vec<String>,
    /// ANSI-coloured text of each row.
    pub ansi: Vec<String>,
    /// Terminal width.
    pub cols: u16,
    /// Terminal height.
    pub rows: u16,
    /// Upstream screen sequence number.
    pub seq: u64,
}

/// Messages a client sends on `/ws/mux`, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum MuxRequest {
    /// Start watching sessions (transitions and screen batches).
    #[serde(rename = "subscribe")]
    Subscribe {
        /// Session ids.
        sessions: Vec<String>,
    },
    /// Stop watching sessions.
    #[serde(rename = "unsubscribe")]
    Unsubscribe {
        /// Session ids.
        sessions: Vec<String>,
    },
    /// Type text into a session (`POST /api/v1/input`).
    #[serde(rename = "input:send")]
    InputSend {
        /// Session id.
        session: String,
        /// Text to type.
        text: String,
        /// Whether to press Enter after it.
        #[serde(default)]
        enter: bool,
    },
    /// Resize a session's terminal (`POST /api/v1/resize`).
    #[serde(rename = "resize")]
    Resize {
        /// Session id.
        session: String,
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
}

/// One element of `GET /api/v1/sessions`. The session's own token is never
/// part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Upstream base URL, without a trailing `/`.
    pub url: String,
    /// Free-form registration metadata (`null` when none was given).
    #[serde(default)]
    pub metadata: Value,
    /// When the session first registered, in epoch milliseconds.
    pub registered_at_ms: u64,
    /// Consecutive failed health checks.
    pub health_failures: u32,
    /// Agent state of the cached status, present once a status was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_state: Option<AgentState>,
}

fn default_cols() -> u16 {
    80
}

fn default_rows() -> u16 {
    24
}

/// `GET /api/v1/sessions/{id}/screen`. Parsed from the upstream's
/// `GET /api/v1/screen` with defaults for missing fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CachedScreen {
    /// Plain text of each row.
    #[serde(default)]
    pub lines: Vec<String>,
    /// ANSI-coloured text of each row.
    #[serde(default)]
    pub ansi: Vec<String>,
    /// Terminal width.
    #[serde(default = "default_cols")]
    pub cols: u16,
    /// Terminal height.
    #[serde(default = "default_rows")]
    pub rows: u16,
    /// Whether the alternate screen is active.
    #[serde(default)]
    pub alt_screen: bool,
    /// Upstream screen sequence number; changes whenever the screen does.
    #[serde(default)]
    pub seq: u64,
    /// When the mux read it, in epoch milliseconds.
    #[serde(default)]
    pub fetched_at: u64,
}

/// `POST /api/v1/states` body (the dashboard's `session_states`): the sessions whose status
/// to read live. The reply maps each id that answered to its [`CachedStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatesRequest {
    /// Session ids.
    pub ids: Vec<String>,
}

/// `GET /api/v1/sessions/{id}/status`. Parsed from the upstream's
/// `GET /api/v1/status` with defaults for missing fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CachedStatus {
    /// The upstream's own session id (`""` when missing).
    #[serde(default)]
    pub session_id: String,
    /// Agent state such as `idle` or `working` (`unknown` when missing).
    #[serde(default)]
    pub state: AgentState,
    /// Pid of the agent process.
    #[serde(default)]
    pub pid: Option<i32>,
    /// Exit code once the agent exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Seconds since the upstream started.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Upstream screen sequence number.
    #[serde(default)]
    pub screen_seq: u64,
    /// Bytes read from the PTY.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes written to the PTY.
    #[serde(default)]
    pub bytes_written: u64,
    /// WebSocket clients of the upstream.
    #[serde(default)]
    pub ws_clients: u64,
    /// When the mux read it, in epoch milliseconds.
    #[serde(default)]
    pub fetched_at: u64,
}
