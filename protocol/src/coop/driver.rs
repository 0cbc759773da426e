//! Shapes of what a coop session's agent driver holds (docs/coop-protocol.md, "Stop and start
//! configuration", "Transcripts"): the stop configuration and its resolution, the start
//! configuration, and the saved transcripts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The mode a fresh session's stop configuration has: the agent may stop.
pub const STOP_MODE_ALLOW: &str = "allow";

fn allow() -> String {
    STOP_MODE_ALLOW.to_owned()
}

/// `GET`/`PUT /api/v1/config/stop`, inside `stop:config` and `stop:config:put`: what happens
/// when the agent wants to stop. Fields this type does not name are dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopConfig {
    /// `allow` (the default) lets the agent stop; other modes hold it until a resolution.
    #[serde(default = "allow")]
    pub mode: String,
    /// What the agent is told when it is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The JSON schema a resolution (`stop:resolve`) must satisfy; none accepts anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl Default for StopConfig {
    fn default() -> Self {
        Self {
            mode: allow(),
            prompt: None,
            schema: None,
        }
    }
}

/// `GET`/`PUT /api/v1/config/start`, inside `start:config` and `config:put:get`: what the
/// agent is given when it starts. Fields this type does not name are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartConfig {
    /// Text handed to the agent at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Shell commands run at the agent's start, their output handed to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
}

/// A configuration under `config`: the `stop:config:put` and `config:put:get` requests and
/// the `stop:config` and `start:config` replies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WithConfig<T> {
    /// The configuration.
    pub config: T,
}

/// The answer to a configuration write: `PUT /config/stop`, `PUT /config/start`, and the
/// `stop:configured` and `start:configured` replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updated {
    /// Always true: the configuration was replaced.
    pub updated: bool,
}

/// `POST /api/v1/stop/resolve` body (as `coop send` posts it) and the `stop:resolve` request:
/// the agent's resolution, checked against the stop configuration's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopResolve {
    /// The resolution itself.
    pub body: Value,
}

/// The `transcript:list` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptList {
    /// Saved transcripts (none for a plain command).
    #[serde(default)]
    pub transcripts: Vec<Value>,
}

/// The `transcript:get` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptNumber {
    /// Which transcript.
    pub number: u64,
}

/// The `transcript:content` reply to `transcript:get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptContent {
    /// Which transcript.
    pub number: u64,
    /// Its text.
    pub content: String,
}

/// The `transcript:catchup` reply: the saved transcripts and the lines of the current one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranscriptCatchup {
    /// Saved transcripts.
    #[serde(default)]
    pub transcripts: Vec<Value>,
    /// Lines of the transcript being written.
    #[serde(default)]
    pub live_lines: Vec<Value>,
    /// Number of the transcript being written.
    #[serde(default)]
    pub current_transcript: u64,
    /// Lines written to it so far.
    #[serde(default)]
    pub current_line: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coop::{WsEvent, WsRequest};
    use serde_json::json;

    #[test]
    fn configurations_have_defaults_and_drop_unknown_fields() {
        let fresh = serde_json::to_value(StopConfig::default()).unwrap();
        assert_eq!(fresh, json!({"mode": "allow"}));
        let start: StartConfig =
            serde_json::from_value(json!({"text": "hi", "colour": "red"})).unwrap();
        assert_eq!(serde_json::to_value(start).unwrap(), json!({"text": "hi"}));
        let put: WsRequest = serde_json::from_value(
            json!({"event": "config:put:get", "config": {"shell": ["ls"]}, "request_id": 1}),
        )
        .unwrap();
        let WsRequest::StartConfigPut(update) = put else {
            panic!("not a start config write: {put:?}");
        };
        assert_eq!(update.config.shell, ["ls"]);
        for unknown in ["config:start:put", "config:start:set", "stop:config:set"] {
            let request = json!({"event": unknown, "config": {}});
            assert!(
                serde_json::from_value::<WsRequest>(request).is_err(),
                "{unknown}"
            );
        }
        let reply = WsEvent::StartConfigured(Updated { updated: true });
        assert_eq!(
            serde_json::to_value(reply).unwrap(),
            json!({"event": "start:configured", "updated": true})
        );
    }

    #[test]
    fn transcript_replies_carry_coops_names() {
        let list = serde_json::to_value(WsEvent::TranscriptList(TranscriptList::default()));
        assert_eq!(
            list.unwrap(),
            json!({"event": "transcript:list", "transcripts": []})
        );
        let catchup = serde_json::to_value(WsEvent::TranscriptCatchup(Default::default()));
        assert_eq!(
            catchup.unwrap(),
            json!({"event": "transcript:catchup", "transcripts": [], "live_lines": [],
                "current_transcript": 0, "current_line": 0})
        );
    }
}
