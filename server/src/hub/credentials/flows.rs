//! The reauthorisation flows in progress (pending PKCE exchanges, running device pollers),
//! held by the broker and driven by [`super::reauth`].

use protocol::credentials::SecretString;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub(super) struct PendingPkce {
    pub(super) account: String,
    pub(super) verifier: SecretString,
    pub(super) auth_url: String,
    pub(super) created: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Flows {
    /// PKCE flows by state.
    pub(super) pkce: HashMap<String, PendingPkce>,
    /// Running device pollers by account.
    pub(super) devices: HashMap<String, (u64, CancellationToken)>,
    pub(super) next_device: u64,
}

/// The pending flows.
#[derive(Debug, Default)]
pub struct Reauth {
    flows: Mutex<Flows>,
}

impl Reauth {
    pub(super) fn lock(&self) -> MutexGuard<'_, Flows> {
        self.flows.lock().unwrap_or_else(|e| e.into_inner())
    }
}
