//! What an agent asks the operator (the `prompt` of `GET /agent` and of `transition` events)
//! and the replies to `nudge` and `respond` (docs/coop-protocol.md, "Claude Code").

use serde::{Deserialize, Serialize};

/// A prompt the agent waits on: a permission, a question or a plan to approve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptContext {
    /// `permission`, `question` or `plan`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool the prompt is about (`Bash`, `Write`, `AskUserQuestion`, `ExitPlanMode`).
    #[serde(default)]
    pub tool: Option<String>,
    /// The tool's input as JSON text (for a permission the command or file it wants, for a
    /// plan `{"plan": …}`).
    #[serde(default)]
    pub input: Option<String>,
    /// The choices as the agent lists them; `respond {option: n}` picks the n-th (from 1).
    #[serde(default)]
    pub options: Vec<String>,
    /// True when `options` could not be read from the agent's screen and are a default.
    #[serde(default)]
    pub options_fallback: bool,
    /// The questions of a question prompt, each with its option labels.
    #[serde(default)]
    pub questions: Vec<PromptQuestion>,
    /// Index of the question being asked.
    #[serde(default)]
    pub question_current: usize,
    /// The prompt is on the agent's screen and takes an answer.
    #[serde(default)]
    pub ready: bool,
    /// A finer kind that some coop versions report (e.g. `oauth_login`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
}

/// One question of a question prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptQuestion {
    /// The question text.
    pub question: String,
    /// The option labels, in order.
    #[serde(default)]
    pub options: Vec<String>,
}

/// One entry of `respond`'s `answers`: an option number (from 1) or free text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespondAnswer {
    /// The number of the option to pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<u32>,
    /// Free text to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Reply of `POST /agent/nudge` and the `nudged` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NudgeReply {
    /// Whether the message was typed into the agent.
    pub delivered: bool,
    /// The agent state when the nudge came.
    pub state_before: String,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Reply of `POST /agent/respond` and the `response` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespondReply {
    /// Whether the answer was delivered to the agent.
    pub delivered: bool,
    /// The type of the prompt answered.
    pub prompt_type: String,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_serialises_every_field_coop_has() {
        let prompt = PromptContext {
            kind: "question".into(),
            tool: Some("AskUserQuestion".into()),
            questions: vec![PromptQuestion {
                question: "Which database?".into(),
                options: vec!["Postgres".into(), "SQLite".into()],
            }],
            ready: true,
            ..PromptContext::default()
        };
        assert_eq!(
            serde_json::to_value(&prompt).unwrap(),
            json!({"type":"question","tool":"AskUserQuestion","input":null,"options":[],
                "options_fallback":false,"questions":[{"question":"Which database?",
                "options":["Postgres","SQLite"]}],"question_current":0,"ready":true})
        );
    }
}
