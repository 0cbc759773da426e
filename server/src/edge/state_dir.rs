//! Where the hub and the session host keep their state when no directory is given.

use std::path::{Path, PathBuf};

/// The state directory: the flag/`COOP_MUX_STATE_DIR`, else `$XDG_STATE_HOME/coop/mux`, else
/// `~/.local/state/coop/mux`, else `.coop/mux`.
pub fn default_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_STATE_HOME") {
        return PathBuf::from(xdg).join("coop/mux");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home).join(".local/state/coop/mux");
    }
    PathBuf::from(".coop/mux")
}
