//! `coopmux agent-hook <dir>`: the command Claude Code runs for each hook event. It sends the
//! event (its stdin) to the host named in `<dir>/endpoint.json` and exits 0 with nothing on
//! stdout whatever happens, so the agent goes on as if no hook were configured: the host only
//! watches. Plain blocking std I/O and no runtime, because Claude Code waits for every hook.

use super::setup::{Endpoint, ENDPOINT_FILE, HOOK_SUBCOMMAND};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest hook event delivered (a `Write` tool's input holds the whole file).
pub const MAX_HOOK_BYTES: u64 = 4 << 20; // 4 MiB
/// Bound on reaching the host.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000); // 1 s
/// Bound on each read and write once connected.
const IO_TIMEOUT: Duration = Duration::from_millis(2000); // 2 s
/// Most of the host's reply read (a status line and a few headers).
const MAX_REPLY_BYTES: u64 = 4 << 10; // 4 KiB

/// The directory when the command line is `coopmux agent-hook <dir>`.
pub fn invocation(mut args: impl Iterator<Item = OsString>) -> Option<PathBuf> {
    let _program = args.next()?;
    if args.next()? != HOOK_SUBCOMMAND {
        return None;
    }
    let dir = args.next()?;
    args.next().is_none().then(|| PathBuf::from(dir))
}

/// Delivers the event on stdin; the exit code is always 0.
pub fn run(dir: &Path) -> i32 {
    let mut event = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_HOOK_BYTES + 1)
        .read_to_end(&mut event);
    if read.is_ok() && event.len() as u64 <= MAX_HOOK_BYTES {
        if let Err(err) = deliver(dir, &event) {
            // Claude Code shows a hook's stderr only in its debug view.
            eprintln!("coopmux agent-hook: {err}");
        }
    }
    0
}

fn deliver(dir: &Path, event: &[u8]) -> std::io::Result<()> {
    let endpoint: Endpoint = serde_json::from_slice(&std::fs::read(dir.join(ENDPOINT_FILE))?)?;
    let mut stream = TcpStream::connect_timeout(&endpoint.addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        endpoint.addr,
        endpoint.token,
        event.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(event);
    stream.write_all(&request)?;
    // Waiting for the reply keeps the events in order: the next hook starts after this one
    // was taken.
    let mut reply = Vec::new();
    stream.take(MAX_REPLY_BYTES).read_to_end(&mut reply)?;
    if reply.starts_with(b"HTTP/1.1 2") {
        Ok(())
    } else {
        let line = reply.split(|b| *b == b'\r').next().unwrap_or_default();
        Err(std::io::Error::other(format!(
            "the host refused the event: {}",
            String::from_utf8_lossy(line)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(list: &[&str]) -> impl Iterator<Item = OsString> {
        list.iter()
            .map(OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn only_the_exact_hook_command_line_is_taken() {
        assert_eq!(
            invocation(os(&["coopmux", "agent-hook", "/d"])),
            Some(PathBuf::from("/d"))
        );
        assert_eq!(invocation(os(&["coopmux", "agent-hook"])), None);
        assert_eq!(invocation(os(&["coopmux", "agent-hook", "/d", "x"])), None);
        assert_eq!(
            invocation(os(&["coopmux", "session", "--", "agent-hook"])),
            None
        );
    }
}
