//! The agent state a coop session reports (`status.state`, `transition.prev/next`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What a session's agent is doing. coop versions add states over time, so a state this build
/// does not know is kept as [`AgentState::Other`] with its exact spelling, never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AgentState {
    /// The agent is starting up.
    Starting,
    /// The agent is producing output or thinking.
    Working,
    /// The agent waits for input.
    Idle,
    /// coop's name for an idle agent in some versions.
    WaitingForInput,
    /// The agent asks the operator something (permission, question, login).
    Prompt,
    /// The agent hit an error.
    Error,
    /// The agent is paused (rate limit, quota) until a resume time.
    Parked,
    /// The agent process has exited.
    Exited,
    /// No state is known (no status read yet, or the upstream sent none).
    #[default]
    Unknown,
    /// A state this build does not know, as the session spelled it.
    Other(String),
}

impl AgentState {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Starting => "starting",
            Self::Working => "working",
            Self::Idle => "idle",
            Self::WaitingForInput => "waiting_for_input",
            Self::Prompt => "prompt",
            Self::Error => "error",
            Self::Parked => "parked",
            Self::Exited => "exited",
            Self::Unknown => "unknown",
            Self::Other(s) => s,
        }
    }

    /// Parses the wire spelling; unknown spellings become [`AgentState::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "starting" => Self::Starting,
            "working" => Self::Working,
            "idle" => Self::Idle,
            "waiting_for_input" => Self::WaitingForInput,
            "prompt" => Self::Prompt,
            "error" => Self::Error,
            "parked" => Self::Parked,
            "exited" => Self::Exited,
            "unknown" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The agent is busy: switching its credentials now would interrupt work or a question.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Working | Self::Prompt)
    }

    /// The agent waits for the operator (a prompt, or any error-like state).
    pub fn needs_attention(&self) -> bool {
        matches!(self, Self::Prompt) || self.is_error()
    }

    /// An error state, including coop's finer-grained `…error…` spellings.
    pub fn is_error(&self) -> bool {
        match self {
            Self::Error => true,
            Self::Other(s) => s.contains("error"),
            _ => false,
        }
    }

    /// A prompt state, including coop's finer-grained `…prompt…` spellings.
    pub fn is_prompt(&self) -> bool {
        match self {
            Self::Prompt => true,
            Self::Other(s) => s.contains("prompt"),
            _ => false,
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for AgentState {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl PartialEq<&str> for AgentState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for AgentState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AgentState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AgentState;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an agent state string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AgentState, E> {
                Ok(AgentState::parse(v))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for AgentState {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Agent state: starting, working, idle, prompt, error, parked, exited, unknown, \
                 or another state a newer coop reports",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for AgentState {}

#[cfg(test)]
mod tests {
    use super::AgentState;

    #[test]
    fn known_and_unknown_states_round_trip() {
        for s in [
            "starting", "working", "idle", "prompt", "error", "parked", "exited", "unknown",
        ] {
            let state: AgentState = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert!(!matches!(state, AgentState::Other(_)), "{s} is known");
            assert_eq!(serde_json::to_string(&state).unwrap(), format!("\"{s}\""));
        }
        let new: AgentState = serde_json::from_str("\"rate_limited\"").unwrap();
        assert_eq!(new, AgentState::Other("rate_limited".into()));
        assert_eq!(serde_json::to_string(&new).unwrap(), "\"rate_limited\"");
    }

    #[test]
    fn busy_and_attention() {
        assert!(AgentState::Working.is_busy() && AgentState::Prompt.is_busy());
        assert!(!AgentState::Idle.is_busy());
        assert!(AgentState::parse("tool_error").needs_attention());
        assert!(!AgentState::Exited.needs_attention());
    }
}
