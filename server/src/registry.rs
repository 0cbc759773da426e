//! The session registry: every coop session known to the hub.

use std::collections::HashMap;
use std::sync::RwLock;

/// One registered session.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// Session id.
    pub id: String,
    /// Upstream base URL, without a trailing `/`.
    pub url: String,
    /// Free-form registration metadata.
    pub metadata: serde_json::Value,
}

/// All registered sessions.
#[derive(Debug, Default)]
pub struct Registry {
    sessions: RwLock<HashMap<String, SessionEntry>>,
}

impl Registry {
    /// Number of registered sessions.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<SessionEntry> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, SessionEntry>> {
        // A panic while holding the lock cannot leave the map half-written; keep serving.
        self.sessions.read().unwrap_or_else(|e| e.into_inner())
    }
}
