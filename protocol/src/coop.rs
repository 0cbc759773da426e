//! Shapes of a coop session's own API (docs/coop-protocol.md), shared by the session host and
//! the mux.
//!
//! Only serde and serde_json are used so that the dashboard (WASM) can use the same types.
//! Fields a real coop may leave out or extend are `#[serde(default)]` so that reading an
//! upstream never fails on a field this crate does not care about.

use crate::AgentState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

mod driver;
mod prompt;
mod session;
pub use driver::{
    StartConfig, StopConfig, StopResolve, TranscriptCatchup, TranscriptContent, TranscriptList,
    TranscriptNumber, Updated, WithConfig, STOP_MODE_ALLOW,
};
pub use prompt::{NudgeReply, PromptContext, PromptQuestion, RespondAnswer, RespondReply};
pub use session::{
    Livez, NudgeRequest, OutputQuery, ProfileMode, ProfilesCount, RespondRequest, Scheduled,
    ScreenQuery, Usage,
};

/// Terminal size as reported by `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// `GET /api/v1/health` and the `health` WebSocket reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"running"` while the session answers.
    pub status: String,
    /// Session id.
    #[serde(default)]
    pub session_id: String,
    /// Pid of the child, when one runs.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Seconds since the session started.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Agent type (`unknown` for a plain command).
    #[serde(default)]
    pub agent: String,
    /// Current terminal size.
    pub terminal: Option<TerminalSize>,
    /// Columns again, flat beside `terminal` (coop 0.11.25 sends both).
    #[serde(default)]
    pub terminal_cols: Option<u16>,
    /// Rows again, flat beside `terminal`.
    #[serde(default)]
    pub terminal_rows: Option<u16>,
    /// Number of connected WebSocket clients.
    #[serde(default)]
    pub ws_clients: usize,
    /// Whether the session is ready for input.
    #[serde(default)]
    pub ready: bool,
}

/// `GET /api/v1/status` and the `status` WebSocket reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Session id.
    #[serde(default)]
    pub session_id: String,
    /// Agent state: `starting`, `working`, `idle`, `prompt`, `error`, `exited`, …
    pub state: AgentState,
    /// Pid of the child, when one runs.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Seconds since the session started.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Exit code once the child has exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Current screen `seq`.
    #[serde(default)]
    pub screen_seq: u64,
    /// Bytes read from the PTY since start.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes written to the PTY since start.
    #[serde(default)]
    pub bytes_written: u64,
    /// Number of connected WebSocket clients.
    #[serde(default)]
    pub ws_clients: usize,
}

/// Cursor position, zero-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Row from the top.
    pub row: u16,
    /// Column from the left.
    pub col: u16,
}

/// `GET /api/v1/screen`, the `screen` push and the `screen` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    /// Plain text of each row.
    pub lines: Vec<String>,
    /// Each row with SGR colour escapes.
    #[serde(default)]
    pub ansi: Vec<String>,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Whether the alternate screen is active.
    #[serde(default)]
    pub alt_screen: bool,
    /// Cursor position; `null` while the cursor is hidden, and on `GET /screen` unless asked
    /// for with `?cursor=true`.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Increments on every change of the screen.
    #[serde(default)]
    pub seq: u64,
}

/// `GET /api/v1/agent` and the `agent` reply. `prompt` and `detection_cause` are always there
/// (`null` without a value); the other optional fields are left out without one, as coop does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Agent type (`unknown` for a plain command).
    pub agent: String,
    /// Session id.
    #[serde(default)]
    pub session_id: String,
    /// Agent state.
    pub state: AgentState,
    /// State `seq` at which the current state began.
    #[serde(default)]
    pub since_seq: u64,
    /// Current screen `seq`.
    #[serde(default)]
    pub screen_seq: u64,
    /// Which detector decided the state: coop 0.11.25 sends a string (`"none"` before the
    /// first detection, `"1"` hooks … `"5"` the screen); older versions sent a number.
    #[serde(default)]
    pub detection_tier: Value,
    /// Why the detector decided the state (`process:activity`, `hook:idle`, …).
    #[serde(default)]
    pub detection_cause: Option<String>,
    /// Prompt details when the agent waits for an answer, else `null`.
    #[serde(default)]
    pub prompt: Option<Value>,
    /// Error details when in the `error` state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Error category when in the `error` state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    /// The agent's last message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
}

/// `POST /api/v1/input` body and the `input:send` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputText {
    /// Text to type.
    pub text: String,
    /// Press Enter after the text.
    #[serde(default)]
    pub enter: bool,
}

/// `POST /api/v1/input/raw` body and the `input:send:raw` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRaw {
    /// Base64 of the bytes to write.
    pub data: String,
}

/// `POST /api/v1/input/keys` body and the `keys:send` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputKeys {
    /// Key names such as `enter`, `up`, `ctrl-c`, `f5`.
    pub keys: Vec<String>,
}

/// Reply of the input endpoints and the `input:sent` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BytesWritten {
    /// Bytes written to the PTY.
    pub bytes_written: usize,
}

/// `POST /api/v1/resize` body and reply, the `resize` request and the `resized` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// Columns (> 0).
    pub cols: u16,
    /// Rows (> 0).
    pub rows: u16,
}

/// A signal given by name (`SIGINT`, `INT`) or number (`2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalSpec {
    /// `SIGINT` or `INT`, or a number written as a string.
    Name(String),
    /// Signal number.
    Number(i32),
}

/// `POST /api/v1/signal` body and the `signal:send` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRequest {
    /// Which signal.
    pub signal: SignalSpec,
}

/// Reply of `POST /api/v1/signal` and the `signal:sent` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalSent {
    /// Whether the signal was delivered.
    pub delivered: bool,
    /// Canonical name of the signal, e.g. `SIGINT`.
    pub signal: String,
}

/// `POST /api/v1/upload` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Suggested file name; sanitised by the session.
    pub filename: String,
    /// Base64 of the content (at most 10 MiB decoded).
    pub data: String,
}

/// Reply of `POST /api/v1/upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Absolute path of the written file.
    pub path: String,
    /// Bytes written.
    pub bytes_written: usize,
}

/// One profile in `POST /api/v1/session/profiles`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInput {
    /// Profile name.
    pub name: String,
    /// Environment credentials of the profile; never echoed back.
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
}

impl std::fmt::Debug for ProfileInput {
    // Hand-written: the credential values are secrets; only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileInput")
            .field("name", &self.name)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `POST /api/v1/session/profiles` body: replaces the list, the first entry is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilesRegister {
    /// The new profile list.
    pub profiles: Vec<ProfileInput>,
}

/// `POST /api/v1/session/switch` body: switch to a registered profile (or to ad hoc
/// credentials); an unforced switch waits until the agent is idle. Answered with 202.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSwitch {
    /// Registered profile to switch to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Credentials to use instead of a profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<BTreeMap<String, String>>,
    /// Switch even if the agent is busy.
    #[serde(default)]
    pub force: bool,
}

impl std::fmt::Debug for SessionSwitch {
    // Hand-written: the credentials are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSwitch")
            .field("profile", &self.profile)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .field("force", &self.force)
            .finish()
    }
}

/// Reply of `POST /api/v1/session/profiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilesRegistered {
    /// Number of profiles now held.
    pub registered: usize,
}

/// One profile in `GET /api/v1/session/profiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileStatus {
    /// Profile name.
    pub name: String,
    /// `active` or `available` (coop also knows cooling-down states).
    pub status: String,
    /// Seconds left before a rate-limited profile may be used again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_remaining_secs: Option<u64>,
}

/// `GET /api/v1/session/profiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilesList {
    /// Every profile, without credentials.
    pub profiles: Vec<ProfileStatus>,
    /// Rotation mode.
    pub mode: String,
    /// Name of the active profile.
    pub active_profile: Option<String>,
}

/// Reply of `POST /api/v1/shutdown`, `POST /api/v1/stop/resolve`, and the `shutdown` and
/// `stop:resolved` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Always true: the shutdown or resolution was accepted.
    pub accepted: bool,
}

/// Reply of `POST /api/v1/shutdown` and the `shutdown` request.
pub type ShutdownAccepted = Accepted;

/// Reply of `replay:get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// Base64 of the bytes from `offset` to `next_offset`.
    pub data: String,
    /// Absolute offset of the first byte (may be later than asked when the log wrapped).
    pub offset: u64,
    /// Absolute offset just after the last byte.
    pub next_offset: u64,
    /// Bytes written to the log since start.
    pub total_written: u64,
}

/// A state change of the agent (`transition` event). `prompt` is always there (`null` without
/// one); the other optional fields are left out without a value, as coop does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Previous state.
    pub prev: AgentState,
    /// New state.
    pub next: AgentState,
    /// State sequence number, incremented on each transition.
    pub seq: u64,
    /// Prompt details, when the new state is `prompt`.
    #[serde(default)]
    pub prompt: Option<Value>,
    /// Error details, when the new state is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Error category, when the new state is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    /// What caused the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The agent's last message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
}

/// The child exited (`exit` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Exit code when it exited normally.
    pub code: Option<i32>,
    /// Signal number when it was killed by a signal.
    pub signal: Option<i32>,
}

/// `ready` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Whether the session is ready.
    pub ready: bool,
}

/// Messages a coop session sends on `/ws`, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum WsEvent {
    /// Raw PTY output at an absolute offset.
    #[serde(rename = "pty")]
    Pty {
        /// Base64 of the bytes.
        data: String,
        /// Absolute offset of the first byte.
        offset: u64,
    },
    /// Screen snapshot (push or reply to `screen:get`).
    #[serde(rename = "screen")]
    Screen(Screen),
    /// Agent state change.
    #[serde(rename = "transition")]
    Transition(Transition),
    /// The child exited.
    #[serde(rename = "exit")]
    Exit(Exit),
    /// Reply to `replay:get`.
    #[serde(rename = "replay")]
    Replay(Replay),
    /// Reply to `status:get`.
    #[serde(rename = "status")]
    Status(Status),
    /// Reply to `health:get`.
    #[serde(rename = "health")]
    Health(Health),
    /// Reply to `ready:get`.
    #[serde(rename = "ready")]
    Ready(Ready),
    /// Reply to `agent:get`.
    #[serde(rename = "agent")]
    Agent(Agent),
    /// Reply to `input:send`, `input:send:raw` and `keys:send`.
    #[serde(rename = "input:sent")]
    InputSent(BytesWritten),
    /// Reply to `resize`.
    #[serde(rename = "resized")]
    Resized(Resize),
    /// Reply to `signal:send`.
    #[serde(rename = "signal:sent")]
    SignalSent(SignalSent),
    /// Reply to `shutdown`.
    #[serde(rename = "shutdown")]
    Shutdown(ShutdownAccepted),
    /// Reply to `ping`.
    #[serde(rename = "pong")]
    Pong,
    /// A request failed or a frame could not be parsed.
    #[serde(rename = "error")]
    Error {
        /// Error code, as in the HTTP envelope.
        code: String,
        /// What went wrong.
        message: String,
    },
    /// Reply to `usage:get`.
    #[serde(rename = "usage")]
    Usage(Usage),
    /// Reply to `profiles:list`.
    #[serde(rename = "profiles")]
    Profiles(ProfilesList),
    /// Reply to `profiles:register`.
    #[serde(rename = "profiles:registered")]
    ProfilesRegistered(ProfilesCount),
    /// Reply to `profiles:mode` and `profiles:mode:set`.
    #[serde(rename = "profiles:mode")]
    ProfilesMode(ProfileMode),
    /// Reply to `session:switch`: the switch is accepted (it happens when it can).
    #[serde(rename = "session:switched")]
    SessionSwitched(Scheduled),
    /// Reply to `session:restart`: the restart is accepted.
    #[serde(rename = "session:restarted")]
    SessionRestarted(Scheduled),
    /// Reply to `stop:config:get`.
    #[serde(rename = "stop:config")]
    StopConfig(WithConfig<StopConfig>),
    /// Reply to `stop:config:put`.
    #[serde(rename = "stop:configured")]
    StopConfigured(Updated),
    /// Reply to `stop:resolve`.
    #[serde(rename = "stop:resolved")]
    StopResolved(Accepted),
    /// Reply to `config:start:get`.
    #[serde(rename = "start:config")]
    StartConfig(WithConfig<StartConfig>),
    /// Reply to `config:put:get`.
    #[serde(rename = "start:configured")]
    StartConfigured(Updated),
    /// Reply to `transcript:list`.
    #[serde(rename = "transcript:list")]
    TranscriptList(TranscriptList),
    /// Reply to `transcript:get`.
    #[serde(rename = "transcript:content")]
    TranscriptContent(TranscriptContent),
    /// Reply to `transcript:catchup`.
    #[serde(rename = "transcript:catchup")]
    TranscriptCatchup(TranscriptCatchup),
    /// Reply to `nudge`.
    #[serde(rename = "nudged")]
    Nudged(NudgeReply),
    /// Reply to `respond`.
    #[serde(rename = "response")]
    Response(RespondReply),
}

/// A `/ws` message with the `request_id` its client gave (any JSON value) beside its own
/// fields: requests carry it, and their replies echo it unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlated<T> {
    /// The message itself ([`WsEvent`], [`WsRequest`] or a request passed through as is).
    #[serde(flatten)]
    pub message: T,
    /// The client's id; absent on pushes and on requests that gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Value>,
}

/// Requests a client sends on `/ws`, tagged by `event`. `request_id` sits beside the tag
/// and is read separately, so that it can be any JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum WsRequest {
    /// Read the output log from an absolute offset.
    #[serde(rename = "replay:get")]
    ReplayGet {
        /// Absolute offset to start at.
        offset: u64,
        /// Maximum number of bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    /// Current screen.
    #[serde(rename = "screen:get")]
    ScreenGet,
    /// Current status.
    #[serde(rename = "status:get")]
    StatusGet,
    /// Health.
    #[serde(rename = "health:get")]
    HealthGet,
    /// Readiness.
    #[serde(rename = "ready:get")]
    ReadyGet,
    /// Agent details.
    #[serde(rename = "agent:get")]
    AgentGet,
    /// Type text.
    #[serde(rename = "input:send")]
    InputSend(InputText),
    /// Write raw bytes.
    #[serde(rename = "input:send:raw")]
    InputSendRaw(InputRaw),
    /// Press named keys.
    #[serde(rename = "keys:send")]
    KeysSend(InputKeys),
    /// Resize the terminal.
    #[serde(rename = "resize")]
    Resize(Resize),
    /// Signal the child's process group.
    #[serde(rename = "signal:send")]
    SignalSend(SignalRequest),
    /// Stop the session.
    #[serde(rename = "shutdown")]
    Shutdown,
    /// Keep-alive.
    #[serde(rename = "ping")]
    Ping,
    /// Authenticate an unauthenticated connection.
    #[serde(rename = "auth")]
    Auth {
        /// The session's token.
        token: String,
    },
    /// Token usage of the agent.
    #[serde(rename = "usage:get")]
    UsageGet,
    /// The registered profiles (names and status).
    #[serde(rename = "profiles:list")]
    ProfilesList,
    /// Replace the profile list.
    #[serde(rename = "profiles:register")]
    ProfilesRegister(ProfilesRegister),
    /// The profile rotation mode.
    #[serde(rename = "profiles:mode")]
    ProfilesMode,
    /// Set the profile rotation mode.
    #[serde(rename = "profiles:mode:set")]
    ProfilesModeSet(ProfileMode),
    /// Switch profile or restart the agent (as `POST /api/v1/session/switch`).
    #[serde(rename = "session:switch")]
    SessionSwitch(SessionSwitch),
    /// Restart the agent with the active profile (as `POST /api/v1/session/restart`).
    #[serde(rename = "session:restart")]
    SessionRestart,
    /// Nudge the agent to continue.
    #[serde(rename = "nudge")]
    Nudge(NudgeRequest),
    /// Answer the agent's prompt.
    #[serde(rename = "respond")]
    Respond(RespondRequest),
    /// The stop configuration.
    #[serde(rename = "stop:config:get")]
    StopConfigGet,
    /// Replace the stop configuration.
    #[serde(rename = "stop:config:put")]
    StopConfigPut(WithConfig<StopConfig>),
    /// Resolve a held stop (as `POST /api/v1/stop/resolve`).
    #[serde(rename = "stop:resolve")]
    StopResolve(StopResolve),
    /// The start configuration.
    #[serde(rename = "config:start:get")]
    StartConfigGet,
    /// Replace the start configuration (coop's name for the write).
    #[serde(rename = "config:put:get")]
    StartConfigPut(WithConfig<StartConfig>),
    /// The agent's saved transcripts.
    #[serde(rename = "transcript:list")]
    TranscriptList,
    /// One saved transcript.
    #[serde(rename = "transcript:get")]
    TranscriptGet(TranscriptNumber),
    /// The saved transcripts and the lines of the current one.
    #[serde(rename = "transcript:catchup")]
    TranscriptCatchup,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_their_tag() {
        let pong = serde_json::to_value(WsEvent::Pong).unwrap();
        assert_eq!(pong, serde_json::json!({"event":"pong"}));
        let sent = serde_json::to_value(WsEvent::InputSent(BytesWritten { bytes_written: 3 }));
        assert_eq!(
            sent.unwrap(),
            serde_json::json!({"event":"input:sent","bytes_written":3})
        );
    }

    #[test]
    fn requests_ignore_request_id() {
        let req: WsRequest =
            serde_json::from_str(r#"{"event":"ping","request_id":{"a":1}}"#).unwrap();
        assert_eq!(req, WsRequest::Ping);
        let req: WsRequest =
            serde_json::from_str(r#"{"event":"replay:get","offset":5,"request_id":"x"}"#).unwrap();
        assert_eq!(
            req,
            WsRequest::ReplayGet {
                offset: 5,
                limit: None
            }
        );
        let sig: WsRequest = serde_json::from_str(r#"{"event":"signal:send","signal":2}"#).unwrap();
        assert_eq!(
            sig,
            WsRequest::SignalSend(SignalRequest {
                signal: SignalSpec::Number(2)
            })
        );
    }

    #[test]
    fn correlated_messages_carry_the_request_id_beside_their_fields() {
        let reply = Correlated {
            message: WsEvent::Ready(Ready { ready: true }),
            request_id: Some(serde_json::json!({"n": 1})),
        };
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            serde_json::json!({"event":"ready","ready":true,"request_id":{"n":1}})
        );
        let ask = Correlated {
            message: WsRequest::ReplayGet {
                offset: 7,
                limit: None,
            },
            request_id: Some("mux-1".into()),
        };
        let text = serde_json::to_string(&ask).unwrap();
        assert_eq!(
            text,
            r#"{"event":"replay:get","offset":7,"request_id":"mux-1"}"#
        );
        assert_eq!(
            serde_json::from_str::<Correlated<WsRequest>>(&text).unwrap(),
            ask
        );
        let pong = Correlated {
            message: WsEvent::Pong,
            request_id: None,
        };
        assert_eq!(serde_json::to_string(&pong).unwrap(), r#"{"event":"pong"}"#);
    }

    #[test]
    fn profile_debug_hides_credential_values() {
        let profile = ProfileInput {
            name: "a".into(),
            credentials: BTreeMap::from([("OPENAI_API_KEY".into(), "sk-secret-value".into())]),
        };
        let shown = format!(
            "{:?}",
            ProfilesRegister {
                profiles: vec![profile]
            }
        );
        assert!(
            shown.contains("OPENAI_API_KEY") && shown.contains("\"a\""),
            "{shown}"
        );
        assert!(!shown.contains("sk-secret-value"), "{shown}");
    }
}
