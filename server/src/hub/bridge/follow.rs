//! How one upstream connection's output becomes the bridge's log, byte for byte.
//!
//! Every piece of output arrives at an absolute offset: the seed (the bridge's own
//! `replay:get` after connecting), `pty` frames, coop's uncorrelated *lag replays* (sent when
//! the bridge fell behind the upstream's broadcast) and the replies to the bridge's gap
//! requests. Pieces may overlap what the log holds (only the bytes past its end are kept); a
//! piece that starts past the end leaves a *gap*, which the bridge asks the upstream to fill
//! with `replay:get` while it holds the later pieces. Only bytes the upstream no longer has
//! become a hole in the log, and only a `total_written` below what the log holds (the upstream
//! restarted) starts the log over (docs/coop-protocol.md, "Lag replay").

use super::log::BridgeLog;
use std::collections::VecDeque;

/// Most bytes of output held while a gap is being filled; beyond it the held pieces are
/// dropped, which loses nothing: the gap's reply reaches to the upstream's end as of the reply,
/// past everything sent before it.
pub const HELD_BYTES: usize = 8 << 20; // 8 MiB

/// One piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Absolute offset of its first byte.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// The upstream's `total_written`, on replays.
    pub total_written: Option<u64>,
}

/// What the connection must do after a piece was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing.
    Continue,
    /// Ask the upstream `replay:get` from this offset (its reply goes to
    /// [`Follow::gap_filled`]).
    AskFrom(u64),
}

/// The state of one upstream connection's output.
#[derive(Debug, Default)]
pub struct Follow {
    /// The seed's reply arrived; before it, output is ignored (the reply covers it).
    synced: bool,
    /// A gap request awaits its reply, and the log end it was asked at.
    gap_from: Option<u64>,
    /// Pieces that arrived after the gap, in order.
    held: VecDeque<Piece>,
    held_bytes: usize,
}

/// Starts the log over when the upstream wrote less than the log holds (it restarted).
fn restarted(log: &mut BridgeLog, piece: &Piece) -> bool {
    let restarted = piece.total_written.is_some_and(|total| total < log.end());
    if restarted {
        log.restart_at(piece.offset);
    }
    restarted
}

impl Follow {
    /// Whether the seed's reply arrived.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The reply to the seed: the log continues with it. `first` when the log never held
    /// anything (it starts at the reply's offset); a reply that starts past the end means the
    /// upstream lost the bytes in between while the bridge was away.
    pub fn seed(&mut self, log: &mut BridgeLog, first: bool, piece: &Piece) {
        self.synced = true;
        if first {
            log.restart_at(piece.offset);
        } else if !restarted(log, piece) {
            log.skip_to(piece.offset);
        }
        log.ingest(piece.offset, &piece.data);
    }

    /// A `pty` frame or an uncorrelated `replay`.
    pub fn output(&mut self, log: &mut BridgeLog, piece: Piece) -> Next {
        if !self.synced {
            return Next::Continue;
        }
        if self.gap_from.is_some() {
            self.hold(piece);
            return Next::Continue;
        }
        self.apply(log, piece)
    }

    /// The reply to a gap request (`None` when the upstream answered with an error).
    pub fn gap_filled(&mut self, log: &mut BridgeLog, reply: Option<Piece>) -> Next {
        let Some(asked_at) = self.gap_from.take() else {
            return Next::Continue;
        };
        if let Some(piece) = &reply {
            if !restarted(log, piece) {
                // The upstream no longer holds what it skipped.
                log.skip_to(piece.offset);
            }
            log.ingest(piece.offset, &piece.data);
        }
        if log.end() == asked_at {
            // No progress (an error, or nothing held there): the gap is lost for good, or
            // the next piece would ask again for ever.
            if let Some(next) = self.held.front() {
                log.skip_to(next.offset);
            }
        }
        while let Some(piece) = self.held.pop_front() {
            self.held_bytes -= piece.data.len();
            if let Next::AskFrom(at) = self.apply(log, piece) {
                return Next::AskFrom(at);
            }
        }
        Next::Continue
    }

    /// The connection ended: a new one starts with a new seed.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn apply(&mut self, log: &mut BridgeLog, piece: Piece) -> Next {
        restarted(log, &piece);
        if piece.offset > log.end() {
            let at = log.end();
            self.gap_from = Some(at);
            self.hold(piece);
            return Next::AskFrom(at);
        }
        log.ingest(piece.offset, &piece.data);
        Next::Continue
    }

    fn hold(&mut self, piece: Piece) {
        if self.held_bytes + piece.data.len() > HELD_BYTES {
            self.held.clear();
            self.held_bytes = 0;
        }
        self.held_bytes += piece.data.len();
        self.held.push_back(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::coop_ws::Ring;

    fn piece(offset: u64, data: &[u8]) -> Piece {
        Piece {
            offset,
            data: data.to_vec(),
            total_written: None,
        }
    }

    fn replay(offset: u64, data: &[u8], total: u64) -> Piece {
        Piece {
            total_written: Some(total),
            ..piece(offset, data)
        }
    }

    /// The holes in `range`, as pairs (a one-range list reads as a range to clippy).
    fn holes(log: &BridgeLog, range: std::ops::Range<u64>) -> Vec<(u64, u64)> {
        log.holes_in(range)
            .into_iter()
            .map(|h| (h.start, h.end))
            .collect()
    }

    fn all(log: &BridgeLog) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        let start = log.read_into(0, usize::MAX, &mut out);
        (start, out)
    }

    #[test]
    fn overlaps_keep_only_new_bytes_and_lag_replays_continue_the_log() {
        let mut log = BridgeLog::new(1 << 10);
        let mut follow = Follow::default();
        assert_eq!(follow.output(&mut log, piece(0, b"early")), Next::Continue);
        follow.seed(&mut log, true, &replay(0, b"abc", 3));
        assert_eq!(log.end(), 3, "output before the seed's reply is ignored");
        follow.output(&mut log, piece(3, b"def"));
        // A lag replay from where the bridge was, then a frame it covered partly.
        follow.output(&mut log, replay(6, b"ghij", 10));
        follow.output(&mut log, piece(8, b"ijkl"));
        follow.output(&mut log, piece(2, b"cd"));
        assert_eq!(all(&log), (0, b"abcdefghijkl".to_vec()));
    }

    #[test]
    fn a_gap_is_asked_for_and_later_pieces_wait_for_it() {
        let mut log = BridgeLog::new(1 << 10);
        let mut follow = Follow::default();
        follow.seed(&mut log, true, &replay(0, b"ab", 2));
        assert_eq!(follow.output(&mut log, piece(5, b"fg")), Next::AskFrom(2));
        assert_eq!(follow.output(&mut log, piece(7, b"hi")), Next::Continue);
        assert_eq!(log.end(), 2, "held until the gap is filled");
        let next = follow.gap_filled(&mut log, Some(replay(2, b"cdefg", 7)));
        assert_eq!(next, Next::Continue);
        assert_eq!(all(&log), (0, b"abcdefghi".to_vec()));
        assert!(log.holes_in(0..9).is_empty());
    }

    #[test]
    fn bytes_the_upstream_lost_become_a_hole_and_a_restart_starts_over() {
        let mut log = BridgeLog::new(1 << 10);
        let mut follow = Follow::default();
        follow.seed(&mut log, true, &replay(0, b"ab", 2));
        assert_eq!(follow.output(&mut log, piece(9, b"j")), Next::AskFrom(2));
        // The upstream's ring wrapped: its reply starts past what the bridge asked for.
        follow.gap_filled(&mut log, Some(replay(6, b"ghi", 9)));
        assert_eq!(log.end(), 10);
        assert_eq!(holes(&log, 0..10), [(2, 6)]);
        // An error reply: the gap up to the next held piece is lost.
        assert_eq!(follow.output(&mut log, piece(12, b"m")), Next::AskFrom(10));
        follow.gap_filled(&mut log, None);
        assert_eq!(log.end(), 13);
        assert_eq!(holes(&log, 10..13), [(10, 12)]);
        // A reconnect finds an upstream that wrote less than the log holds: it restarted.
        follow.reset();
        follow.seed(&mut log, false, &replay(0, b"new", 3));
        assert_eq!(all(&log), (0, b"new".to_vec()));
        // A seed past the end after a reconnect: lost while away, kept as a hole.
        follow.reset();
        follow.seed(&mut log, false, &replay(5, b"x", 6));
        assert_eq!(holes(&log, 0..6), [(3, 5)]);
    }

    #[test]
    fn held_pieces_are_bounded() {
        let mut log = BridgeLog::new(1 << 10);
        let mut follow = Follow::default();
        follow.seed(&mut log, true, &replay(0, b"", 0));
        let big = vec![b'x'; HELD_BYTES / 2 + 1];
        assert_eq!(follow.output(&mut log, piece(1, &big)), Next::AskFrom(0));
        follow.output(&mut log, piece(1 + big.len() as u64, &big));
        assert!(follow.held_bytes <= HELD_BYTES);
        assert_eq!(follow.held.len(), 1);
    }
}
