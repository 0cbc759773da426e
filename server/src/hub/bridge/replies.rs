//! The order of one client's replies: first in, first out, as coop answers one connection.
//!
//! Some requests are answered by the mux itself (a `replay:get` from its log, a refusal),
//! others go upstream and come back later. Each request takes a slot in the client's
//! [`Replies`] when it is read; a reply fills its slot, and replies leave only from the front,
//! so an answer from the mux waits behind earlier requests still upstream and a client that
//! pairs replies with requests in order (coop's own dashboard does) is never misled. Slots are
//! bounded per client by a semaphore the reader waits on ([`MAX_REPLY_SLOTS`]).

use crate::edge::coop_ws::Outgoing;
use std::collections::VecDeque;
use tokio::sync::OwnedSemaphorePermit;

/// Most requests of one client awaiting their turn to be answered; the client's reader waits
/// for a slot beyond it.
pub const MAX_REPLY_SLOTS: usize = 256; // requests

/// Identifies a slot among one client's replies.
pub type Ticket = u64;

#[derive(Debug)]
struct Slot {
    ticket: Ticket,
    out: Option<Outgoing>,
    _permit: OwnedSemaphorePermit,
}

/// One client's replies in the order of its requests.
#[derive(Debug, Default)]
pub struct Replies {
    next: Ticket,
    slots: VecDeque<Slot>,
}

impl Replies {
    /// Takes the next slot for a reply that comes later.
    pub fn open(&mut self, permit: OwnedSemaphorePermit) -> Ticket {
        self.next += 1;
        self.slots.push_back(Slot {
            ticket: self.next,
            out: None,
            _permit: permit,
        });
        self.next
    }

    /// Fills a slot and hands every reply now at the front to `deliver`, in order, each with
    /// its slot's permit (held until the writer takes the reply). A ticket that is not waiting
    /// (its client's replies were dropped) is ignored.
    pub fn fill(
        &mut self,
        ticket: Ticket,
        out: Outgoing,
        deliver: impl FnMut(Outgoing, OwnedSemaphorePermit),
    ) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.ticket == ticket) {
            slot.out = Some(out);
        }
        self.release(deliver);
    }

    /// A reply that is ready now: returned when nothing waits ahead of it (the caller sends
    /// it), otherwise kept behind the waiting ones.
    pub fn ready(&mut self, permit: OwnedSemaphorePermit, out: Outgoing) -> Option<Outgoing> {
        if self.slots.is_empty() {
            return Some(out);
        }
        let ticket = self.open(permit);
        self.fill(ticket, out, |_, _| {});
        None
    }

    fn release(&mut self, mut deliver: impl FnMut(Outgoing, OwnedSemaphorePermit)) {
        while self.slots.front().is_some_and(|s| s.out.is_some()) {
            if let Some(Slot {
                out: Some(out),
                _permit: permit,
                ..
            }) = self.slots.pop_front()
            {
                deliver(out, permit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    fn frame(s: &str) -> Outgoing {
        Outgoing::Frame(s.to_owned())
    }

    fn text(out: &Outgoing) -> &str {
        match out {
            Outgoing::Frame(s) => s,
            other => panic!("not a frame: {other:?}"),
        }
    }

    #[test]
    fn replies_leave_in_request_order_and_free_their_slots_once_taken() {
        let permits = Arc::new(Semaphore::new(3));
        let permit = || permits.clone().try_acquire_owned().unwrap();
        let mut replies = Replies::default();
        let mut sent = Vec::new();
        assert!(replies.ready(permit(), frame("now")).is_some());
        let first = replies.open(permit());
        let second = replies.open(permit());
        assert!(replies.ready(permit(), frame("local")).is_none());
        assert_eq!(permits.available_permits(), 0);
        replies.fill(second, frame("second"), |o, p| sent.push((o, p)));
        assert!(sent.is_empty(), "the second waits for the first");
        replies.fill(first, frame("first"), |o, p| sent.push((o, p)));
        let order: Vec<&str> = sent.iter().map(|(o, _)| text(o)).collect();
        assert_eq!(order, ["first", "second", "local"]);
        // Each slot stays taken until its reply is (the writer drops what it sent).
        assert_eq!(permits.available_permits(), 0);
        drop(sent);
        assert_eq!(permits.available_permits(), 3);
        assert!(replies.ready(permit(), frame("idle again")).is_some());
    }
}
