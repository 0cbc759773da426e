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

/// The stamps `date +%s%N` appended to `file`.
pub fn stamps(file: &Path) -> Vec<u128> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// From the one stamp in `file` after the `seen` earlier ones to `arrived` ([`epoch_nanos`]);
/// `None` when the hook did not fire this round (claudeless skips a hook that would overlap
/// another one) or fired more than once.
pub fn since_stamp(file: &Path, seen: usize, arrived: u128) -> Option<Duration> {
    let all = stamps(file);
    let fired = *all.get(seen).filter(|_| all.len() == seen + 1)?;
    Some(Duration::from_nanos(
        u64::try_from(arrived.saturating_sub(fired)).unwrap_or(u64::MAX),
    ))
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
