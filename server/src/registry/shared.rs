//! The registry's side of the shared fleet (docs/scaling.md, "Replicas sharing one fleet"):
//! local changes are mirrored into the sessions bucket, and the other replicas' changes are
//! applied here with the same events as a local change, without writing back.

use super::{Connection, Registry, RegistryError, Session, Transport};
use crate::fleet::{Eviction, Fleet};
use protocol::fleet::{RecordTransport, SessionRecord};
use std::sync::Arc;

impl Registry {
    /// Attaches the shared fleet (NATS on): from now on local changes are mirrored into it.
    pub fn set_fleet(&self, fleet: Arc<Fleet>) {
        self.tokens.attach(fleet.clone());
        let _ = self.fleet.set(fleet);
    }

    /// The shared fleet, when NATS is configured.
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.fleet.get()
    }

    /// The bucket record of a session as this replica holds it.
    pub fn record(&self, session: &Session) -> SessionRecord {
        let connection = session.connection();
        SessionRecord {
            id: session.id.clone(),
            url: connection.url,
            auth_token: connection.auth_token,
            metadata: connection.metadata,
            registrant: session.registrant(),
            transport: match session.transport() {
                Transport::Http => RecordTransport::Http,
                Transport::Nats { prefix } => RecordTransport::Nats { prefix },
            },
            registered_at_ms: session.registered_at_ms(),
            order_us: session.order_us(),
            seen_at_ms: super::now_ms(),
            origin: String::new(),
            origin_seq: 0,
        }
    }

    /// Mirrors a local registration or heartbeat of `session`.
    pub(super) fn share(&self, session: &Session) {
        if let Some(fleet) = self.fleet() {
            fleet.put_session(self.record(session));
        }
    }

    /// Mirrors a local insert: the new session, and the deletes of the sessions it replaced.
    pub(super) fn shared_insert(&self, id: &str, replaced: &[String]) {
        let Some(fleet) = self.fleet() else { return };
        for stale in replaced {
            fleet.delete_session(stale);
        }
        if let Ok(session) = self.get(id) {
            fleet.put_session(self.record(&session));
        }
    }

    /// Mirrors a local removal.
    pub(super) fn shared_delete(&self, id: &str) {
        if let Some(fleet) = self.fleet() {
            fleet.delete_session(id);
        }
    }

    /// Evicts a session judged dead here (health checks, announce timeout). With a shared
    /// fleet only the replica whose compare-and-set delete succeeds evicts; the others
    /// apply the delete from the watch. Returns whether this replica evicted it.
    pub(crate) async fn evict_shared(&self, session: &Arc<Session>) -> bool {
        let Some(fleet) = self.fleet() else {
            return self.evict_local(session);
        };
        match fleet.evict(&session.id).await {
            // The watch may have applied our own delete already: it is evicted either way.
            Eviction::Won => {
                self.evict_local(session);
                true
            }
            Eviction::Lost => false,
            Eviction::Local => self.evict(session),
        }
    }

    /// A session put by another replica: inserted (`session:online`) or refreshed in place.
    pub(crate) fn apply_record(self: &Arc<Self>, record: SessionRecord) {
        if super::ids::validate(&record.id).is_err() {
            tracing::warn!(session = %record.id, "ignoring a fleet record with an invalid id");
            return;
        }
        let connection = Connection {
            url: record.url,
            auth_token: record.auth_token,
            metadata: record.metadata,
        };
        let transport = match record.transport {
            RecordTransport::Http => Transport::Http,
            RecordTransport::Nats { prefix } => Transport::Nats { prefix },
        };
        let mut inner = self.lock();
        if let Some(existing) = inner.sessions.get(&record.id).cloned() {
            let old_url = existing.url();
            inner.urls.moved(&record.id, &old_url, &connection.url);
            existing.refresh(connection);
            existing.set_registrant(record.registrant);
            existing.set_transport(transport);
            existing.set_registered(record.order_us, record.registered_at_ms);
            existing.announced();
            return;
        }
        let order = (record.order_us, record.registered_at_ms);
        match self.insert_locked(&mut inner, &record.id, connection, transport, order) {
            Ok(_) => {
                if let Some(session) = inner.sessions.get(&record.id) {
                    session.set_registrant(record.registrant);
                }
                tracing::info!(session = %record.id, "session registered through another replica")
            }
            Err(RegistryError::Full(max)) => {
                tracing::warn!(session = %record.id, max, "fleet session not taken: --max-sessions reached");
            }
            Err(err) => tracing::warn!(session = %record.id, %err, "fleet session not taken"),
        }
    }

    /// A session deleted by another replica: removed here (`session:offline`). Its tokens,
    /// if it was deregistered, go through the tokens bucket.
    pub(crate) fn apply_delete(&self, id: &str) {
        if self.remove_locked(&mut self.lock(), id).is_some() {
            tracing::info!(session = %id, "session removed through another replica");
        }
    }
}
