//! The fleet that hub replicas share (docs/scaling.md, "Replicas sharing one fleet"): with
//! NATS on and JetStream on the server, every session, every registration-token hash and
//! every launch → session link is also a key of a bucket, kept by the replication driver.
//!
//! This module is the registry's [`Mirror`] and the launcher's [`LaunchLinks`]: it turns
//! their changes into the driver's writes, and the driver's values back into registry
//! changes ([`sessions`], [`tokens`], [`launches`] hold the domain callbacks). The registry's
//! map stays the read path; nothing here waits for NATS but an eviction and a token's first
//! binding, and those only while NATS answers.

mod launches;
mod sessions;
mod tokens;

use crate::hub::launch::LaunchLinks;
use crate::hub::registry::{Eviction, Mirror, Registry, Session};
use crate::hub::replication::{Options, Replication, Table, Written, OP_TIMEOUT};
use futures_util::future::BoxFuture;
use protocol::fleet::{LaunchRecord, SessionRecord, TokenRecord};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The shared fleet of one replica.
#[derive(Debug)]
pub struct Fleet {
    sessions: Table<SessionRecord>,
    tokens: Table<TokenRecord>,
    launches: Table<LaunchRecord>,
    /// Evictions decided here while the replicas could not be asked: counted once the
    /// replicas keep them (docs/scaling.md, "Health checks and eviction").
    deferred: Arc<Mutex<HashSet<String>>>,
}

impl Fleet {
    /// The fleet's tables (`{prefix}-sessions`, `-tokens`, `-launches`); changes are kept
    /// from now on and written once [`Fleet::start`] runs and NATS is up.
    pub fn new(replication: &Replication) -> Arc<Self> {
        let followed = Options {
            watch: true,
            keep_confirmed: true,
        };
        Arc::new(Self {
            sessions: replication.table("sessions", followed),
            tokens: replication.table("tokens", followed),
            // Written only (create-only links), read when asked.
            launches: replication.table(
                "launches",
                Options {
                    watch: false,
                    keep_confirmed: false,
                },
            ),
            deferred: Arc::default(),
        })
    }

    /// Follows the buckets, applying the other replicas' changes to `registry`.
    pub fn start(&self, registry: &Arc<Registry>) {
        self.sessions.start(Arc::new(sessions::Sessions {
            registry: Arc::downgrade(registry),
            deferred: self.deferred.clone(),
        }));
        self.tokens.start(Arc::new(tokens::Tokens {
            registry: Arc::downgrade(registry),
        }));
        self.launches.start(Arc::new(launches::Launches));
    }

    /// Where the sessions' sharing stands (`fleet` of `/api/v1/health`).
    pub fn state(&self) -> crate::hub::replication::State {
        self.sessions.state()
    }

    /// The session a launch was linked to, by any replica.
    pub async fn launch_session(&self, launch_id: &str) -> Option<String> {
        Some(self.launches.read(launch_id).await?.session)
    }
}

impl Mirror for Fleet {
    fn put(&self, session: &Session) {
        drop(self.sessions.put(&session.id, sessions::record(session)));
    }

    fn delete(&self, id: &str) {
        drop(self.sessions.delete(id));
    }

    fn evict(&self, id: &str) -> BoxFuture<'static, Eviction> {
        let receipt = self.sessions.evict(id);
        let shared = self.sessions.is_shared();
        let (sessions, deferred, id) =
            (self.sessions.clone(), self.deferred.clone(), id.to_owned());
        Box::pin(async move {
            let written = if shared {
                receipt.within(OP_TIMEOUT).await
            } else {
                Written::Deferred
            };
            match written {
                Written::Won => Eviction::Won,
                Written::Deferred => {
                    deferred
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id);
                    Eviction::Deferred
                }
                // Another replica evicted (or deleted) it first: it goes here too, uncounted.
                Written::Lost | Written::Superseded if sessions.held(&id) == Some(None) => {
                    Eviction::Deferred
                }
                Written::Lost | Written::Superseded => Eviction::Lost,
            }
        })
    }

    fn token_issued(&self, hash: &str) {
        drop(self.tokens.put(hash, TokenRecord::default()));
    }

    fn token_bound(&self, hash: &str, session: &str) -> BoxFuture<'static, ()> {
        let record = TokenRecord {
            session: Some(session.to_owned()),
        };
        let receipt = self.tokens.put(hash, record);
        let shared = self.tokens.is_shared();
        Box::pin(async move {
            // While NATS is unreachable the local binding stands; it is written when NATS is
            // back, where a binding made first elsewhere wins (docs/scaling.md).
            if shared {
                receipt.within(OP_TIMEOUT).await;
            }
        })
    }

    fn token_revoked(&self, hash: &str) {
        drop(self.tokens.delete(hash));
    }
}

impl LaunchLinks for Fleet {
    fn linked(&self, launch_id: &str, session_id: &str) {
        let record = LaunchRecord {
            session: session_id.to_owned(),
        };
        drop(self.launches.put(launch_id, record));
    }
}
