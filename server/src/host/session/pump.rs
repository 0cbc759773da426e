//! The two threads that move output: PTY → log (reader) and log → emulator (screen).

use super::{lock, Host};
use std::io::Read;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Size of one read from the PTY.
const READ_CHUNK_BYTES: usize = 64 << 10; // 64 KiB
/// Most bytes parsed under one lock of the screen (bounds how long `/screen` can wait).
const PARSE_CHUNK_BYTES: usize = 32 << 10; // 32 KiB
/// Emulator backlog beyond which it skips ahead to the tail (bulk output).
const SCREEN_MAX_LAG_BYTES: u64 = 256 << 10; // 256 KiB
/// Tail parsed when skipping ahead; enough lines to repaint any screen.
const SCREEN_TAIL_BYTES: u64 = 64 << 10; // 64 KiB
/// Pause after a bulk-mode parse, so bulk output cannot keep the emulator busy all the time.
const SCREEN_BULK_PAUSE: Duration = Duration::from_millis(20); // 20 ms

impl Host {
    /// Reads one child's PTY until EOF: appends to the log and wakes the clients and the
    /// screen thread, then cancels `closed`. Runs on a dedicated thread because the read
    /// blocks. It never parses: the emulator is far slower than the PTY under heavy output
    /// and must not throttle it.
    pub fn pump_output(
        &self,
        mut reader: Box<dyn Read + Send>,
        screen: std::thread::Thread,
        closed: CancellationToken,
    ) {
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO: every slave descriptor is closed, i.e. the child and its heirs are gone.
                Err(_) => break,
            };
            let total = {
                let mut log = self.log.lock();
                log.append(&buf[..n]);
                log.total()
            };
            self.touch_output();
            // After the timestamp: whoever sees the new total also sees the new time.
            self.log.set_end(total);
            screen.unpark();
        }
        closed.cancel();
        screen.unpark();
    }

    /// Feeds the emulator from the log, following the readers of every child in turn. Runs
    /// on its own thread until the host stops.
    ///
    /// Under bulk output (a backlog beyond `SCREEN_MAX_LAG_BYTES`) it parses only the newest
    /// `SCREEN_TAIL_BYTES`, resynchronised at a line start, and then pauses briefly: the
    /// visible screen is decided by the tail, and the emulator must not take a whole core
    /// from the PTY and the clients. The output log and `pty` frames stay exact.
    pub fn pump_screen(&self) {
        let mut buf = Vec::with_capacity(PARSE_CHUNK_BYTES);
        let mut parsed = 0u64;
        loop {
            buf.clear();
            let bulk = self.total().saturating_sub(parsed) > SCREEN_MAX_LAG_BYTES;
            let from = if bulk {
                self.total().saturating_sub(SCREEN_TAIL_BYTES)
            } else {
                parsed
            };
            let start = self.read_output(from, PARSE_CHUNK_BYTES, &mut buf);
            if buf.is_empty() {
                if self.stopping.is_cancelled() {
                    return;
                }
                std::thread::park();
                continue;
            }
            let mut data = &buf[..];
            if start > parsed {
                // Resync at a line start rather than in the middle of an escape sequence.
                if let Some(nl) = data.iter().position(|&b| b == b'\n') {
                    data = &data[nl + 1..];
                }
            }
            parsed = start + buf.len() as u64;
            let seq = {
                let mut screen = lock(&self.screen);
                screen.process(data);
                screen.seq()
            };
            self.screen_seq.send_replace(seq);
            if bulk {
                std::thread::sleep(SCREEN_BULK_PAUSE);
            }
        }
    }
}
