//! Which agent runs on the PTY and how its state is detected (docs/architecture.md, "Agent
//! state"). A plain command has only its process activity (`super::detect::process`, tier
//! `"4"`) and no driver: `nudge` and `respond` are `NOT_READY`, then `NO_DRIVER`. Claude Code (`claude`,
//! or the simulator `claudeless`, or any command with `--agent claude`) has its hooks and its
//! screen ([`claude`]), and answers prompts by keys.

pub mod claude;

use super::error::HostError;
use super::session::Host;
use clap::ValueEnum;
use protocol::coop::{NudgeReply, NudgeRequest, RespondReply, RespondRequest};
use std::path::Path;
use std::sync::Arc;

/// Program names taken for Claude Code.
const CLAUDE_PROGRAMS: [&str; 2] = ["claude", "claudeless"];

/// `--agent`: which detector to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AgentChoice {
    /// Claude Code when the program is `claude` or `claudeless`, else a plain command.
    #[default]
    Auto,
    /// Claude Code, whatever the program is called.
    Claude,
    /// A plain command: process activity only.
    None,
}

impl AgentChoice {
    /// Whether `command` gets Claude detection.
    pub fn is_claude(self, command: &[String]) -> bool {
        match self {
            Self::Claude => true,
            Self::None => false,
            Self::Auto => command.first().is_some_and(|program| {
                let name = Path::new(program).file_name().and_then(|n| n.to_str());
                name.is_some_and(|n| CLAUDE_PROGRAMS.contains(&n))
            }),
        }
    }
}

/// The agent of one host.
#[derive(Debug, Default)]
pub enum Agent {
    /// A plain command.
    #[default]
    Plain,
    /// Claude Code.
    Claude(Box<claude::Claude>),
}

impl Agent {
    /// The agent type reported by `/health` and `/agent`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Plain => super::session::AGENT_TYPE,
            Self::Claude(_) => claude::AGENT_TYPE,
        }
    }
}

impl Host {
    /// The Claude Code side, when the agent is Claude Code.
    pub fn claude(&self) -> Option<&claude::Claude> {
        match self.agent_kind() {
            Agent::Claude(claude) => Some(&**claude),
            Agent::Plain => None,
        }
    }

    /// `POST /agent/nudge`, `nudge`.
    pub async fn nudge(self: &Arc<Self>, request: NudgeRequest) -> Result<NudgeReply, HostError> {
        match self.claude() {
            Some(claude) => claude.nudge(self, request).await,
            None => Err(self.without_driver()),
        }
    }

    /// `POST /agent/respond`, `respond`.
    pub async fn respond(
        self: &Arc<Self>,
        request: RespondRequest,
    ) -> Result<RespondReply, HostError> {
        match self.claude() {
            Some(claude) => claude.respond(self, request).await,
            None => Err(self.without_driver()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn claude_is_chosen_by_program_name_or_forced() {
        assert!(AgentChoice::Auto.is_claude(&cmd(&["claude", "-c"])));
        assert!(AgentChoice::Auto.is_claude(&cmd(&["/usr/bin/claudeless"])));
        assert!(!AgentChoice::Auto.is_claude(&cmd(&["bash", "claude"])));
        assert!(AgentChoice::Claude.is_claude(&cmd(&["my-wrapper"])));
        assert!(!AgentChoice::None.is_claude(&cmd(&["claude"])));
    }
}
