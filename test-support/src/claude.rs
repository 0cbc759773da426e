//! `coopmux session` running claudeless (the Claude Code simulator scripts/setup.sh installs)
//! with one of our scenarios (`tests/fixtures/claude`), for the host tests and the benches.

use super::{Opts, Session, TempDir, Ws, WAIT};
use serde_json::Value;
use std::path::PathBuf;

/// The simulator: on `PATH` or in `~/.cargo/bin`.
pub fn claudeless_bin() -> PathBuf {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(home)
        .map(|dir| dir.join("claudeless"))
        .find(|bin| bin.is_file())
        .expect("claudeless is installed (scripts/setup.sh installs it)")
}

/// A scenario file of the server's `tests/fixtures/claude`.
pub fn fixture(name: &str) -> String {
    format!(
        "{}/../server/tests/fixtures/claude/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A host running claudeless with a scenario; the host's state directory and Claude Code's
/// own files are in `dir`, which is also the working directory (keep it as long as the host).
pub struct Claude {
    /// The host.
    pub host: Session,
    /// Its private files and the simulator's.
    pub dir: TempDir,
}

impl Claude {
    /// Starts `coopmux session [flags] -- claudeless --scenario <scenario> [args]`.
    pub async fn start(scenario: &str, flags: &[&str], args: &[&str]) -> Claude {
        Self::start_env(scenario, flags, args, Vec::new()).await
    }

    /// [`Claude::start`] with more environment for the host.
    pub async fn start_env(
        scenario: &str,
        flags: &[&str],
        args: &[&str],
        env: Vec<(&str, String)>,
    ) -> Claude {
        let dir = TempDir::new("claude");
        let state = dir.join("state").display().to_string();
        // claudeless keeps a script per hook in the temp dir: this run's own.
        std::fs::create_dir(dir.join("tmp")).expect("tmp dir");
        let mut all_flags = vec!["--state-dir".to_owned(), state];
        all_flags.extend(flags.iter().map(|f| (*f).to_owned()));
        let mut all_env = vec![
            (
                "CLAUDELESS_CONFIG_DIR",
                dir.join("claude").display().to_string(),
            ),
            ("TMPDIR", dir.join("tmp").display().to_string()),
        ];
        all_env.extend(env);
        let opts = Opts {
            flags: all_flags,
            env: all_env,
            cwd: Some(dir.path()),
            ..Opts::default()
        };
        let bin = claudeless_bin().display().to_string();
        let scenario = fixture(scenario);
        let mut cmd = vec![bin.as_str(), "--scenario", scenario.as_str()];
        cmd.extend_from_slice(args);
        let host = Session::start_with(opts, &cmd).await;
        Claude { host, dir }
    }

    /// The host's private directory (it makes exactly one).
    pub fn hook_dir(&self) -> PathBuf {
        let hooks = self.dir.join("state/hooks");
        std::fs::read_dir(&hooks)
            .expect("the hooks directory")
            .next()
            .expect("one host directory")
            .expect("entry")
            .path()
    }

    /// A state subscription, once the agent is idle.
    pub async fn idle_states(&self) -> Ws {
        let mut ws = self.host.ws("subscribe=state").await;
        reaches(&mut ws, "idle").await;
        ws
    }
}

/// The next `transition` into `state` (the synthetic one on connect counts).
pub async fn reaches(ws: &mut Ws, state: &str) -> Value {
    ws.wait_for(WAIT, |f| f["event"] == "transition" && f["next"] == state)
        .await
}
