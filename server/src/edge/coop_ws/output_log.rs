//! The output log: a bounded ring buffer of PTY output addressed by absolute byte offsets.
//!
//! Offsets count every byte the child wrote since start, so they never wrap. The log keeps only
//! the newest `capacity` bytes; a read at an offset that was overwritten starts at the oldest
//! byte still held, and the returned offset says where the data really starts.

/// Default capacity of the output log.
pub const OUTPUT_LOG_BYTES: usize = 4 << 20; // 4 MiB

/// A bounded ring buffer of output bytes.
#[derive(Debug)]
pub struct OutputLog {
    /// Storage; allocated up front (untouched pages cost no RSS until written).
    buf: Vec<u8>,
    /// Bytes written since start (the absolute offset of the next byte).
    total: u64,
}

impl OutputLog {
    /// An empty log holding at most `capacity` bytes (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(1)],
            total: 0,
        }
    }

    /// Bytes written since start.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Absolute offset of the oldest byte still held.
    pub fn oldest(&self) -> u64 {
        self.total.saturating_sub(self.capacity() as u64)
    }

    fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes, overwriting the oldest ones when full.
    pub fn append(&mut self, data: &[u8]) {
        let cap = self.capacity();
        // Only the last `cap` bytes of an oversized chunk can survive.
        let skip = data.len().saturating_sub(cap);
        let kept = &data[skip..];
        let start = ((self.total + skip as u64) % cap as u64) as usize;
        let first = kept.len().min(cap - start);
        self.buf[start..start + first].copy_from_slice(&kept[..first]);
        self.buf[..kept.len() - first].copy_from_slice(&kept[first..]);
        self.total += data.len() as u64;
    }

    /// Appends to `out` up to `limit` bytes starting at `offset` (clamped to what is held) and
    /// returns the absolute offset of the first byte appended.
    pub fn read_into(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64 {
        let start = offset.clamp(self.oldest(), self.total);
        let len = ((self.total - start) as usize).min(limit);
        let cap = self.capacity();
        let pos = (start % cap as u64) as usize;
        let first = len.min(cap - pos);
        out.extend_from_slice(&self.buf[pos..pos + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(log: &OutputLog, offset: u64, limit: usize) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        let start = log.read_into(offset, limit, &mut out);
        (start, out)
    }

    #[test]
    fn reads_back_what_was_written() {
        let mut log = OutputLog::new(8);
        log.append(b"hello");
        assert_eq!(read(&log, 0, 100), (0, b"hello".to_vec()));
        assert_eq!(read(&log, 2, 2), (2, b"ll".to_vec()));
        assert_eq!(read(&log, 9, 2), (5, Vec::new()));
    }

    #[test]
    fn wraps_and_reports_the_real_start() {
        let mut log = OutputLog::new(8);
        log.append(b"0123456789");
        assert_eq!(log.total(), 10);
        assert_eq!(log.oldest(), 2);
        assert_eq!(read(&log, 0, 100), (2, b"23456789".to_vec()));
        log.append(b"abc");
        assert_eq!(read(&log, 4, 100), (5, b"56789abc".to_vec()));
        assert_eq!(read(&log, 11, 1), (11, b"b".to_vec()));
    }

    #[test]
    fn matches_a_model_over_many_appends() {
        let mut log = OutputLog::new(97);
        let mut model = Vec::new();
        for i in 0..500u32 {
            let chunk: Vec<u8> = (0..(i * 7 % 150)).map(|b| (b + i) as u8).collect();
            log.append(&chunk);
            model.extend_from_slice(&chunk);
            let oldest = model.len().saturating_sub(97);
            let (start, data) = read(&log, 0, usize::MAX);
            assert_eq!(start as usize, oldest);
            assert_eq!(data, model[oldest..]);
        }
    }
}
