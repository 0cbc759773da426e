//! Shapes of the parts of a coop session's API around its agent (usage, nudge, respond,
//! profile rotation and switching) and of the probes and queries (docs/coop-protocol.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /api/v1/livez`: the process answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Livez {
    /// Always `"alive"`.
    pub status: String,
    /// Seconds since the session started.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Pid of the session process itself.
    #[serde(default)]
    pub pid: u32,
}

/// Query of `GET /api/v1/screen`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenQuery {
    /// Include the cursor position (left out unless asked for).
    #[serde(default)]
    pub cursor: bool,
}

/// Query of `GET /api/v1/output`: the raw output log, answered in the `replay` shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputQuery {
    /// Absolute offset to start at (default 0: the oldest byte held).
    #[serde(default)]
    pub offset: u64,
    /// Most bytes wanted (default: everything held).
    #[serde(default)]
    pub limit: Option<u64>,
}

/// `GET /api/v1/session/usage` and the `usage` reply: the agent's token usage (all zeros for a
/// plain command).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Cost so far in US dollars.
    #[serde(default)]
    pub total_cost_usd: f64,
    /// API requests made.
    #[serde(default)]
    pub request_count: u64,
    /// Time spent in API calls, in milliseconds.
    #[serde(default)]
    pub total_api_ms: u64,
    /// Seconds since the session started.
    #[serde(default)]
    pub uptime_secs: u64,
}

/// `POST /api/v1/agent/nudge` body and the `nudge` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NudgeRequest {
    /// What to tell the agent; empty means "continue".
    #[serde(default)]
    pub message: String,
}

/// `POST /api/v1/agent/respond` body and the `respond` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RespondRequest {
    /// Accept (true) or decline (false) a permission prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
    /// The number of the option to pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<u32>,
    /// Free text to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Answers to a multi-question prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Value>,
}

/// `GET`/`PUT /api/v1/session/profiles/mode`, the `profiles:mode:set` request and the
/// `profiles:mode` reply (to `profiles:mode` and `profiles:mode:set` alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileMode {
    /// `auto` (the default: rotate when a profile is rate-limited) or `manual` (switch only
    /// when asked).
    pub mode: String,
}

/// The `profiles:registered` reply to `profiles:register` (`POST /session/profiles` answers
/// [`super::ProfilesRegistered`] instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilesCount {
    /// Number of profiles now held.
    pub count: usize,
}

/// The `session:switched` and `session:restarted` replies: the switch or restart is accepted
/// and happens when it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    /// Always true.
    pub scheduled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coop::{WsEvent, WsRequest};
    use serde_json::json;

    #[test]
    fn agent_requests_and_replies_round_trip() {
        let nudge: WsRequest = serde_json::from_value(json!({"event":"nudge"})).unwrap();
        assert_eq!(nudge, WsRequest::Nudge(NudgeRequest::default()));
        let usage = serde_json::to_value(WsEvent::Usage(Usage::default())).unwrap();
        assert_eq!(usage["event"], "usage");
        assert_eq!(
            (&usage["input_tokens"], &usage["uptime_secs"]),
            (&json!(0), &json!(0))
        );
        let switched = WsEvent::SessionSwitched(Scheduled { scheduled: true });
        assert_eq!(
            serde_json::to_value(switched).unwrap(),
            json!({"event":"session:switched","scheduled":true})
        );
        let mode: WsRequest = serde_json::from_value(json!({"event":"profiles:mode"})).unwrap();
        assert_eq!(mode, WsRequest::ProfilesMode);
        let count = WsEvent::ProfilesRegistered(ProfilesCount { count: 2 });
        assert_eq!(
            serde_json::to_value(count).unwrap(),
            json!({"event":"profiles:registered","count":2})
        );
    }
}
