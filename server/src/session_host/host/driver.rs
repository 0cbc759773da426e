//! What coop does through an agent driver, answered as coop answers for a session without one
//! (docs/coop-protocol.md, "Agent driver requests"): usage is all zeros, there are no
//! transcripts, and the stop and start configurations are stored and returned as given. (Nudge
//! and respond need the driver itself: their handlers answer `NO_DRIVER`.)

use super::{lock, Host};
use crate::session_host::error::HostError;
use protocol::coop;
use serde_json::{Map, Value};
use std::sync::Mutex;

/// Largest stop or start configuration held (they are small settings objects).
const MAX_CONFIG_BYTES: usize = 1 << 20; // 1 MiB

/// Which configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// What the agent does when it wants to stop (`/config/stop`, `stop:config:*`).
    Stop,
    /// What the agent is started with (`/config/start`, `config:start:*`).
    Start,
}

/// The driver side of a [`Host`].
#[derive(Debug, Default)]
pub(super) struct DriverState {
    stop: Mutex<Map<String, Value>>,
    start: Mutex<Map<String, Value>>,
}

impl DriverState {
    fn slot(&self, kind: ConfigKind) -> &Mutex<Map<String, Value>> {
        match kind {
            ConfigKind::Stop => &self.stop,
            ConfigKind::Start => &self.start,
        }
    }
}

impl Host {
    /// `GET /session/usage`, `usage:get`: a plain command uses no tokens.
    pub fn usage(&self) -> coop::Usage {
        coop::Usage::default()
    }

    /// `transcript:list`: a plain command saves none.
    pub fn transcripts(&self) -> coop::TranscriptList {
        coop::TranscriptList::default()
    }

    /// The configuration held (empty until one is set).
    pub fn config(&self, kind: ConfigKind) -> coop::ConfigReply {
        coop::ConfigReply {
            config: lock(self.driver.slot(kind)).clone(),
        }
    }

    /// Replaces a configuration; returns what is now held.
    pub fn set_config(
        &self,
        kind: ConfigKind,
        config: Map<String, Value>,
    ) -> Result<coop::ConfigReply, HostError> {
        let size = serde_json::to_string(&config).map_or(usize::MAX, |s| s.len());
        if size > MAX_CONFIG_BYTES {
            return Err(HostError::PayloadTooLarge(format!(
                "a configuration holds at most {MAX_CONFIG_BYTES} bytes of JSON"
            )));
        }
        lock(self.driver.slot(kind)).clone_from(&config);
        Ok(coop::ConfigReply { config })
    }
}
