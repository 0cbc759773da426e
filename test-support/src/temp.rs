//! Private temporary directories, so that tests running side by side never share files and no
//! test hub opens the developer's own credential state.

use std::path::{Path, PathBuf};

/// A fresh empty directory under the system temp dir, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `coopmux-{tag}-{uuid}`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("coopmux-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `path/name`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }

    /// The directory as a string (for flags and scripts).
    pub fn display(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique credential state directory that does not exist yet (the broker creates it only
/// when it saves); whoever starts a hub with it removes it afterwards.
pub fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("coopmux-test-state-{}", uuid::Uuid::new_v4()))
}
