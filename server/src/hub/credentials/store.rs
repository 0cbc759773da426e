//! Persistence of `{state_dir}/credentials.json` (docs/security.md, "Local users"): every key,
//! refresh token
//! and expiry plus the accounts added at runtime. Mode 0600 in a 0700 directory, written
//! atomically (temp file, fsync, rename, fsync of the directory). A file that cannot be parsed
//! is moved aside as `credentials.json.corrupt-<epoch secs>`, never overwritten; one that
//! exists but cannot be read stops the hub. One hub at a time uses a directory: it holds an
//! exclusive lock on `credentials.lock` for its whole life, so two hubs never each save only
//! what they hold and drop the other's keys.

use super::config::AccountConfig;
use super::CredentialError;
use protocol::credentials::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// File name inside the state directory.
pub const FILE_NAME: &str = "credentials.json";
/// The file whose lock says a hub uses the directory.
pub const LOCK_NAME: &str = "credentials.lock";
/// Mode of the state file: owner read/write only.
const FILE_MODE: u32 = 0o600;
/// Mode of the state directory: owner only.
const DIR_MODE: u32 = 0o700;
/// Hidden test hook: when set, the process aborts after the temp file is written and synced
/// but before the rename, as a crash mid-save would.
const ABORT_BEFORE_RENAME_VAR: &str = "COOP_MUX_TEST_ABORT_BEFORE_RENAME";

/// The secrets of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccount {
    /// The key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretString>,
    /// The OAuth refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Expiry in epoch seconds; absent for a key that does not expire (never 0,
    /// which would reload as expired: docs/coop-protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// The whole state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    /// Secrets by account name.
    #[serde(default)]
    pub accounts: BTreeMap<String, StoredAccount>,
    /// The definition of every account the hub held when it saved (runtime-added and from the
    /// config file alike), so a later run without that config still knows them; the config
    /// only adds or updates definitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_accounts: Vec<AccountConfig>,
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded {
    /// No file yet.
    Missing,
    /// A valid file.
    State(StoredState),
    /// The file could not be parsed; it was moved to the path given.
    Corrupt {
        /// Where the unreadable file now is.
        moved_to: PathBuf,
        /// Why it could not be parsed.
        problem: String,
    },
}

/// The state file's location and writer; holds the directory's lock while it lives.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    counter: AtomicU64,
    _lock: std::fs::File,
}

pub use crate::edge::state_dir::default_dir;

impl Store {
    /// The store in `dir`: creates the directory (0700) and takes its lock; refuses when
    /// another hub holds it.
    pub fn open(dir: PathBuf) -> Result<Self, CredentialError> {
        let fail = |what: &str, e: std::io::Error| {
            CredentialError::Store(format!("cannot {what} {}: {e}", dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&dir)
            .map_err(|e| fail("create the state directory", e))?;
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(dir.join(LOCK_NAME))
            .map_err(|e| fail("open the lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CredentialError::Store(format!(
                    "the state directory {} is in use by another coopmux hub; stop that hub, or \
                     give this one a directory of its own with --state-dir (COOP_MUX_STATE_DIR)",
                    dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(fail("lock", e)),
        }
        Ok(Self {
            dir,
            counter: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Path of the state file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Loads the state file. Stray temp files of an interrupted save are removed: the rename
    /// never happened, so the file they were meant to replace is still whole.
    pub fn load(&self) -> Result<Loaded, CredentialError> {
        self.remove_stray_temps();
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => {
                return Err(CredentialError::Store(format!(
                    "cannot read {}: {e}; the hub does not start rather than replace it (fix its \
                     permissions, or move it away to start without its keys)",
                    path.display()
                )))
            }
        };
        match serde_json::from_slice::<StoredState>(&bytes) {
            Ok(state) => Ok(Loaded::State(state)),
            Err(e) => {
                let moved_to = self
                    .dir
                    .join(format!("{FILE_NAME}.corrupt-{}", super::now_secs()));
                std::fs::rename(&path, &moved_to).map_err(|err| {
                    CredentialError::Store(format!(
                        "{} is corrupt ({e}) and cannot be moved aside: {err}",
                        path.display()
                    ))
                })?;
                Ok(Loaded::Corrupt {
                    moved_to,
                    problem: e.to_string(),
                })
            }
        }
    }

    fn remove_stray_temps(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&format!("{FILE_NAME}.")) && name.ends_with(".tmp") {
                tracing::warn!(file = %name, "removing the temp file of an interrupted credential save");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Writes `state` atomically: temp file (0600) in the same directory, fsync, rename over
    /// the target, fsync of the directory. Blocking; call it off the async runtime.
    pub fn save(&self, state: &StoredState) -> Result<(), CredentialError> {
        let fail = |what: &str, e: std::io::Error| {
            CredentialError::Store(format!("cannot {what} in {}: {e}", self.dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.dir)
            .map_err(|e| fail("create the state directory", e))?;
        // An existing directory keeps its mode through `create`; tighten it.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| fail("set the directory mode", e))?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| CredentialError::Store(format!("cannot serialise the state: {e}")))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .dir
            .join(format!("{FILE_NAME}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&temp)
                .map_err(|e| fail("create the temp file", e))?;
            file.write_all(&json)
                .map_err(|e| fail("write the temp file", e))?;
            file.sync_all().map_err(|e| fail("sync the temp file", e))?;
            if std::env::var_os(ABORT_BEFORE_RENAME_VAR).is_some() {
                std::process::abort();
            }
            std::fs::rename(&temp, self.path()).map_err(|e| fail("rename the temp file", e))?;
            if let Ok(dir) = std::fs::File::open(&self.dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "coopmux-store-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        dir.join("state")
    }

    #[test]
    fn saves_round_trip_with_private_modes() {
        let dir = temp_dir("rt");
        let store = Store::open(dir.clone()).unwrap();
        assert!(matches!(store.load().unwrap(), Loaded::Missing));
        let second = Store::open(dir.clone()).unwrap_err().to_string();
        assert!(second.contains("--state-dir"), "{second}");
        let mut state = StoredState::default();
        state.accounts.insert(
            "a".into(),
            StoredAccount {
                access_token: Some("k".into()),
                refresh_token: None,
                expires_at: None,
            },
        );
        store.save(&state).unwrap();
        store.save(&state).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.path()), 0o600);
        assert_eq!(mode(&dir), 0o700);
        match store.load().unwrap() {
            Loaded::State(loaded) => assert_eq!(loaded, state),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_temps_are_removed() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.clone()).unwrap();
        std::fs::write(store.path(), b"{not json").unwrap();
        std::fs::write(dir.join("credentials.json.1.0.tmp"), b"{").unwrap();
        let Loaded::Corrupt { moved_to, .. } = store.load().unwrap() else {
            panic!("expected corrupt");
        };
        assert_eq!(std::fs::read(&moved_to).unwrap(), b"{not json");
        assert!(!store.path().exists());
        assert!(!dir.join("credentials.json.1.0.tmp").exists());
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
