//! The tokens bucket's domain callbacks: a [`TokenRecord`] per registration-token hash. Its
//! conflict rule differs from the newest-wins default: a revoked token stays revoked, and a
//! token's first binding (the one the bucket took) stays (docs/scaling.md, "Launches and
//! registration tokens").

use crate::hub::registry::tokens::RemoteToken;
use crate::hub::registry::Registry;
use crate::hub::replication::{Domain, Incoming};
use protocol::fleet::{TokenRecord, Versioned};
use std::sync::Weak;

pub(super) struct Tokens {
    pub(super) registry: Weak<Registry>,
}

/// Revoked beats bound beats issued.
fn rank(token: &Versioned<TokenRecord>) -> u8 {
    match &token.value {
        None => 2,
        Some(TokenRecord { session: Some(_) }) => 1,
        Some(TokenRecord { session: None }) => 0,
    }
}

impl Domain<TokenRecord> for Tokens {
    fn apply(&self, incoming: Incoming<TokenRecord>) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let hash = incoming.id().to_owned();
        registry
            .tokens()
            .apply_remote(&hash, || match incoming.accept()? {
                Some(record) => Some(RemoteToken::Issued(record.session)),
                None => Some(RemoteToken::Revoked),
            });
    }

    fn supersedes(&self, bucket: &Versioned<TokenRecord>, local: &Versioned<TokenRecord>) -> bool {
        match rank(bucket).cmp(&rank(local)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            // Two bindings: the bucket's was first.
            std::cmp::Ordering::Equal if rank(bucket) == 1 => true,
            std::cmp::Ordering::Equal => bucket.clock > local.clock,
        }
    }
}
