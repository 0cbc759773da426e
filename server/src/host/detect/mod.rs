//! Who decides the agent state (docs/coop-protocol.md, "Agent states"). coop runs several
//! detectors, numbered in tiers from 1 (hook events the agent delivers) to 5 (the screen), and
//! reports the one that decided as `detection_tier` with a `detection_cause`. Each detector here
//! hands its conclusions to [`super::state::StateTracker::detect`] as a [`Detection`]; the
//! lifecycle (spawn, switch, exit) sets the rest. A plain command has one detector:
//! [`process`], coop's tier 4; Claude Code has its hooks (tier 1) and its screen (tier 5),
//! [`claude`] (fed by `super::agent::claude`, which also answers its prompts).

pub mod claude;
pub mod process;

use protocol::coop::PromptContext;
use protocol::AgentState;

/// Which detector decided, as coop numbers them (reported as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Hook events the agent delivers (coop's tier 1).
    Hook,
    /// Process activity: output flows or it does not, the process exited (coop's tier 4).
    Process,
    /// What the agent's screen shows (coop's tier 5).
    Screen,
}

impl Tier {
    /// `detection_tier` as coop 0.11.25 reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hook => "1",
            Self::Process => "4",
            Self::Screen => "5",
        }
    }
}

/// `detection_tier` before the first detection.
pub const NO_TIER: &str = "none";

/// What a detector concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The agent's state.
    pub state: AgentState,
    /// Who decided.
    pub tier: Tier,
    /// Why, in coop's spelling (`process:activity`, `process:exit`).
    pub cause: &'static str,
    /// What the agent asks, while it asks something.
    pub prompt: Option<PromptContext>,
    /// What went wrong, in the `error` and `parked` states.
    pub error_detail: Option<String>,
    /// The kind of error, in the `error` and `parked` states.
    pub error_category: Option<String>,
}

impl Detection {
    /// A detection of `state` by `tier`, nothing asked, nothing wrong.
    pub fn new(state: AgentState, tier: Tier, cause: &'static str) -> Self {
        Self {
            state,
            tier,
            cause,
            prompt: None,
            error_detail: None,
            error_category: None,
        }
    }
}
