//! Messages coop sessions and the mux exchange over NATS (docs/scaling.md, "Discovery over
//! NATS"). Subjects are `{prefix}.session.{id}.{kind}`; the kinds and their bodies are here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix coop publishes under when `COOP_NATS_PREFIX` is unset.
pub const COOP_PREFIX: &str = "coop.events";
/// Prefix the reference mux's relay listens on by default.
pub const REFERENCE_MUX_PREFIX: &str = "coop.mux";

/// What an `announce` says about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnounceEvent {
    /// The session started.
    Online,
    /// The session is still there (every 30 s).
    Heartbeat,
    /// The session is shutting down.
    Offline,
}

/// `{prefix}.session.{id}.announce`: presence of a session. Every field besides these is the
/// session's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announce {
    /// Online, heartbeat or offline.
    pub event: AnnounceEvent,
    /// The session's id.
    #[serde(default)]
    pub session_id: String,
    /// When it was sent, in epoch milliseconds.
    #[serde(default)]
    pub ts: u64,
    /// Where the session's HTTP API is reachable (`COOP_URL`), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Metadata fields (labels, command, …).
    #[serde(flatten)]
    pub metadata: Map<String, Value>,
}

/// Subjects coop 0.11.25 publishes its event stream on whenever it has a NATS url (relay or
/// not): `{prefix}.{kind}`, without the session id, each message one of the session's `/ws`
/// pushes tagged by `event` (`transition` and `exit` on `state`).
pub const EVENT_STREAM_KINDS: [&str; 7] = [
    "state", "prompt", "hook", "stop", "start", "usage", "profile",
];

/// `{prefix}.{kind}`: a subject of coop's event stream.
pub fn event_subject(prefix: &str, kind: &str) -> String {
    format!("{prefix}.{kind}")
}

/// `{prefix}.session.{id}.state` as a session publishes it: one of its `/ws` state pushes
/// (`{"event":"transition",…}` or `{"event":"exit","code","signal"}`) with the session id and
/// metadata beside it. The mux reads transitions as [`SessionState`] and an exit as
/// [`crate::coop::WsEvent::Exit`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent<'a> {
    /// The push, tagged by `event`.
    #[serde(flatten)]
    pub event: &'a crate::coop::WsEvent,
    /// The session's id.
    pub session_id: &'a str,
    /// Metadata fields.
    #[serde(flatten)]
    pub metadata: &'a Map<String, Value>,
}

/// `{prefix}.session.{id}.state`: a state transition, with the session id and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// The transition, as on coop's `/ws`.
    #[serde(flatten)]
    pub transition: crate::coop::Transition,
    /// The session's id.
    #[serde(default)]
    pub session_id: String,
    /// Metadata fields, and any transition field this type does not name
    /// (`parked_reason`, `resume_at_epoch_ms`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// `{prefix}.session.{id}.input`, `.nudge` and `.respond` carry coop's own HTTP bodies:
// `coop::InputText` (coop drops raw bytes and keys sent there), `coop::NudgeRequest` and
// `coop::RespondRequest`.

/// The mux's answer to input, a nudge or a respond it published on NATS for a session without
/// a reachable url: NATS has no reply, so this only says where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relayed {
    /// Always `"nats"`.
    pub transport: String,
    /// The subject it was published on.
    pub subject: String,
}

/// What happened to a credential account, in a [`CredentialEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialEventType {
    /// A fresh key was stored.
    Refreshed,
    /// Refreshing failed.
    RefreshFailed,
    /// A person must authorise the account again.
    ReauthRequired,
}

/// `{prefix}.events.credential`: a credential event. Never carries a key or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialEvent {
    /// What happened.
    pub event_type: CredentialEventType,
    /// Account name.
    pub account: String,
    /// Why a refresh failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where to authorise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    /// Code to type there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// When, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub ts: String,
}

/// The parts of a session subject: `{prefix}.session.{id}.{kind}` with a known prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSubject<'a> {
    /// Session id.
    pub id: &'a str,
    /// `announce`, `status`, `state`, …
    pub kind: &'a str,
}

impl<'a> SessionSubject<'a> {
    /// Splits `subject` when it is `{prefix}.session.{id}.{kind}`; any other shape is `None`.
    pub fn parse(prefix: &str, subject: &'a str) -> Option<Self> {
        let rest = subject.strip_prefix(prefix)?.strip_prefix(".session.")?;
        let (id, kind) = rest.split_once('.')?;
        if id.is_empty() || kind.is_empty() || kind.contains('.') {
            return None;
        }
        Some(Self { id, kind })
    }
}

/// `{prefix}.session.{id}.{kind}`.
pub fn session_subject(prefix: &str, id: &str, kind: &str) -> String {
    format!("{prefix}.session.{id}.{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_keeps_extra_fields_as_metadata() {
        let a: Announce = serde_json::from_str(
            r#"{"event":"online","session_id":"s1","ts":5,"url":"http://h:1","label":"x"}"#,
        )
        .unwrap();
        assert_eq!(a.event, AnnounceEvent::Online);
        assert_eq!(a.url.as_deref(), Some("http://h:1"));
        assert_eq!(a.metadata["label"], "x");
    }

    #[test]
    fn session_events_are_tagged_pushes_with_the_id_and_metadata() {
        let exit = crate::coop::WsEvent::Exit(crate::coop::Exit {
            code: Some(3),
            signal: None,
        });
        let metadata: Map<String, Value> = serde_json::from_str(r#"{"team":"blue"}"#).unwrap();
        let message = SessionEvent {
            event: &exit,
            session_id: "s1",
            metadata: &metadata,
        };
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            serde_json::json!({"event":"exit","code":3,"signal":null,"session_id":"s1","team":"blue"})
        );
        assert_eq!(
            serde_json::from_str::<crate::coop::WsEvent>(&text).unwrap(),
            exit
        );
        assert_eq!(event_subject("coop.events", "state"), "coop.events.state");
    }

    #[test]
    fn subjects_split_only_in_the_known_shape() {
        let s = SessionSubject::parse("coop.events", "coop.events.session.a-1.status").unwrap();
        assert_eq!((s.id, s.kind), ("a-1", "status"));
        assert!(SessionSubject::parse("coop.events", "coop.events.session.a").is_none());
        assert!(SessionSubject::parse("coop.events", "coop.mux.session.a.state").is_none());
        assert!(SessionSubject::parse("coop.events", "coop.events.session.a.b.c").is_none());
    }
}
