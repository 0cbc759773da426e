//! The launches bucket's domain callbacks: a [`LaunchRecord`] per launch id, written
//! create-only: the link the bucket took first stays, so a launch maps to one session on
//! every replica. Nothing is applied here (the launching replica links its launch from the
//! session's `session:online`); the bucket is read when asked.

use crate::hub::replication::{Domain, Incoming};
use protocol::fleet::{LaunchRecord, Versioned};

pub(super) struct Launches;

impl Domain<LaunchRecord> for Launches {
    fn apply(&self, incoming: Incoming<LaunchRecord>) {
        if let Some(Some(record)) = incoming.accept() {
            tracing::debug!(session = %record.session, "launch linked by another replica first");
        }
    }

    fn supersedes(&self, bucket: &Versioned<LaunchRecord>, _: &Versioned<LaunchRecord>) -> bool {
        bucket.value.is_some()
    }
}
