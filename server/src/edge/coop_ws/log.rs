//! The output log as `/ws` connections share it: a ring of PTY bytes at absolute offsets
//! under a mutex, and a `watch` of its end that wakes the writers when output arrives. Each
//! connection reads it at its own offset and pace.

use crate::edge::coop_ws::output_log::OutputLog;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

/// The value an output log's end `watch` carries.
pub trait End: Copy + Send + Sync + 'static {
    /// The end offset, or `None` while the log does not know where it stands yet (the mux's
    /// copy of a session's output before its first replay from upstream).
    fn known(self) -> Option<u64>;
}

impl End for u64 {
    fn known(self) -> Option<u64> {
        Some(self)
    }
}

impl End for Option<u64> {
    fn known(self) -> Option<u64> {
        self
    }
}

/// A bounded ring of output bytes addressed by absolute offsets.
pub trait Ring: Send + 'static {
    /// Appends up to `limit` bytes from `offset` (clamped to what is held) to `out`; returns
    /// the absolute offset of the first byte appended.
    fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64;

    /// Oldest offset held to the end.
    fn held(&self) -> Range<u64>;
}

impl Ring for OutputLog {
    fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64 {
        OutputLog::read_into(self, offset, limit, out)
    }

    fn held(&self) -> Range<u64> {
        self.oldest()..self.total()
    }
}

/// What one read from the log found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Absolute offset of the first byte appended (later than asked when the log no longer
    /// holds the bytes asked for).
    pub start: u64,
    /// The log's end at the time of the read.
    pub end: u64,
}

/// An output log shared by a session's connections.
#[derive(Debug)]
pub struct SharedLog<R, E> {
    ring: Mutex<R>,
    end: watch::Sender<E>,
}

impl<R: Ring, E: End> SharedLog<R, E> {
    /// A log around `ring`, its end announced as `end`.
    pub fn new(ring: R, end: E) -> Self {
        Self {
            ring: Mutex::new(ring),
            end: watch::Sender::new(end),
        }
    }

    /// Locks the ring (a std mutex: never held across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, R> {
        // Critical sections leave the ring consistent; a panic elsewhere must not wedge it.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends up to `limit` bytes from `offset` (clamped to what is held) to `out`.
    pub fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> Read {
        let ring = self.lock();
        let start = ring.read_into(offset, limit, out);
        Read {
            start,
            end: ring.held().end,
        }
    }

    /// Oldest offset held to the end.
    pub fn held(&self) -> Range<u64> {
        self.lock().held()
    }

    /// The announced end.
    pub fn end(&self) -> E {
        *self.end.borrow()
    }

    /// Announces a new end, after the append with the lock released: the `watch` may trail
    /// the ring by one append, and only [`SharedLog::held`] is exact.
    pub fn set_end(&self, end: E) {
        self.end.send_replace(end);
    }

    /// Wakes on every announced end.
    pub fn subscribe_end(&self) -> watch::Receiver<E> {
        self.end.subscribe()
    }
}
