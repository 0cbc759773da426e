//! The `coopmux` command line: serving the hub (the default) and the other subcommands.

use crate::cli::{LogFormat, OpenArgs, ServeArgs};
use clap::{Parser, Subcommand};

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
    #[arg(
        long,
        global = true,
        env = "COOP_MUX_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Subcommands besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run CMD on a PTY and serve it with coop's API (the built-in session host).
    Session(crate::host::SessionArgs),
    /// Open the dashboard in a browser (the login page when a token is set).
    Open(OpenArgs),
    /// Print the Kubernetes session pod manifest (JSON) for a launch; used by k8s-launch.sh.
    K8sPodManifest(crate::hub::launch::k8s::PodManifestArgs),
}
