//! Command-line interface: flags and `COOP_MUX_*` variables (reference §1.1).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;

/// PTY multiplexing hub for coop sessions.
#[derive(Debug, Parser)]
#[command(name = "coopmux", version, about)]
pub struct Cli {
    /// What to run; serving the hub is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of the hub.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log line format.
    #[arg(long, global = true, env = "COOP_MUX_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// Subcommands besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run CMD on a PTY and serve it with coop's API (the built-in session host).
    Session(crate::session_host::SessionArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of the hub itself.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, env = "COOP_MUX_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "COOP_MUX_PORT", default_value_t = 9800)]
    pub port: u16,
    /// Bearer token protecting the hub's API; unset means no auth.
    #[arg(long, env = "COOP_MUX_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Shell command (run with `sh -c`) that the launch API uses to start a session.
    #[arg(long, env = "COOP_MUX_LAUNCH")]
    pub launch: Option<String>,
}
