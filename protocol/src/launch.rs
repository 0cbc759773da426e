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
    /// Always `true` (the only field of coop's own hub's reply).
    pub launched: bool,
    /// Id of the launch, for `GET /api/v1/launches/{id}`.
    pub launch_id: String,
    /// Session id the child was given as `COOP_MUX_SESSION_ID`.
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

/// Where a launch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LaunchState {
    /// Spawned, its session has not registered yet.
    Starting,
    /// Its session registered; the child still runs.
    Registered,
    /// It registered and the child has since exited.
    Exited,
    /// It exited with an error, timed out or could not be spawned before registering.
    Failed,
}

/// One launch as `GET /api/v1/launches` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaunchInfo {
    /// Launch id.
    pub launch_id: String,
    /// Session id given to the child.
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
    /// Why it failed or how it ended (signal, timeout), for a person.
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
