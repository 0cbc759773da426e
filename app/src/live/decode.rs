//! `/ws/mux` events decoded from an already parsed JSON value with a few typed field reads.
//!
//! serde's derive for the internally tagged [`MuxEvent`] (and everything under it) is among
//! the largest code in the WASM bundle, and these events arrive many times a second: reading
//! the fields from `JSON.parse`'s object is both smaller and faster. Unknown events and events
//! missing a required field decode to `None`, as serde would refuse them. The wire format is
//! `protocol::mux`; the decoders are generic over [`Json`] so that a test holds them against
//! serde's decoding of every event (`tests` below).

use crate::json::Json;
use protocol::coop::{PromptContext, PromptQuestion};
use protocol::inbox::{GoneReason, InboxItem};
use protocol::launch::LaunchState;
use protocol::mux::{MuxEvent, MuxTransition, ScreenEntry, SessionSummary};
use protocol::AgentState;

/// One event from its text, `None` when it is not one this build knows.
#[cfg(feature = "hydrate")]
pub fn event(text: &str) -> Option<MuxEvent> {
    decode(&js_sys::JSON::parse(text).ok()?)
}

/// One event from its parsed JSON.
pub fn decode<J: Json>(obj: &J) -> Option<MuxEvent> {
    let s = |key: &str| obj.str(key);
    Some(match s("event")?.as_str() {
        "sessions" => MuxEvent::Sessions {
            sessions: (obj.list("sessions")?.iter())
                .map(summary)
                .collect::<Option<_>>()?,
        },
        "session:online" => MuxEvent::SessionOnline {
            session: s("session")?,
            url: s("url")?,
            metadata: obj.field("metadata").to_value(),
        },
        "session:offline" => MuxEvent::SessionOffline {
            session: s("session")?,
        },
        "transition" => MuxEvent::Transition(transition(obj)?),
        "screen_batch" => MuxEvent::ScreenBatch {
            screens: (obj.list("screens")?.iter())
                .map(screen)
                .collect::<Option<_>>()?,
        },
        "credential:refreshed" => MuxEvent::CredentialRefreshed {
            account: s("account")?,
        },
        "credential:refresh:failed" => MuxEvent::CredentialRefreshFailed {
            account: s("account")?,
            error: s("error")?,
        },
        "credential:reauth:required" => MuxEvent::CredentialReauthRequired {
            account: s("account")?,
            auth_url: s("auth_url")?,
            user_code: s("user_code"),
        },
        "inbox:item" => MuxEvent::InboxItem(item(obj)?),
        "inbox:gone" => MuxEvent::InboxGone {
            item: s("item")?,
            session: s("session")?,
            reason: match s("reason")?.as_str() {
                "left" => GoneReason::Left,
                "replaced" => GoneReason::Replaced,
                "offline" => GoneReason::Offline,
                _ => return None,
            },
        },
        "error" => MuxEvent::Error {
            message: s("message")?,
            session: s("session"),
        },
        "launch:started" => MuxEvent::LaunchStarted {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
        },
        "launch:registered" => MuxEvent::LaunchRegistered {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
        },
        "launch:waiting" => MuxEvent::LaunchWaiting {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
            state: launch_state(&s("state")?)?,
            reason: s("reason")?,
        },
        "launch:failed" => MuxEvent::LaunchFailed {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
            reason: s("reason")?,
            exit_code: obj.num("exit_code").map(|c| c as i32),
        },
        _ => return None,
    })
}

/// An inbox item from its parsed JSON (an `inbox:item` event or an element of
/// `GET /api/v1/inbox`), `None` when a required field is missing.
pub fn item<J: Json>(obj: &J) -> Option<InboxItem> {
    let s = |key: &str| obj.str(key);
    let p = obj.field("prompt");
    if !p.is_object() {
        return None;
    }
    let prompt = PromptContext {
        kind: p.str("type")?,
        tool: p.str("tool"),
        input: p.str("input"),
        options: p.strings("options").unwrap_or_default(),
        options_fallback: p.flag("options_fallback"),
        questions: (p.list("questions").unwrap_or_default().iter())
            .map(|q| {
                Some(PromptQuestion {
                    question: q.str("question")?,
                    options: q.strings("options").unwrap_or_default(),
                })
            })
            .collect::<Option<_>>()?,
        question_current: p.num("question_current").unwrap_or(0.0) as usize,
        ready: p.flag("ready"),
        subtype: p.str("subtype"),
    };
    Some(InboxItem {
        id: s("id")?,
        session: s("session")?,
        seq: obj.num("seq")? as u64,
        label: s("label"),
        location: s("location"),
        agent: s("agent"),
        prompt,
        since_ms: obj.num("since_ms")? as u64,
    })
}

fn launch_state(s: &str) -> Option<LaunchState> {
    Some(match s {
        "starting" => LaunchState::Starting,
        "not_registered_yet" => LaunchState::NotRegisteredYet,
        "handed_off" => LaunchState::HandedOff,
        "registered" => LaunchState::Registered,
        "exited" => LaunchState::Exited,
        "failed" => LaunchState::Failed,
        _ => return None,
    })
}

fn summary<J: Json>(obj: &J) -> Option<SessionSummary> {
    Some(SessionSummary {
        id: obj.str("id")?,
        url: obj.str("url")?,
        state: obj.str("state").map(|s| AgentState::parse(&s)),
        metadata: obj.field("metadata").to_value(),
    })
}

fn transition<J: Json>(obj: &J) -> Option<MuxTransition> {
    let s = |key: &str| obj.str(key);
    Some(MuxTransition {
        session: s("session")?,
        prev: AgentState::parse(&s("prev")?),
        next: AgentState::parse(&s("next")?),
        seq: obj.num("seq")? as u64,
        cause: s("cause"),
        last_message: s("last_message"),
        prompt: Some(obj.field("prompt").to_value()).filter(|v| !v.is_null()),
        error_detail: s("error_detail"),
        error_category: s("error_category"),
        parked_reason: s("parked_reason"),
        resume_at_epoch_ms: obj.num("resume_at_epoch_ms").map(|n| n as u64),
    })
}

fn screen<J: Json>(obj: &J) -> Option<ScreenEntry> {
    Some(ScreenEntry {
        session: obj.str("session")?,
        lines: obj.strings("lines")?,
        ansi: obj.strings("ansi")?,
        cols: obj.num("cols")? as u16,
        rows: obj.num("rows")? as u16,
        seq: obj.num("seq")? as u64,
    })
}

#[cfg(test)]
mod tests;
