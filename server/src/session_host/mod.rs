//! The built-in coop-compatible session host: `coopmux session -- CMD`.

use clap::Args;

/// Flags of `coopmux session`.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Command and arguments to run on the PTY.
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

/// Errors of the session host.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not built yet.
    #[error("the session host is not available in this build")]
    Unavailable,
}

/// Runs the session host; returns the child's exit code.
pub async fn run(_args: SessionArgs) -> Result<i32, SessionError> {
    Err(SessionError::Unavailable)
}
