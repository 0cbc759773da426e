//! The bridge's copy of a session's PTY output, addressed by the upstream's absolute offsets.
//!
//! It wraps the session host's ring buffer with a map from the ring's own offsets to the
//! upstream's: the mux learns the upstream's output part-way through (its first `replay` may
//! start past 0 when the upstream's own log wrapped), and when the upstream no longer holds
//! bytes the mux missed, the log continues past that *hole* instead of forgetting what it holds
//! (docs/architecture.md, "The path of one PTY byte").

use crate::edge::coop_ws::output_log::OutputLog;
use crate::edge::coop_ws::Ring;
use std::collections::VecDeque;
use std::ops::Range;

/// Capacity of each bridge's output log.
pub const BRIDGE_LOG_BYTES: usize = 4 << 20; // 4 MiB
/// Most runs of contiguous bytes (separated by holes) kept; beyond it the oldest run is
/// forgotten, so an upstream that keeps losing bytes cannot grow the map.
const MAX_RUNS: usize = 64; // runs

/// Bytes that are contiguous both in the ring and upstream: ring offset `at` is upstream
/// offset `abs`, up to the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    at: u64,
    abs: u64,
}

/// A bounded output log at the upstream's absolute offsets.
#[derive(Debug)]
pub struct BridgeLog {
    log: OutputLog,
    /// Ring offset below which nothing is held any more, besides what the ring overwrote
    /// (a restart or a forgotten run).
    floor: u64,
    /// Ascending and never empty; the first run holds the oldest byte held.
    runs: VecDeque<Run>,
}

/// Where a read lands: the run holding the offset and the ring offset to read from.
struct Spot {
    run: usize,
    at: u64,
}

impl BridgeLog {
    /// An empty log of `capacity` bytes starting at offset 0.
    pub fn new(capacity: usize) -> Self {
        Self {
            log: OutputLog::new(capacity),
            floor: 0,
            runs: VecDeque::from([Run { at: 0, abs: 0 }]),
        }
    }

    fn last(&self) -> Run {
        self.runs.back().copied().unwrap_or(Run { at: 0, abs: 0 })
    }

    /// Absolute offset just after the newest byte.
    pub fn end(&self) -> u64 {
        let last = self.last();
        last.abs + (self.log.total() - last.at)
    }

    fn oldest_at(&self) -> u64 {
        self.log.oldest().max(self.floor)
    }

    /// Absolute offset of the oldest byte held.
    pub fn oldest(&self) -> u64 {
        let at = self.oldest_at();
        let run = self.runs.front().copied().unwrap_or(Run { at: 0, abs: 0 });
        run.abs + at.saturating_sub(run.at)
    }

    /// Forgets everything and continues at `offset` (the first seed, or an upstream whose
    /// output restarted).
    pub fn restart_at(&mut self, offset: u64) {
        let total = self.log.total();
        self.floor = total;
        self.runs = VecDeque::from([Run {
            at: total,
            abs: offset,
        }]);
    }

    /// Continues at `offset`, past the end: the bytes in between were lost upstream before
    /// the mux could read them. What the log holds stays readable.
    pub fn skip_to(&mut self, offset: u64) {
        let end = self.end();
        if offset <= end {
            return;
        }
        let total = self.log.total();
        match self.runs.back_mut() {
            // An empty last run just moves.
            Some(last) if last.at == total => last.abs = offset,
            _ => self.runs.push_back(Run {
                at: total,
                abs: offset,
            }),
        }
        if self.runs.len() > MAX_RUNS {
            self.runs.pop_front();
            self.floor = self.runs.front().map_or(total, |r| r.at);
        }
    }

    /// Adds `data`, which starts at absolute `offset`: the part already held is skipped.
    /// Returns whether the log grew. Data that starts past the end is refused: the caller
    /// fills the gap first (or records it with [`BridgeLog::skip_to`]).
    pub fn ingest(&mut self, offset: u64, data: &[u8]) -> bool {
        let end = self.end();
        let stop = offset + data.len() as u64;
        if stop <= end || offset > end {
            return false;
        }
        let skip = usize::try_from(end - offset).unwrap_or(usize::MAX);
        self.log.append(&data[skip..]);
        self.prune();
        true
    }

    /// Drops runs the ring has overwritten entirely.
    fn prune(&mut self) {
        let oldest = self.oldest_at();
        while self.runs.len() > 1 && self.runs[1].at <= oldest {
            self.runs.pop_front();
        }
    }

    /// Ring offset of the end of run `i` (the next run's start, or the ring's end).
    fn run_end(&self, i: usize) -> u64 {
        self.runs.get(i + 1).map_or(self.log.total(), |r| r.at)
    }

    /// The first byte held at or after absolute `offset`.
    fn locate(&self, offset: u64) -> Spot {
        let oldest = self.oldest_at();
        for (i, run) in self.runs.iter().enumerate() {
            let start = run.at.max(oldest);
            let end = self.run_end(i);
            let abs_end = run.abs + (end - run.at);
            if offset < abs_end || i + 1 == self.runs.len() {
                let at = (run.at + offset.saturating_sub(run.abs)).clamp(start, end);
                return Spot { run: i, at };
            }
        }
        Spot { run: 0, at: oldest }
    }

    /// The holes (bytes the upstream lost) inside `range`, as absolute ranges.
    pub fn holes_in(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut holes = Vec::new();
        for i in 1..self.runs.len() {
            let prev = self.runs[i - 1];
            let hole = prev.abs + (self.runs[i].at - prev.at)..self.runs[i].abs;
            let cut = hole.start.max(range.start)..hole.end.min(range.end);
            if cut.start < cut.end {
                holes.push(cut);
            }
        }
        holes
    }
}

impl Ring for BridgeLog {
    /// Reads from `offset` (clamped to the oldest byte held, or moved past a hole) up to the
    /// end of the run it falls in: one read never spans a hole.
    fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64 {
        let spot = self.locate(offset);
        let run = self.runs[spot.run];
        let room = usize::try_from(self.run_end(spot.run) - spot.at).unwrap_or(usize::MAX);
        self.log.read_into(spot.at, limit.min(room), out);
        run.abs + (spot.at - run.at)
    }

    fn held(&self) -> Range<u64> {
        self.oldest()..self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The holes in `range`, as pairs (a one-range list reads as a range to clippy).
    fn holes(log: &BridgeLog, range: std::ops::Range<u64>) -> Vec<(u64, u64)> {
        log.holes_in(range)
            .into_iter()
            .map(|h| (h.start, h.end))
            .collect()
    }

    fn read(log: &BridgeLog, offset: u64) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        let start = log.read_into(offset, usize::MAX, &mut out);
        (start, out)
    }

    #[test]
    fn offsets_start_at_the_base_and_overlaps_are_skipped() {
        let mut log = BridgeLog::new(8);
        log.restart_at(100);
        assert!(log.ingest(100, b"abcd"));
        assert!(!log.ingest(100, b"abc"));
        assert!(log.ingest(102, b"cdef"));
        assert_eq!(log.end(), 106);
        assert_eq!(read(&log, 0), (100, b"abcdef".to_vec()));
        assert!(!log.ingest(200, b"x"), "a gap is refused");
        log.ingest(106, b"ghijk");
        assert_eq!(log.oldest(), 103);
        let mut out = Vec::new();
        assert_eq!(log.read_into(101, 3, &mut out), 103);
        assert_eq!(out, b"def");
    }

    #[test]
    fn a_hole_keeps_what_is_held_and_reads_stop_at_it() {
        let mut log = BridgeLog::new(16);
        log.ingest(0, b"abcd");
        log.skip_to(10);
        assert_eq!(log.end(), 10);
        assert!(log.ingest(10, b"klm"));
        assert_eq!(log.held(), 0..13);
        assert_eq!(
            read(&log, 0),
            (0, b"abcd".to_vec()),
            "a read ends at the hole"
        );
        assert_eq!(
            read(&log, 4),
            (10, b"klm".to_vec()),
            "a read in the hole skips it"
        );
        assert_eq!(read(&log, 7), (10, b"klm".to_vec()));
        assert_eq!(read(&log, 11), (11, b"lm".to_vec()));
        assert_eq!(holes(&log, 0..13), [(4, 10)]);
        assert_eq!(holes(&log, 6..8), [(6, 8)]);
        // The ring wraps past the first run: the hole goes with it.
        log.ingest(13, b"nopqrstuvwxyz0");
        assert_eq!(log.oldest(), 11);
        assert!(log.holes_in(0..27).is_empty());
        assert_eq!(read(&log, 0), (11, b"lmnopqrstuvwxyz0".to_vec()));
    }

    #[test]
    fn a_restart_forgets_everything_and_runs_are_bounded() {
        let mut log = BridgeLog::new(1 << 12);
        log.ingest(0, b"old");
        log.restart_at(5);
        assert_eq!(log.held(), 5..5);
        log.ingest(5, b"new");
        assert_eq!(read(&log, 0), (5, b"new".to_vec()));
        for i in 0..(MAX_RUNS as u64 * 2) {
            let at = log.end() + 1;
            log.skip_to(at);
            log.ingest(at, &[b'0' + (i % 10) as u8]);
        }
        assert_eq!(log.runs.len(), MAX_RUNS);
        let held = log.held();
        let (start, data) = read(&log, 0);
        assert_eq!((start, data.len()), (held.start, 1));
    }
}
