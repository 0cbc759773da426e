//! The refresh lease (docs/scaling.md, "Credentials across replicas"): one key per account in
//! [`super::shared::LEASES_BUCKET`], whose `max_age` is the lease's lifetime. A replica
//! refreshes an account only while it holds the key: `create` takes it when absent, `update`
//! on its revision renews it during the refresh, `delete` on its revision gives it back. A
//! holder that dies stops renewing, the key expires and another replica takes over at its next
//! due time. (A per-message TTL cannot serve here: the key-value API sets one only on `create`
//! and `purge`, not on the `update` that renews; docs/scaling.md, "NATS versions".)

use super::shared::{Shared, LEASES_BUCKET};
use crate::hub::replication::{keys, State, OP_TIMEOUT};
use async_nats::jetstream::kv;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What asking for the lease gave.
#[derive(Debug)]
pub enum Acquired {
    /// This replica holds it: refresh, write the bucket, then release.
    Held(Box<Lease>),
    /// Another replica holds it: wait for its new key (the watch brings it) or for the lease
    /// to lapse.
    Busy,
    /// No shared bucket (NATS down or without JetStream): refresh alone, as a single hub does.
    Local,
}

/// A held lease, renewed in the background until released or dropped.
#[derive(Debug)]
pub struct Lease {
    key: String,
    revision: Arc<AtomicU64>,
    leases: kv::Store,
    renew: JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

impl Lease {
    /// Gives the lease back at once (after the new key is in the bucket).
    pub async fn release(self) {
        self.renew.abort();
        let revision = self.revision.load(Ordering::SeqCst);
        let delete = self
            .leases
            .delete_expect_revision(&self.key, Some(revision));
        if let Ok(Err(e)) = tokio::time::timeout(OP_TIMEOUT, delete).await {
            tracing::debug!(key = %self.key, "lease release failed (it lapses by itself): {e}");
        }
    }
}

impl Shared {
    /// How long a replica that found the lease taken waits before asking again.
    pub fn lease_retry(&self) -> Duration {
        (self.lease_ttl / 2).max(Duration::from_millis(50))
    }

    /// The lease bucket, opened on first use.
    async fn leases(&self) -> Option<kv::Store> {
        let mut leases = self.leases.lock().await;
        if leases.is_none() {
            *leases = (self.replication)
                .raw_bucket(LEASES_BUCKET, self.lease_ttl)
                .await;
        }
        leases.clone()
    }

    /// Asks for `name`'s refresh lease. Once held, the account's bucket entry is read again
    /// and applied, so a refresh another replica finished a moment ago is seen before
    /// deciding to refresh.
    pub async fn acquire(&self, name: &str) -> Acquired {
        if self.settled().await != State::Shared {
            return Acquired::Local;
        }
        let Some(leases) = self.leases().await else {
            return Acquired::Local;
        };
        let key = keys::encode(name);
        let create = leases.create(&key, self.replica.clone().into());
        let revision = match tokio::time::timeout(OP_TIMEOUT, create).await {
            Ok(Ok(revision)) => revision,
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                tracing::debug!(account = %name, "refresh lease held by another replica");
                return Acquired::Busy;
            }
            Ok(Err(e)) => {
                tracing::warn!(account = %name, "cannot take the refresh lease ({e}); refreshing alone");
                // Opened again next time (the server may have lost the bucket).
                *self.leases.lock().await = None;
                return Acquired::Local;
            }
            Err(_) => {
                tracing::warn!(account = %name, "taking the refresh lease timed out; refreshing alone");
                return Acquired::Local;
            }
        };
        tracing::debug!(account = %name, revision, "refresh lease taken");
        let revision = Arc::new(AtomicU64::new(revision));
        let renew = tokio::spawn(renew(
            leases.clone(),
            key.clone(),
            self.replica.clone(),
            revision.clone(),
            self.lease_ttl / 3,
        ));
        let lease = Lease {
            key,
            revision,
            leases,
            renew,
        };
        self.accounts.refresh(name).await;
        Acquired::Held(Box::new(lease))
    }
}

/// Renews the lease every `every` until aborted or the lease is lost.
async fn renew(
    leases: kv::Store,
    key: String,
    replica: String,
    revision: Arc<AtomicU64>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every.max(Duration::from_millis(10))).await;
        let current = revision.load(Ordering::SeqCst);
        let update = leases.update(&key, replica.clone().into(), current);
        match tokio::time::timeout(OP_TIMEOUT, update).await {
            Ok(Ok(next)) => revision.store(next, Ordering::SeqCst),
            Ok(Err(e)) => {
                tracing::warn!(key = %key, "refresh lease lost: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!(key = %key, "renewing the refresh lease timed out");
                return;
            }
        }
    }
}
