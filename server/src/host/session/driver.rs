//! What coop does through an agent driver, answered as coop 0.11.25 answers for a plain
//! command (docs/coop-protocol.md, "Agent driver requests"): usage is all zeros, there are no
//! transcripts, the stop and start configurations are typed, stored and returned, a stop
//! resolution is checked against the stop schema and kept, and nudge and respond are refused
//! (`NOT_READY` before the first detection, `NO_DRIVER` after).

use super::{lock, schema, Host};
use crate::host::error::HostError;
use protocol::coop;
use serde::Serialize;
use serde_json::Value;
use std::sync::Mutex;

/// Largest configuration or resolution held (they are small settings objects).
const MAX_CONFIG_BYTES: usize = 1 << 20; // 1 MiB

/// The driver side of a [`Host`].
#[derive(Debug, Default)]
pub(super) struct DriverState {
    stop: Mutex<coop::StopConfig>,
    start: Mutex<coop::StartConfig>,
    /// The last accepted stop resolution: what a stop hook would hand on (a plain command
    /// fires none).
    resolution: Mutex<Option<Value>>,
}

/// Refuses what does not fit in [`MAX_CONFIG_BYTES`] of JSON.
fn bounded(what: &str, value: &impl Serialize) -> Result<(), HostError> {
    let size = serde_json::to_string(value).map_or(usize::MAX, |s| s.len());
    if size > MAX_CONFIG_BYTES {
        return Err(HostError::PayloadTooLarge(format!(
            "a {what} holds at most {MAX_CONFIG_BYTES} bytes of JSON"
        )));
    }
    Ok(())
}

const UPDATED: coop::Updated = coop::Updated { updated: true };

impl Host {
    /// `GET /session/usage`, `usage:get`: a plain command uses no tokens.
    pub fn usage(&self) -> coop::Usage {
        coop::Usage {
            uptime_secs: self.uptime_secs(),
            ..coop::Usage::default()
        }
    }

    /// `nudge` and `respond` (HTTP, `/ws` and NATS alike): a plain command has no driver to
    /// do them; before the first detection coop says the agent is still starting.
    pub fn without_driver(&self) -> HostError {
        if self.state.is_detected() {
            HostError::NoDriver
        } else {
            HostError::AgentStarting
        }
    }

    /// `transcript:list`: a plain command saves none.
    pub fn transcripts(&self) -> coop::TranscriptList {
        coop::TranscriptList::default()
    }

    /// `transcript:get`: there is none to get.
    pub fn transcript(
        &self,
        ask: coop::TranscriptNumber,
    ) -> Result<coop::TranscriptContent, HostError> {
        Err(HostError::BadRequest(format!(
            "transcript {} not found",
            ask.number
        )))
    }

    /// `transcript:catchup`: nothing saved, nothing being written.
    pub fn transcript_catchup(&self) -> coop::TranscriptCatchup {
        coop::TranscriptCatchup::default()
    }

    /// `GET /config/stop`, `stop:config:get` (`{"mode":"allow"}` until set).
    pub fn stop_config(&self) -> coop::StopConfig {
        lock(&self.driver.stop).clone()
    }

    /// `PUT /config/stop`, `stop:config:put`. Its `schema` must be a schema (an object or a
    /// boolean).
    pub fn set_stop_config(&self, config: coop::StopConfig) -> Result<coop::Updated, HostError> {
        bounded("stop configuration", &config)?;
        if config
            .schema
            .as_ref()
            .is_some_and(|s| !schema::is_schema(s))
        {
            return Err(HostError::Unprocessable(
                "schema must be a JSON schema: an object or a boolean".into(),
            ));
        }
        *lock(&self.driver.stop) = config;
        Ok(UPDATED)
    }

    /// `GET /config/start`, `config:start:get`.
    pub fn start_config(&self) -> coop::StartConfig {
        lock(&self.driver.start).clone()
    }

    /// `PUT /config/start`, `config:put:get` (fields it does not know are already dropped).
    pub fn set_start_config(&self, config: coop::StartConfig) -> Result<coop::Updated, HostError> {
        bounded("start configuration", &config)?;
        *lock(&self.driver.start) = config;
        Ok(UPDATED)
    }

    /// `POST /stop/resolve`, `stop:resolve`: the body must satisfy the stop schema (422 when
    /// it does not); it is kept as the resolution.
    pub fn resolve_stop(&self, resolve: coop::StopResolve) -> Result<coop::Accepted, HostError> {
        bounded("stop resolution", &resolve.body)?;
        if let Some(rules) = &lock(&self.driver.stop).schema {
            schema::check(rules, &resolve.body).map_err(HostError::Unprocessable)?;
        }
        *lock(&self.driver.resolution) = Some(resolve.body);
        Ok(coop::Accepted { accepted: true })
    }
}
