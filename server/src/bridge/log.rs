//! The bridge's copy of a session's PTY output, addressed by the upstream's absolute offsets.
//!
//! It wraps the session host's ring buffer with a `base`: the mux learns the upstream's output
//! part-way through (its first `replay` may start past 0 when the upstream's own log wrapped),
//! so the first byte it holds is not offset 0.

use crate::coop_ws::Ring;
use crate::session_host::output_log::OutputLog;
use std::ops::Range;

/// Capacity of each bridge's output log.
pub const BRIDGE_LOG_BYTES: usize = 4 << 20; // 4 MiB

/// A bounded output log starting at an arbitrary absolute offset.
#[derive(Debug)]
pub struct BridgeLog {
    /// Absolute offset of the first byte ever appended to `log`.
    base: u64,
    log: OutputLog,
    capacity: usize,
}

impl BridgeLog {
    /// An empty log of `capacity` bytes starting at offset 0.
    pub fn new(capacity: usize) -> Self {
        Self {
            base: 0,
            log: OutputLog::new(capacity),
            capacity,
        }
    }

    /// Absolute offset just after the newest byte.
    pub fn end(&self) -> u64 {
        self.base + self.log.total()
    }

    /// Absolute offset of the oldest byte held.
    pub fn oldest(&self) -> u64 {
        self.base + self.log.oldest()
    }

    /// Forgets everything and continues at `offset` (first seed, a gap, or a restarted
    /// upstream whose offsets went back to 0).
    pub fn restart_at(&mut self, offset: u64) {
        self.base = offset;
        self.log = OutputLog::new(self.capacity);
    }

    /// Adds `data`, which starts at absolute `offset`: the part already held is skipped.
    /// Returns whether the log grew. The caller restarts the log first when `offset` is past
    /// the end (a gap cannot be represented).
    pub fn ingest(&mut self, offset: u64, data: &[u8]) -> bool {
        let end = self.end();
        let stop = offset + data.len() as u64;
        if stop <= end || offset > end {
            return false;
        }
        let skip = usize::try_from(end - offset).unwrap_or(usize::MAX);
        self.log.append(&data[skip..]);
        true
    }
}

impl Ring for BridgeLog {
    fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64 {
        let from = offset.saturating_sub(self.base);
        self.base + self.log.read_into(from, limit, out)
    }

    fn held(&self) -> Range<u64> {
        self.oldest()..self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_start_at_the_base_and_overlaps_are_skipped() {
        let mut log = BridgeLog::new(8);
        log.restart_at(100);
        assert!(log.ingest(100, b"abcd"));
        assert!(!log.ingest(100, b"abc"));
        assert!(log.ingest(102, b"cdef"));
        assert_eq!(log.end(), 106);
        let mut out = Vec::new();
        assert_eq!(log.read_into(0, 100, &mut out), 100);
        assert_eq!(out, b"abcdef");
        assert!(!log.ingest(200, b"x"), "a gap is refused");
        log.ingest(106, b"ghijk");
        assert_eq!(log.oldest(), 103);
        out.clear();
        assert_eq!(log.read_into(101, 3, &mut out), 103);
        assert_eq!(out, b"def");
    }
}
