//! Claude Code detection against the real simulator (claudeless) on a real PTY. Prints numbers
//! only:
//!
//! - hook event → `/ws` transition: from the moment claudeless fires `PermissionRequest` (an
//!   operator hook of the same entry, run just before the host's, stamps the time) to the
//!   `prompt` transition on `/ws` (the prompt goes out once its dialog is on screen);
//! - beside it, the host's hook command alone (`coopmux agent-hook`, spawn to exit);
//! - `respond` → `working`: from sending the answer to the `working` transition on `/ws`.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::json;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::claude::reaches;
use support::procs::BIN;
use support::stamps::{epoch_nanos, last_stamp, percentiles, stamping_settings};
use support::{Claude, TempDir};
use tokio::time::Instant;

/// Prompts asked and answered.
const ROUNDS: usize = 40; // prompts
/// Runs of the hook command alone.
const HOOK_RUNS: usize = 200; // runs

/// The host's hook command alone, `HOOK_RUNS` times, with an event that changes no state.
fn hook_command_alone(hook_dir: &Path) -> Vec<Duration> {
    let event = br#"{"hook_event_name":"Notification","notification_type":"bench"}"#;
    (0..HOOK_RUNS)
        .map(|_| {
            let start = std::time::Instant::now();
            let mut child = Command::new(BIN)
                .arg("agent-hook")
                .arg(hook_dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn the hook command");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(event)
                .expect("event");
            child.wait().expect("hook command");
            start.elapsed()
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let scratch = TempDir::new("claude-bench");
    let stamps = scratch.join("permission-stamps");
    let settings = stamping_settings(&scratch, &stamps);
    let claude = Claude::start("permission", &[], &["--settings", &settings]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;

    let (mut to_prompt, mut to_working) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        host.type_line("please deploy").await;
        let asked = reaches(&mut ws, "prompt").await;
        let arrived = epoch_nanos();
        assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
        let fired = last_stamp(&stamps).expect("the stamping hook ran");
        to_prompt.push(Duration::from_nanos(
            u64::try_from(arrived.saturating_sub(fired)).unwrap_or(u64::MAX),
        ));
        let sent = Instant::now();
        let reply = host
            .post_ok("/agent/respond", json!({"accept": true}))
            .await;
        assert_eq!(reply["delivered"], true, "{reply}");
        reaches(&mut ws, "working").await;
        to_working.push(sent.elapsed());
        reaches(&mut ws, "idle").await;
    }
    let alone = hook_command_alone(&claude.hook_dir());

    println!("claude detection (claudeless {ROUNDS} permission prompts, real PTY, loopback)");
    println!("  hook event → /ws transition   {}", percentiles(to_prompt));
    println!("  hook command alone            {}", percentiles(alone));
    println!(
        "  respond → working on /ws      {}",
        percentiles(to_working)
    );
}
