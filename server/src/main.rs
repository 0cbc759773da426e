//! The `coopmux` binary: parses the command line and hands over to the library.

use clap::Parser;
use coopmux::commands::{Cli, Command};
use coopmux::host::agent::claude::hook_client;

fn main() -> anyhow::Result<()> {
    // Claude Code's hook command: no parsing of the hub's flags, no runtime, never a failure.
    if let Some(dir) = hook_client::invocation(std::env::args_os()) {
        std::process::exit(hook_client::run(&dir));
    }
    let cli = Cli::parse();
    // Before any thread starts: the secrets are parsed, and no process of the operator's user
    // (an agent) may read them from this one (docs/security.md, "Agents inside sessions").
    coopmux::edge::process::forget_secret_vars();
    if matches!(cli.command, None | Some(Command::Session(_))) {
        coopmux::edge::process::make_undumpable();
    }
    coopmux::logging::init(cli.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => runtime.block_on(coopmux::hub::serve::run(cli.serve))?,
        Some(Command::Session(args)) => {
            let code = runtime.block_on(coopmux::host::run(args))?;
            std::process::exit(code);
        }
        Some(Command::Open(args)) => std::process::exit(coopmux::hub::open::run(&args, &cli.serve)),
        Some(Command::K8sPodManifest(args)) => {
            std::process::exit(coopmux::hub::launch::k8s::run(&args))
        }
    }
    Ok(())
}
