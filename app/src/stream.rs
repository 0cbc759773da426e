//! Byte-exact following of a session's PTY output by absolute offset.
//!
//! A terminal view first asks for a replay, then follows `pty` frames. Frames overlap replays
//! and each other, and a reconnect resumes from the last offset written, so every chunk is
//! cut against a high-water mark: nothing is written twice, and a hole is reported instead of
//! being papered over.

/// What to do with an incoming chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// Nothing new in it (before the first replay, or already written).
    Skip,
    /// Write these bytes.
    Write(&'a [u8]),
    /// The first replay: clear the terminal, then write these bytes.
    ResetAndWrite(&'a [u8]),
    /// The chunk starts after the high-water mark: bytes `[from, to)` are missing. Ask for a
    /// replay from `from`; the chunk itself is not written.
    Gap {
        /// First missing offset.
        from: u64,
        /// Where this chunk starts.
        to: u64,
    },
    /// A replay that starts past the high-water mark because the log no longer holds the
    /// missing bytes: they are lost for good. Write the marker, then these bytes.
    Dropped {
        /// How many bytes are lost.
        lost: u64,
        /// The bytes that follow the hole.
        data: &'a [u8],
    },
}

/// The high-water mark of one terminal view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Offset just past the last byte written; `None` until the first replay.
    next: Option<u64>,
}

impl Cursor {
    /// A view that has written nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset to ask a replay from: 0 at first, then just past the last written byte.
    pub fn resume_offset(&self) -> u64 {
        self.next.unwrap_or(0)
    }

    /// True once the first replay was applied.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Starts over when the session's output restarted (a new process under the same id, say
    /// after its host came back): a replay reporting fewer bytes ever written than this view
    /// already wrote. Returns whether it did; the next replay then resets the terminal.
    pub fn restarted(&mut self, total_written: u64) -> bool {
        let restarted = self.next.is_some_and(|next| total_written < next);
        if restarted {
            self.next = None;
        }
        restarted
    }

    /// Cuts a `replay {data, offset}` reply against the mark.
    pub fn replay<'a>(&mut self, offset: u64, data: &'a [u8]) -> Step<'a> {
        let end = offset + data.len() as u64;
        match self.next {
            None => {
                self.next = Some(end);
                Step::ResetAndWrite(data)
            }
            Some(next) if offset > next => {
                self.next = Some(end);
                Step::Dropped {
                    lost: offset - next,
                    data,
                }
            }
            Some(_) => self.cut(offset, data),
        }
    }

    /// Cuts a `pty {data, offset}` frame against the mark.
    pub fn pty<'a>(&mut self, offset: u64, data: &'a [u8]) -> Step<'a> {
        match self.next {
            None => Step::Skip,
            Some(next) if offset > next => Step::Gap {
                from: next,
                to: offset,
            },
            Some(_) => self.cut(offset, data),
        }
    }

    fn cut<'a>(&mut self, offset: u64, data: &'a [u8]) -> Step<'a> {
        let next = self.next.unwrap_or(offset);
        let end = offset + data.len() as u64;
        if end <= next {
            return Step::Skip;
        }
        let skip = usize::try_from(next.saturating_sub(offset)).unwrap_or(data.len());
        self.next = Some(end);
        Step::Write(&data[skip..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pty_before_first_replay_is_skipped() {
        let mut c = Cursor::new();
        assert_eq!(c.pty(0, b"abc"), Step::Skip);
        assert_eq!(c.resume_offset(), 0);
        assert!(!c.started());
    }

    #[test]
    fn first_replay_resets_then_overlapping_frames_are_trimmed() {
        let mut c = Cursor::new();
        assert_eq!(c.replay(0, b"hello"), Step::ResetAndWrite(b"hello"));
        // A frame that was already covered by the replay.
        assert_eq!(c.pty(2, b"llo"), Step::Skip);
        // A frame that overlaps the end.
        assert_eq!(c.pty(3, b"lo world"), Step::Write(b" world"));
        assert_eq!(c.resume_offset(), 11);
        assert_eq!(c.pty(11, b"!"), Step::Write(b"!"));
    }

    #[test]
    fn a_hole_is_reported_not_written() {
        let mut c = Cursor::new();
        c.replay(0, b"ab");
        assert_eq!(c.pty(5, b"xyz"), Step::Gap { from: 2, to: 5 });
        assert_eq!(c.resume_offset(), 2, "the mark does not move past a hole");
        // The replay that fills the hole continues seamlessly.
        assert_eq!(c.replay(2, b"cdexyz"), Step::Write(b"cdexyz"));
        assert_eq!(c.resume_offset(), 8);
    }

    #[test]
    fn reconnect_replay_continues_without_duplicates() {
        let mut c = Cursor::new();
        c.replay(0, b"0123456789");
        // After a reconnect the view asks from 10, but a server may answer from earlier.
        assert_eq!(c.replay(7, b"789abc"), Step::Write(b"abc"));
        // An empty replay exactly at the mark writes nothing.
        assert_eq!(c.replay(13, b""), Step::Skip);
    }

    #[test]
    fn a_restarted_output_starts_over() {
        let mut c = Cursor::new();
        c.replay(0, b"0123456789");
        assert!(!c.restarted(10), "the same output, nothing new");
        assert!(!c.restarted(50));
        assert!(c.restarted(4), "fewer bytes than written: a new process");
        assert_eq!(c.replay(0, b"new!"), Step::ResetAndWrite(b"new!"));
    }

    #[test]
    fn replay_past_the_mark_reports_lost_bytes() {
        let mut c = Cursor::new();
        c.replay(100, b"tail");
        assert_eq!(c.resume_offset(), 104);
        assert_eq!(
            c.replay(200, b"new"),
            Step::Dropped {
                lost: 96,
                data: b"new"
            }
        );
        assert_eq!(c.resume_offset(), 203);
    }

    #[test]
    fn stream_reassembles_exactly_from_random_overlaps() {
        // Chunks of a known stream, delivered with overlaps and repeats, rebuild it exactly.
        let stream: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = Cursor::new();
        let mut out = Vec::new();
        if let Step::ResetAndWrite(d) = c.replay(0, &stream[..100]) {
            out.extend_from_slice(d);
        }
        let mut pos = 50usize;
        let mut step = 1usize;
        while pos < stream.len() {
            let end = (pos + 37 * step % 200 + 1).min(stream.len());
            match c.pty(pos as u64, &stream[pos..end]) {
                Step::Write(d) => out.extend_from_slice(d),
                Step::Skip => {}
                other => panic!("unexpected {other:?}"),
            }
            // Next chunk starts somewhere inside or right after this one.
            pos = end - (step % 3).min(end - pos);
            step += 1;
        }
        assert_eq!(out, stream);
    }
}
