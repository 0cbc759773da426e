//! Claude Code detection against the real simulator (claudeless) on a real PTY. Prints numbers
//! only:
//!
//! - hook event → `/ws` transition: from the moment claudeless fires a hook (an operator hook
//!   of the same entry, run just before the host's, stamps the time) to its transition on `/ws`:
//!   `UserPromptSubmit` → `working` (the hook alone decides) and `PermissionRequest` → `prompt`
//!   (the prompt goes out once its dialog is on screen);
//! - beside it, the host's hook command alone (`coopmux agent-hook`, spawn to exit);
//! - `respond` → `working`: from sending the answer to the `working` transition on `/ws`.

use test_support as support;

use serde_json::json;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::claude::reaches;
use support::procs::bin;
use support::stamps::{epoch_nanos, percentiles, since_stamp, stamps};
use support::{Claude, TempDir};
use tokio::time::Instant;

/// Prompts asked and answered.
const ROUNDS: usize = 40; // prompts
/// Runs of the hook command alone.
const HOOK_RUNS: usize = 200; // runs

/// An operator settings file whose `UserPromptSubmit` and `PermissionRequest` hooks (same empty
/// matcher as the host's, so each shares an entry with the host's and runs first) stamp the
/// time into `submits` and `permissions`.
fn stamping_settings(dir: &TempDir, submits: &Path, permissions: &Path) -> String {
    let stamp = |file: &Path| {
        let command = format!("date +%s%N >> '{}'", file.display());
        json!([{"matcher": "", "hooks": [{"type": "command", "command": command}]}])
    };
    let settings = json!({"hooks": {
        "UserPromptSubmit": stamp(submits),
        "PermissionRequest": stamp(permissions),
    }});
    let path = dir.join("stamping.json");
    std::fs::write(&path, settings.to_string()).expect("settings");
    path.display().to_string()
}

/// The host's hook command alone, `HOOK_RUNS` times, with an event that changes no state.
fn hook_command_alone(hook_dir: &Path) -> Vec<Duration> {
    let event = br#"{"hook_event_name":"Notification","notification_type":"bench"}"#;
    (0..HOOK_RUNS)
        .map(|_| {
            let start = std::time::Instant::now();
            let mut child = Command::new(bin())
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
    let submits = scratch.join("submit-stamps");
    let permissions = scratch.join("permission-stamps");
    let settings = stamping_settings(&scratch, &submits, &permissions);
    let claude = Claude::start("permission", &[], &["--settings", &settings]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;

    let (mut to_busy, mut to_prompt, mut to_working) = (Vec::new(), Vec::new(), Vec::new());
    let (mut submits_seen, mut permissions_seen) = (0, 0);
    for _ in 0..ROUNDS {
        host.type_line("please deploy").await;
        let busy = reaches(&mut ws, "working").await;
        if let Some(took) = since_stamp(&submits, submits_seen, epoch_nanos()) {
            to_busy.push(took);
        }
        submits_seen = stamps(&submits).len();
        assert_eq!(busy["cause"], "hook:working", "{busy}");
        let asked = reaches(&mut ws, "prompt").await;
        if let Some(took) = since_stamp(&permissions, permissions_seen, epoch_nanos()) {
            to_prompt.push(took);
        }
        permissions_seen = stamps(&permissions).len();
        assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
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
    // Rounds whose hook claudeless skipped have no sample (n below ROUNDS).
    println!("  UserPromptSubmit → working    {}", percentiles(to_busy));
    println!("  PermissionRequest → prompt    {}", percentiles(to_prompt));
    println!("  hook command alone            {}", percentiles(alone));
    println!(
        "  respond → working on /ws      {}",
        percentiles(to_working)
    );
}
