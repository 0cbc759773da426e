//! The sessions bucket's domain callbacks: a [`SessionRecord`] per session id, applied to the
//! registry as a registration or heartbeat (`session:online` for a new id) or a removal
//! (`session:offline`), never written back.

use crate::hub::registry::{ids, Registry, Remote, RemoteSession, Session, Transport};
use crate::hub::registry::{now_ms, Connection};
use crate::hub::replication::{Domain, Incoming};
use protocol::fleet::{RecordTransport, SessionRecord, Versioned};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

/// The bucket record of a session as this replica holds it.
pub(super) fn record(session: &Session) -> SessionRecord {
    let connection = session.connection();
    SessionRecord {
        id: session.id.clone(),
        url: connection.url,
        auth_token: connection.auth_token,
        metadata: connection.metadata,
        registrant: connection.registrant,
        transport: match session.transport() {
            Transport::Http => RecordTransport::Http,
            Transport::Nats { prefix } => RecordTransport::Nats { prefix },
        },
        registered_at_ms: session.registered_at_ms(),
        order_us: session.order_us(),
        seen_at_ms: now_ms(),
    }
}

fn remote(record: SessionRecord) -> RemoteSession {
    RemoteSession {
        connection: Connection {
            url: record.url,
            auth_token: record.auth_token,
            metadata: record.metadata,
            registrant: record.registrant,
        },
        transport: match record.transport {
            RecordTransport::Http => Transport::Http,
            RecordTransport::Nats { prefix } => Transport::Nats { prefix },
        },
        order: (record.order_us, record.registered_at_ms),
    }
}

pub(super) struct Sessions {
    pub(super) registry: Weak<Registry>,
    pub(super) deferred: Arc<Mutex<HashSet<String>>>,
}

impl Domain<SessionRecord> for Sessions {
    fn apply(&self, incoming: Incoming<SessionRecord>) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let id = incoming.id().to_owned();
        if ids::validate(&id).is_err() {
            tracing::warn!(session = %id, "ignoring a fleet record with an invalid id");
            return;
        }
        registry.apply_remote(&id, || match incoming.accept()? {
            Some(record) => Some(Remote::Put(remote(record))),
            None => Some(Remote::Deleted),
        });
    }

    fn settled(&self, id: &str, change: &Versioned<SessionRecord>, won: bool) {
        let was_deferred = change.clock.after
            && self
                .deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        if was_deferred && won {
            if let Some(registry) = self.registry.upgrade() {
                registry.metrics().eviction();
                tracing::warn!(session = %id, "eviction decided while NATS was unreachable is the fleet's");
            }
        }
    }
}
