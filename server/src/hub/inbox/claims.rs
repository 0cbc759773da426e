//! Which answer and which notification of an item is the one (docs/architecture.md, "The
//! inbox"): with replicas, the first claim the shared bucket takes (a compare-and-set write
//! through the replication driver, tables `answers` and `notified`); without them, this
//! hub's own inbox decides (an item is answered once, announced once).

use crate::hub::registry::now_ms;
use crate::hub::replication::{self, Domain, Incoming, Options, Replication, Table, Written};
use protocol::fleet::{ClaimRecord, Versioned};
use std::sync::Arc;
use std::time::Duration;

/// What became of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This hub's claim is the one.
    Won,
    /// Another replica claimed it first.
    Taken,
    /// NATS did not answer in time: nothing may be sent (the claim is written when it is
    /// back, and may still win).
    Unconfirmed,
}

/// The first claim of a key stays.
struct FirstClaim;

impl Domain<ClaimRecord> for FirstClaim {
    fn apply(&self, incoming: Incoming<ClaimRecord>) {
        let _ = incoming.accept();
    }

    fn supersedes(&self, bucket: &Versioned<ClaimRecord>, _: &Versioned<ClaimRecord>) -> bool {
        bucket.value.is_some()
    }
}

/// The claim tables of one hub and its replica id; `None` without NATS.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    shared: Option<(Table<ClaimRecord>, Table<ClaimRecord>, String)>,
}

impl Claims {
    /// Claims decided by this hub alone.
    pub fn local() -> Self {
        Self::default()
    }

    /// Claims decided by the replicas' buckets `{prefix}-answers` and `{prefix}-notified`.
    pub fn shared(replication: &Replication) -> Self {
        // Written only: a claim is a create, the bucket's answer is all that matters.
        let options = Options {
            watch: false,
            keep_confirmed: false,
        };
        let answers = replication.table("answers", options);
        let notified = replication.table("notified", options);
        answers.start(Arc::new(FirstClaim));
        notified.start(Arc::new(FirstClaim));
        Self {
            shared: Some((answers, notified, replication.replica().to_owned())),
        }
    }

    /// Claims the answer of item `id`, waiting at most `limit` for the replicas.
    pub async fn answer(&self, id: &str, limit: Duration) -> Claimed {
        match &self.shared {
            Some((answers, _, me)) => claim(answers, id, me, limit).await,
            None => Claimed::Won,
        }
    }

    /// Claims the notification of item `id`, waiting at most `limit` for the replicas.
    pub async fn notification(&self, id: &str, limit: Duration) -> Claimed {
        match &self.shared {
            Some((_, notified, me)) => claim(notified, id, me, limit).await,
            None => Claimed::Won,
        }
    }

    /// Gives up this hub's unconfirmed claim of answering `id` (nothing was sent), so that
    /// another replica may answer once NATS is back; a claim the bucket took meanwhile stays,
    /// and only this replica can answer then.
    pub fn release_answer(&self, id: &str) {
        if let Some((answers, _, _)) = &self.shared {
            drop(answers.delete(id));
        }
    }
}

async fn claim(table: &Table<ClaimRecord>, id: &str, me: &str, limit: Duration) -> Claimed {
    let record = ClaimRecord {
        at_ms: now_ms(),
        replica: me.to_owned(),
    };
    let receipt = table.put(id, record);
    // A NATS server without JetStream has no buckets to share: this hub decides.
    if table.state() == replication::State::Local {
        return Claimed::Won;
    }
    match receipt.within(limit).await {
        Written::Won => Claimed::Won,
        Written::Lost | Written::Superseded => {
            // This replica's own earlier claim (of an answer it gave up) is still its own.
            match table.read(id).await {
                Some(held) if held.replica == me => Claimed::Won,
                _ => Claimed::Taken,
            }
        }
        Written::Deferred => Claimed::Unconfirmed,
    }
}
