//! Who decides the agent state (docs/coop-protocol.md, "Agent states"). coop runs several
//! detectors, numbered in tiers from 1 (hook events the agent delivers) to 5 (the screen), and
//! reports the one that decided as `detection_tier` with a `detection_cause`. Each detector here
//! hands its conclusions to [`super::state::StateTracker::detect`] as a [`Detection`]; the
//! lifecycle (spawn, switch, exit) sets the rest. A plain command has one detector:
//! [`process`], coop's tier 4.

pub mod process;

use protocol::AgentState;
use serde_json::Value;

/// Which detector decided, as coop numbers them (reported as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Process activity: output flows or it does not, the process exited (coop's tier 4).
    Process,
}

impl Tier {
    /// `detection_tier` as coop 0.11.25 reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Process => "4",
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
    pub prompt: Option<Value>,
}
