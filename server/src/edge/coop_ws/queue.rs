//! The queue from a connection's reader (and, in the mux, the bridge's upstream side) to its
//! writer, bounded in messages and in bytes: a client that stops reading holds at most
//! [`CLIENT_QUEUE_BYTES`] of frames. PTY bytes never go through it (the writer pulls them from
//! the output log). A reply that holds one of its client's reply slots is queued on that slot
//! instead ([`QueueSender::send_reply`]): the slots bound those replies, and a reply must never
//! be dropped for the room pushes took.

use super::writer::ReplayAsk;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Most entries queued for one connection's writer.
pub const CLIENT_QUEUE_MESSAGES: usize = 256; // messages
/// Most bytes of frames queued for one connection's writer; a larger frame still passes,
/// alone (a forwarded replay can be that big).
pub const CLIENT_QUEUE_BYTES: usize = 16 << 20; // 16 MiB

/// What a connection's writer is handed.
#[derive(Debug)]
pub enum Outgoing {
    /// A text frame to send as is.
    Frame(String),
    /// A `replay:get`, run by the writer so that moving the client's offset and sending the
    /// reply are one step (no `pty` frame slips between them).
    Replay(ReplayAsk),
    /// A `replay` answered elsewhere (the mux's upstream), its `request_id` already restored.
    Replayed {
        /// The reply.
        frame: String,
        /// Where the reply ends; the client's offset moves there.
        next_offset: u64,
    },
    /// The connection authenticated (`auth`): pushes and PTY output start.
    Activate,
}

impl Outgoing {
    fn bytes(&self) -> usize {
        match self {
            Self::Frame(frame) | Self::Replayed { frame, .. } => frame.len(),
            Self::Replay(_) | Self::Activate => 0,
        }
    }
}

/// An entry and what it holds of the queue's bounds (its place and its bytes, or its reply
/// slot), given back when the writer drops it.
#[derive(Debug)]
pub struct Queued {
    /// The entry.
    pub out: Outgoing,
    _place: Option<OwnedSemaphorePermit>,
    _bytes: Option<OwnedSemaphorePermit>,
}

/// Why an entry was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue holds its most messages or bytes.
    #[error("the client's queue is full")]
    Full,
    /// The writer is gone.
    #[error("the client's writer is gone")]
    Closed,
}

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct QueueSender {
    // Unbounded only as a channel: every entry holds a permit of `places` or a reply slot.
    tx: mpsc::UnboundedSender<Queued>,
    places: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
}

/// The writer's side.
pub type QueueReceiver = mpsc::UnboundedReceiver<Queued>;

/// A new queue.
pub fn queue() -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let places = Arc::new(Semaphore::new(CLIENT_QUEUE_MESSAGES));
    let bytes = Arc::new(Semaphore::new(CLIENT_QUEUE_BYTES));
    (QueueSender { tx, places, bytes }, rx)
}

fn permits(out: &Outgoing) -> u32 {
    // Capped so that one frame larger than the budget can still pass, alone.
    u32::try_from(out.bytes().min(CLIENT_QUEUE_BYTES)).unwrap_or(u32::MAX)
}

impl QueueSender {
    /// Queues an entry, waiting for room.
    pub async fn send(&self, out: Outgoing) -> Result<(), QueueError> {
        let closed = |_| QueueError::Closed;
        let place = Arc::clone(&self.places)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let bytes = match permits(&out) {
            0 => None,
            n => Some(
                Arc::clone(&self.bytes)
                    .acquire_many_owned(n)
                    .await
                    .map_err(closed)?,
            ),
        };
        self.push(out, Some(place), bytes)
    }

    /// Queues an entry if there is room now.
    pub fn try_send(&self, out: Outgoing) -> Result<(), QueueError> {
        let full = |_| QueueError::Full;
        let place = Arc::clone(&self.places).try_acquire_owned().map_err(full)?;
        let bytes = match permits(&out) {
            0 => None,
            n => Some(
                Arc::clone(&self.bytes)
                    .try_acquire_many_owned(n)
                    .map_err(full)?,
            ),
        };
        self.push(out, Some(place), bytes)
    }

    /// Queues a reply that holds one of its client's reply slots, which bound such replies:
    /// it takes no room from pushes and is never refused for room.
    pub fn send_reply(&self, out: Outgoing, slot: OwnedSemaphorePermit) -> Result<(), QueueError> {
        self.push(out, Some(slot), None)
    }

    fn push(
        &self,
        out: Outgoing,
        place: Option<OwnedSemaphorePermit>,
        bytes: Option<OwnedSemaphorePermit>,
    ) -> Result<(), QueueError> {
        let queued = Queued {
            out,
            _place: place,
            _bytes: bytes,
        };
        self.tx.send(queued).map_err(|_| QueueError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_bound_the_queue_and_come_back_when_taken() {
        let (tx, mut rx) = queue();
        let big = "x".repeat(CLIENT_QUEUE_BYTES - 10);
        tx.try_send(Outgoing::Frame(big)).unwrap();
        let more = Outgoing::Frame("y".repeat(11));
        assert_eq!(tx.try_send(more), Err(QueueError::Full));
        tx.try_send(Outgoing::Activate).unwrap();
        drop(rx.recv().await.unwrap());
        tx.try_send(Outgoing::Frame("y".repeat(11))).unwrap();
        // One frame over the whole budget still passes once the queue is empty.
        drop(rx.recv().await.unwrap());
        drop(rx.recv().await.unwrap());
        tx.try_send(Outgoing::Frame("z".repeat(CLIENT_QUEUE_BYTES + 1)))
            .unwrap();
    }

    #[tokio::test]
    async fn a_reply_on_its_slot_passes_a_full_queue_and_holds_the_slot_until_taken() {
        let (tx, mut rx) = queue();
        for _ in 0..CLIENT_QUEUE_MESSAGES {
            tx.try_send(Outgoing::Activate).unwrap();
        }
        assert_eq!(tx.try_send(Outgoing::Activate), Err(QueueError::Full));
        let slots = Arc::new(Semaphore::new(1));
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        tx.send_reply(Outgoing::Frame("reply".into()), slot)
            .unwrap();
        for _ in 0..CLIENT_QUEUE_MESSAGES {
            drop(rx.recv().await.unwrap());
        }
        assert_eq!(slots.available_permits(), 0, "held while queued");
        let reply = rx.recv().await.unwrap();
        assert!(matches!(&reply.out, Outgoing::Frame(f) if f == "reply"));
        drop(reply);
        assert_eq!(slots.available_permits(), 1, "given back once taken");
    }
}
