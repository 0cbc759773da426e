//! The registry's hook for replicas (docs/scaling.md, "Replicas sharing one fleet"). The
//! registry knows nothing of NATS or of other hubs: it tells a [`Mirror`] every change made
//! here, asks it before evicting, and takes the other replicas' changes through
//! [`Registry::apply_remote`] and the tokens' `apply_*`. A hub alone uses [`Alone`].

use super::{Connection, Registry, RegistryError, Session, Transport};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// What the registry tells the replicas, and asks them. The change calls are made under the
/// registry's (or the tokens') lock, in the order of the changes: they must not block, and
/// must not call back into the registry.
pub trait Mirror: Send + Sync + std::fmt::Debug {
    /// `session` was registered, heartbeated or announced here.
    fn put(&self, session: &Session);
    /// `id` was removed here: deregistered, replaced by a new id at its url, gone offline.
    fn delete(&self, id: &str);
    /// A check here judged `id` dead: whether this replica evicts it.
    fn evict(&self, id: &str) -> BoxFuture<'static, Eviction>;
    /// A registration token (by its hash) was issued here.
    fn token_issued(&self, hash: &str);
    /// A token was bound here to `session`: resolves once the replicas' decision is known
    /// (the token's state is then in [`super::RegistrationTokens`]), or at once when it
    /// cannot be known now (the local decision stands).
    fn token_bound(&self, hash: &str, session: &str) -> BoxFuture<'static, ()>;
    /// A token was revoked here.
    fn token_revoked(&self, hash: &str);
}

/// What a check's eviction came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// This replica's eviction is the fleet's: evict and count it.
    Won,
    /// The session changed or went meanwhile (a heartbeat through another replica, another
    /// replica evicted it first): nothing to do here, the change arrives by itself.
    Lost,
    /// The replicas cannot be asked now (NATS down): evict here; the eviction is kept and the
    /// mirror counts it once the replicas agree it was the first.
    Deferred,
    /// No replicas: evict and count.
    Alone,
}

/// The mirror of a hub without replicas: every change stays here.
#[derive(Debug, Default)]
pub struct Alone;

impl Mirror for Alone {
    fn put(&self, _: &Session) {}
    fn delete(&self, _: &str) {}
    fn evict(&self, _: &str) -> BoxFuture<'static, Eviction> {
        Box::pin(std::future::ready(Eviction::Alone))
    }
    fn token_issued(&self, _: &str) {}
    fn token_bound(&self, _: &str, _: &str) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn token_revoked(&self, _: &str) {}
}

/// A session as another replica holds it.
#[derive(Debug, Clone)]
pub struct RemoteSession {
    /// How to reach it.
    pub connection: Connection,
    /// How it reached the fleet.
    pub transport: Transport,
    /// Its fleet order key (epoch µs) and registration time (epoch ms).
    pub order: (u64, u64),
}

/// A change another replica made.
#[derive(Debug, Clone)]
pub enum Remote {
    /// The session is registered with these details.
    Put(RemoteSession),
    /// The session is gone.
    Deleted,
}

impl Registry {
    /// Applies another replica's change of `id`, if `decide` (called under the registry's
    /// lock, so that no local change can come in between) says it is newer than what this
    /// replica holds. Inserting emits `session:online`, removing `session:offline`, as a local
    /// change does; nothing is told to the mirror.
    pub fn apply_remote(self: &Arc<Self>, id: &str, decide: impl FnOnce() -> Option<Remote>) {
        let mut inner = self.lock();
        let remote = match decide() {
            None => return,
            Some(Remote::Deleted) => {
                let removed = self.remove_locked(&mut inner, id).is_some();
                drop(inner);
                if removed {
                    tracing::info!(session = %id, "session removed through another replica");
                }
                return;
            }
            Some(Remote::Put(remote)) => remote,
        };
        if let Some(existing) = inner.sessions.get(id).cloned() {
            let old_url = existing.url();
            inner.urls.moved(id, &old_url, &remote.connection.url);
            existing.refresh(remote.connection);
            existing.set_transport(remote.transport);
            existing.set_registered(remote.order.0, remote.order.1);
            existing.announced();
            return;
        }
        let inserted = self.insert_locked(
            &mut inner,
            id,
            remote.connection,
            remote.transport,
            remote.order,
            false,
        );
        drop(inner);
        match inserted {
            Ok(()) => tracing::info!(session = %id, "session registered through another replica"),
            Err(RegistryError::Full(max)) => {
                tracing::warn!(session = %id, max, "fleet session not taken: --max-sessions reached");
            }
            Err(err) => tracing::warn!(session = %id, %err, "fleet session not taken"),
        }
    }

    /// Evicts a session judged dead here (health checks, announce timeout) if `still_dead`
    /// holds for it under the lock (a heartbeat meanwhile keeps it), after asking the mirror.
    /// Returns whether this replica evicted it and counts the eviction.
    pub(crate) async fn evict_judged(
        &self,
        session: &Arc<Session>,
        still_dead: impl Fn(&Session) -> bool,
    ) -> bool {
        let decision = self.mirror.evict(&session.id).await;
        let evicted = match decision {
            Eviction::Lost => return false,
            Eviction::Won | Eviction::Alone | Eviction::Deferred => {
                let mut inner = self.lock();
                let current = inner.sessions.get(&session.id);
                if !current.is_some_and(|c| Arc::ptr_eq(c, session) && still_dead(c)) {
                    return false;
                }
                self.remove_locked(&mut inner, &session.id).is_some()
            }
        };
        if decision == Eviction::Deferred {
            tracing::info!(session = %session.id, "evicted here while NATS is unreachable; the replicas settle it when it is back");
            return false;
        }
        evicted
    }
}
