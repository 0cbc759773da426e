//! Timing helpers of the benches that measure from a Claude Code hook to what follows: a hook
//! that stamps the time, reading the stamps, and percentiles.

use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::TempDir;

/// Now, in nanoseconds since the epoch (the clock `date +%s%N` reads).
pub fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// From `stamp` to `now` (both [`epoch_nanos`]).
pub fn since(stamp: u128, now: u128) -> Duration {
    Duration::from_nanos(u64::try_from(now.saturating_sub(stamp)).unwrap_or(u64::MAX))
}

/// The last stamp `date +%s%N` appended to `file`.
pub fn last_stamp(file: &Path) -> Option<u128> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().last()?.trim().parse().ok()
}

/// `p50 … p99 … (n)` of durations.
pub fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:>7.2} ms   p99 {:>7.2} ms   (n = {})",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.len()
    )
}

/// An operator settings file whose `PermissionRequest` hook (same empty matcher as the host's,
/// so the two share an entry and run in order) stamps the time into `stamps`.
pub fn stamping_settings(dir: &TempDir, stamps: &Path) -> String {
    let stamp = format!("date +%s%N >> '{}'", stamps.display());
    let settings = json!({"hooks": {"PermissionRequest": [
        {"matcher": "", "hooks": [{"type": "command", "command": stamp}]}]}});
    let path = dir.join("stamping.json");
    std::fs::write(&path, settings.to_string()).expect("settings");
    path.display().to_string()
}
