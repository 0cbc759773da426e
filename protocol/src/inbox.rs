//! The hub's inbox (docs/architecture.md, "The inbox"): every prompt an agent waits on, as an
//! item named by its session and the state sequence of the prompt, the answer that names it,
//! the notification sent for it, and the audit log of what operators sent to agents.

use crate::coop::{PromptContext, RespondRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One waiting prompt of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxItem {
    /// The item's identity: `{session}:{seq}`.
    pub id: String,
    /// Session id.
    pub session: String,
    /// The state sequence of the transition into the prompt (`since_seq` of `GET /agent`).
    pub seq: u64,
    /// The session's `label` (or `name`) from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where it runs: `cwd` or `repo` from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The agent (`claude`, …) from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// What is asked (agent-controlled text, bounded by the hub; never HTML).
    pub prompt: PromptContext,
    /// When the hub first saw the prompt, in epoch milliseconds.
    pub since_ms: u64,
}

impl InboxItem {
    /// The id of the item of `session` whose prompt began at `seq`.
    pub fn id_of(session: &str, seq: u64) -> String {
        format!("{session}:{seq}")
    }

    /// Splits an item id into its session and sequence.
    pub fn parse_id(id: &str) -> Option<(&str, u64)> {
        let (session, seq) = id.rsplit_once(':')?;
        Some((session, seq.parse().ok()?)).filter(|(s, _)| !s.is_empty())
    }
}

/// `GET /api/v1/inbox`: the waiting items, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxList {
    /// Items in arrival order.
    pub items: Vec<InboxItem>,
}

/// Why an item left the inbox (`inbox:gone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoneReason {
    /// The agent left the prompt (answered here, elsewhere or in its terminal).
    Left,
    /// Another prompt replaced it (`prompt` → `prompt`).
    Replaced,
    /// The session went offline.
    Offline,
}

/// `POST /api/v1/inbox/{item}/answer`: the answer of `POST /agent/respond`.
pub type InboxAnswer = RespondRequest;

/// Reply of `POST /api/v1/inbox/{item}/answer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxAnswered {
    /// The item answered.
    pub item: String,
    /// What the session said: whether the answer reached the agent.
    pub delivered: bool,
    /// The prompt type the session answered.
    pub prompt_type: String,
}

/// The JSON body POSTed to every `--notify-url` for a new item, signed in the
/// `X-Coopmux-Signature: sha256=<hex HMAC-SHA256 of the body>` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxNotification {
    /// Always `inbox:item`.
    pub event: String,
    /// The item.
    pub item: InboxItem,
    /// The dashboard's view of the session (`{hub}/mux#{session}`).
    pub link: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in this hub's log (from 1).
    pub seq: u64,
    /// When, in epoch milliseconds.
    pub at_ms: u64,
    /// Who: `bearer` (the hub token), `login:<id>` (a dashboard login), `launch:<session>`
    /// (a launch's registration token) or `anonymous` (a hub without a token).
    pub principal: String,
    /// `answer`, `respond`, `nudge`, `launch`, `kill`, `signal` or `credential`.
    pub action: String,
    /// The session acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The inbox item answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The request: method and path.
    pub request: String,
    /// What was sent (a body without secrets, bounded; `null` when it is not recorded).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sent: Value,
    /// The HTTP status answered.
    pub status: u16,
}

/// `GET /api/v1/audit?after=N&limit=M`: entries after `after`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// `after` of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::InboxItem;

    #[test]
    fn an_item_id_names_its_session_and_sequence() {
        let id = InboxItem::id_of("a:b", 42);
        assert_eq!(InboxItem::parse_id(&id), Some(("a:b", 42)));
        assert_eq!(InboxItem::parse_id("nosep"), None);
        assert_eq!(InboxItem::parse_id(":1"), None);
        assert_eq!(InboxItem::parse_id("s:x"), None);
    }
}
