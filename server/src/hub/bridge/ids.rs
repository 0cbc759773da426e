//! Request-id mapping between the bridge's clients and its one upstream connection.
//!
//! Every request a client sends upstream gets a fresh bridge id; the client's own
//! `request_id` (any JSON value, or none) is kept here and put back on the reply, which goes
//! only to that client. When the upstream connection drops, every pending request is failed
//! at once and the map refuses new ones until the next connection: nothing is ever re-sent.
//!
//! coop answers a request it cannot parse (an unknown event, a numeric `signal`, a missing
//! `keys` or `text`) with an `error` that has no `request_id`. It answers one connection's
//! requests in order, so such an error belongs to the oldest request still waiting on the
//! connection: the map remembers the order in which requests were sent
//! ([`Ids::sending`]) and hands that one out ([`Ids::take_oldest`]), so that its client gets
//! the error and its later replies are not held behind a slot nothing would fill.

use super::replies::Ticket;
use serde_json::Value;
use std::collections::HashMap;

/// Most requests awaiting a reply per bridge (count); requests that never get one (coop
/// sends nothing for some) are dropped with their client or at the next reconnect.
pub const MAX_PENDING: usize = 4096; // requests

/// Identifies a client of one bridge.
pub type ClientId = u64;

/// What a pending request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client's request; the reply is passed back.
    Request,
    /// A client's `replay:get` the mux's log could not answer.
    Replay,
    /// The bridge's own `replay:get` after (re)connecting.
    Seed,
    /// The bridge's own `replay:get` for bytes a later frame skipped.
    Gap,
}

/// One request awaiting its reply.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The client that sent it (`None` for the bridge's own).
    pub client: Option<ClientId>,
    /// The client's reply slot (see [`super::replies`]); 0 for the bridge's own.
    pub ticket: Ticket,
    /// The client's own `request_id`, if it gave one.
    pub original: Option<Value>,
    /// What it is for.
    pub kind: Kind,
}

/// Why a request could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No upstream connection right now.
    Disconnected,
    /// [`MAX_PENDING`] requests are already waiting.
    Full,
}

/// A pending request and when it went upstream.
#[derive(Debug)]
struct Entry {
    pending: Pending,
    /// Position among the requests sent on this connection; `None` until sent.
    sent: Option<u64>,
}

/// Pending requests of one bridge and whether its upstream is connected.
#[derive(Debug, Default)]
pub struct Ids {
    connected: bool,
    next: u64,
    /// Counts the requests sent upstream, for their order.
    sent: u64,
    pending: HashMap<String, Entry>,
}

impl Ids {
    /// Registers a request and returns the id to send upstream.
    pub fn register(&mut self, pending: Pending) -> Result<String, Refused> {
        if !self.connected {
            return Err(Refused::Disconnected);
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(Refused::Full);
        }
        self.next += 1;
        let id = format!("mux-{}", self.next);
        let entry = Entry {
            pending,
            sent: None,
        };
        self.pending.insert(id.clone(), entry);
        Ok(id)
    }

    /// `id` is about to be sent upstream: records its place in the order. False when it no
    /// longer waits (it was failed by a disconnect) and must not be sent.
    pub fn sending(&mut self, id: &str) -> bool {
        let Some(entry) = self.pending.get_mut(id) else {
            return false;
        };
        self.sent += 1;
        entry.sent = Some(self.sent);
        true
    }

    /// Removes and returns the request a reply belongs to.
    pub fn take(&mut self, id: &str) -> Option<Pending> {
        self.pending.remove(id).map(|e| e.pending)
    }

    /// Removes and returns the oldest request sent and not answered: the one an error
    /// without `request_id` answers.
    pub fn take_oldest(&mut self) -> Option<Pending> {
        let oldest = self
            .pending
            .iter()
            .filter_map(|(id, e)| Some((e.sent?, id)))
            .min()
            .map(|(_, id)| id.clone())?;
        self.take(&oldest)
    }

    /// The upstream connection is up: requests are accepted again.
    pub fn connected(&mut self) {
        self.connected = true;
    }

    /// The upstream connection is gone: returns every pending request (to be failed) and
    /// refuses new ones until [`Ids::connected`].
    pub fn disconnected(&mut self) -> Vec<Pending> {
        self.connected = false;
        self.pending.drain().map(|(_, e)| e.pending).collect()
    }

    /// Whether the upstream is connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Drops the requests of a client that left.
    pub fn forget_client(&mut self, client: ClientId) {
        self.pending.retain(|_, e| e.pending.client != Some(client));
    }
}

/// Puts the client's own id back on a reply (or removes the bridge's when it gave none).
pub fn restore(reply: &mut Value, original: Option<Value>) {
    if let Value::Object(map) = reply {
        match original {
            Some(id) => {
                map.insert("request_id".to_owned(), id);
            }
            None => {
                map.remove("request_id");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(client: ClientId, original: Option<Value>) -> Pending {
        Pending {
            client: Some(client),
            ticket: 0,
            original,
            kind: Kind::Request,
        }
    }

    #[test]
    fn ids_map_back_and_disconnect_fails_everything() {
        let mut ids = Ids::default();
        assert_eq!(
            ids.register(request(1, None)).unwrap_err(),
            Refused::Disconnected
        );
        ids.connected();
        let a = ids.register(request(1, Some(json!("r-1")))).unwrap();
        let b = ids.register(request(2, None)).unwrap();
        assert_ne!(a, b);
        let mut reply = json!({"event":"pong","request_id": a});
        restore(&mut reply, ids.take(&a).unwrap().original);
        assert_eq!(reply["request_id"], "r-1");
        assert!(ids.take(&a).is_none());
        let failed = ids.disconnected();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].client, Some(2));
        assert!(!ids.sending(&b), "a failed request is never sent");
        let mut reply = json!({"event":"pong","request_id": b});
        restore(&mut reply, None);
        assert!(reply.get("request_id").is_none());
    }

    #[test]
    fn an_uncorrelated_error_answers_the_oldest_request_sent() {
        let mut ids = Ids::default();
        ids.connected();
        let a = ids.register(request(1, Some(json!("a")))).unwrap();
        let b = ids.register(request(2, Some(json!("b")))).unwrap();
        let c = ids.register(request(1, Some(json!("c")))).unwrap();
        // Sent in another order than registered; `a` is answered first.
        assert!(ids.sending(&b) && ids.sending(&a));
        assert!(ids.take(&a).is_some());
        let oldest = ids.take_oldest().unwrap();
        assert_eq!(oldest.original, Some(json!("b")));
        // `c` was never sent: no error can be its.
        assert!(ids.take_oldest().is_none());
        assert!(ids.sending(&c));
        assert_eq!(ids.take_oldest().unwrap().original, Some(json!("c")));
    }
}
