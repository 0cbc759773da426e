//! Shapes of the parts of a coop session's API that belong to its agent driver (usage, nudge,
//! respond, transcripts, the stop and start configurations, profile rotation) and of the
//! probes and queries around them (docs/coop-protocol.md).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /api/v1/livez`: the process answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Livez {
    /// Always `"ok"`.
    pub status: String,
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

/// `GET`/`POST /api/v1/session/profiles/mode` and the `profiles:mode:set` request and reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileMode {
    /// `manual` (switch only when asked) or `auto` (rotate when a profile is rate-limited).
    pub mode: String,
}

/// The `stop:config:put` and `config:start:put` requests: the new configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigUpdate {
    /// The configuration, stored and returned as given.
    pub config: Map<String, Value>,
}

/// The `stop:config` and `config:start` replies: the configuration held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigReply {
    /// The configuration (empty until one is set).
    #[serde(default)]
    pub config: Map<String, Value>,
}

/// The `transcripts` reply to `transcript:list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptList {
    /// Saved transcripts (none for a plain command).
    #[serde(default)]
    pub transcripts: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coop::{WsEvent, WsRequest};
    use serde_json::json;

    #[test]
    fn driver_requests_and_replies_round_trip() {
        let put: WsRequest = serde_json::from_value(
            json!({"event":"stop:config:set","config":{"mode":"gate"},"request_id":1}),
        )
        .unwrap();
        let WsRequest::StopConfigPut(update) = put else {
            panic!("not a put: {put:?}");
        };
        assert_eq!(Value::Object(update.config), json!({"mode":"gate"}));
        let nudge: WsRequest = serde_json::from_value(json!({"event":"nudge"})).unwrap();
        assert_eq!(nudge, WsRequest::Nudge(NudgeRequest::default()));
        let usage = serde_json::to_value(WsEvent::Usage(Usage::default())).unwrap();
        assert_eq!(usage["event"], "usage");
        assert_eq!(usage["input_tokens"], 0);
        let switched = serde_json::to_value(WsEvent::SessionSwitched).unwrap();
        assert_eq!(switched, json!({"event":"session:switched"}));
    }
}
