//! Processes as `/proc` shows them: children, zombies, memory; and the cleanup of process
//! groups a hub launched.

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The built `coopmux`: Cargo builds it beside every test binary and bench of the server,
/// which run from `deps/` inside the profile's directory (`target/debug/deps/api-…`).
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test binary lives in <profile>/deps");
        let bin = profile_dir.join("coopmux");
        assert!(bin.is_file(), "coopmux is not built at {}", bin.display());
        bin.display().to_string()
    })
}

/// The directory of the built `coopmux`, so that `sh -c 'coopmux session …'` finds it on PATH.
pub fn bin_dir() -> String {
    Path::new(bin()).parent().unwrap().display().to_string()
}

/// `bin_dir()` in front of this process's PATH.
pub fn path_with_bin_dir() -> String {
    format!(
        "{}:{}",
        bin_dir(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// State, parent pid and command name of a process.
fn stat_fields(pid: u32) -> Option<(char, u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid …`; comm may hold spaces or parentheses, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let mut parts = stat[close + 2..].split_whitespace();
    let state = parts.next()?.chars().next()?;
    let ppid = parts.next()?.parse().ok()?;
    Some((state, ppid, comm))
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _, _)| state == 'Z')
}

/// Pids of the direct children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).is_some_and(|(_, ppid, _)| ppid == parent))
        .collect()
}

/// Whether `parent` has a live direct child whose command name is `comm`.
pub fn has_child_named(parent: u32, comm: &str) -> bool {
    children_of(parent)
        .into_iter()
        .any(|pid| stat_fields(pid).is_some_and(|(state, _, name)| state != 'Z' && name == comm))
}

/// Direct children of `parent` in zombie state.
pub fn zombie_children(parent: u32) -> Vec<u32> {
    children_of(parent)
        .into_iter()
        .filter(|p| is_zombie(*p))
        .collect()
}

/// One `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …); `None` once the process is
/// gone.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident set size of a process (VmRSS), in bytes; 0 once it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS").map_or(0, |kib| kib * 1024)
}

/// Peak resident set size of a running process (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM").expect("the process is running")
}

fn signal_group(pid: u32, sig: Signal) {
    let _ = signal::killpg(Pid::from_raw(pid as i32), sig);
}

/// Stops the process groups led by the children of `parent` (a hub's launches each run in
/// their own group): SIGTERM, up to 5 s for the parent to reap them, then SIGKILL.
pub fn stop_child_groups(parent: u32) {
    let groups = children_of(parent);
    for pid in &groups {
        signal_group(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && children_of(parent).iter().any(|p| !is_zombie(*p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in &groups {
        signal_group(*pid, Signal::SIGKILL);
    }
}
