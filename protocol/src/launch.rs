//! Launch API shapes: the launch request, its reply with the launch and session ids, and the
//! launch records of `GET /api/v1/launches`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Body of `POST /api/v1/sessions/launch`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchRequest {
    /// Variables for the launch command; reserved keys are dropped, unsafe ones refused.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

/// Answer of a successful `POST /api/v1/sessions/launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchResponse {
    /// Always `true` (the only field of coop's reply).
    pub launched: bool,
    /// Id of the launch, for `GET /api/v1/launches/{id}`.
    pub launch_id: String,
    /// Session id the child was given as `COOP_MUX_SESSION_ID`: the caller's own
    /// `COOP_MUX_SESSION_ID` variable when it sent one, else one the mux chose.
    pub session_id: String,
}

/// `GET /api/v1/config/launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchConfig {
    /// Whether a launch command is configured.
    pub available: bool,
    /// The mux process's working directory (empty when unknown).
    pub cwd: String,
}

/// Where a launch is in its life. A launch is never stopped by the mux: one whose session has
/// not registered yet is still watched, and links to its session whenever that registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LaunchState {
    /// Spawned, its session has not registered yet (within `--launch-timeout-ms`).
    #[serde(rename = "starting")]
    Starting,
    /// Its command still runs, and its session has not registered within
    /// `--launch-timeout-ms`; still watched.
    #[serde(rename = "not_registered_yet")]
    NotRegisteredYet,
    /// Its command exited 0 before its session registered (it handed the session off, e.g.
    /// to a Kubernetes pod); still watched.
    #[serde(rename = "handed_off")]
    HandedOff,
    /// Its session registered; the command still runs.
    #[serde(rename = "registered")]
    Registered,
    /// Its session registered and the command has exited (before or after).
    #[serde(rename = "exited")]
    Exited,
    /// It exited with an error before registering, or could not be spawned.
    #[serde(rename = "failed")]
    Failed,
}

impl LaunchState {
    /// The wire name (`starting`, `not_registered_yet`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::NotRegisteredYet => "not_registered_yet",
            Self::HandedOff => "handed_off",
            Self::Registered => "registered",
            Self::Exited => "exited",
            Self::Failed => "failed",
        }
    }

    /// The state for a person (`not registered yet`).
    pub fn label(self) -> &'static str {
        match self {
            Self::NotRegisteredYet => "not registered yet",
            Self::HandedOff => "handed off",
            other => other.as_str(),
        }
    }

    /// Whether the launch still waits for its session to register.
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            Self::Starting | Self::NotRegisteredYet | Self::HandedOff
        )
    }
}

/// One launch as `GET /api/v1/launches` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchInfo {
    /// Launch id.
    pub launch_id: String,
    /// Session id given to the child; once registered, the id its session registered as
    /// (a launch script may choose its own).
    pub session_id: String,
    /// Current state.
    pub state: LaunchState,
    /// Pid of the `sh -c` child (absent when the spawn failed).
    pub pid: Option<u32>,
    /// When it was spawned, in epoch milliseconds.
    pub started_at_ms: u64,
    /// When its session registered, in epoch milliseconds.
    pub registered_at_ms: Option<u64>,
    /// When the child exited (or the launch failed), in epoch milliseconds.
    pub ended_at_ms: Option<u64>,
    /// Exit code of the child, once it exited normally.
    pub exit_code: Option<i32>,
    /// Why it failed, how it ended (exit code, signal) or why it still waits, for a person.
    pub reason: Option<String>,
}

/// One captured line of a launch child's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line, without its newline (invalid UTF-8 replaced).
    pub text: String,
}

/// `GET /api/v1/launches/{id}`: the launch and the last lines of its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchDetail {
    /// The launch.
    #[serde(flatten)]
    pub info: LaunchInfo,
    /// Last lines of stdout and stderr, oldest first.
    pub output: Vec<OutputLine>,
}
