//! Processes of an unprivileged user: permission tests need a process that file modes and
//! `/proc` access checks apply to, and the tests usually run as root, which bypasses both.
//! As root, programs run as `nobody` through `setpriv`; as anyone else, as that user.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

/// The user the tests run programs as when they run as root (`nobody`).
pub const UID: u32 = 65534;

/// Whether the tests run as root.
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, to be run as [`UID`] when the tests run as root.
pub fn command(program: &str) -> Command {
    if !running_as_root() {
        return Command::new(program);
    }
    let mut cmd = Command::new("setpriv");
    let id = UID.to_string();
    cmd.args([
        "--reuid",
        &id,
        "--regid",
        &id,
        "--clear-groups",
        "--",
        program,
    ]);
    cmd
}

/// Gives `path` to the user of [`command`] (nothing to do when that is this user).
pub fn hand_over(path: &Path) {
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(UID), Some(UID)).expect("chown");
    }
}
