//! Health checks over kept-alive plain connections (docs/architecture.md, "What a session
//! costs").
//!
//! A sweep checks every session every `--health-check-ms`; at ten thousand sessions a new
//! TCP connection per check is most of the hub's idle CPU, and a full HTTP client pool per
//! origin (buffers, timers, a connection task) is most of its memory. So a check of an
//! `http://` upstream writes its request on a bare idle socket kept per origin and reads the
//! reply into a buffer that exists only during the check: an idle session costs one socket.
//! At most [`IDLE_PER_ORIGIN`] sockets are kept per origin, each for the pool's idle timeout;
//! [`HealthPool::forget`] closes an origin's sockets at once when its session is removed.
//! Anything unusual (TLS, a URL with userinfo or a query, a reply without `Content-Length`)
//! is left to the caller's HTTP client.

use super::{UpstreamError, CONNECT_TIMEOUT, HEALTH_BODY_BYTES};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle sockets kept per origin (count): sessions of one origin are checked at the same time
/// only when several share it.
const IDLE_PER_ORIGIN: usize = 4;
/// Largest reply head read (bytes).
const HEAD_BYTES: usize = 16 << 10;
/// Headers parsed in a reply (count).
const MAX_HEADERS: usize = 32;

/// A check this module does not do; the caller's HTTP client does it instead.
#[derive(Debug)]
pub(super) struct Unsupported;

/// Where a check goes: the connect address, `Host` header and request line.
struct Target {
    origin: String,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    fn of(base: &str) -> Option<Self> {
        let url = reqwest::Url::parse(base).ok()?;
        if url.scheme() != "http"
            || !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return None;
        }
        let port = url.port_or_known_default()?;
        // An IPv6 literal is bracketed in the URL, bare for connecting.
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str()?),
            None => url.host_str()?.to_owned(),
        };
        Some(Self {
            origin: url.origin().ascii_serialization(),
            host,
            port,
            authority,
            path: format!("{}/api/v1/health", url.path().trim_end_matches('/')),
        })
    }
}

struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// Idle health-check sockets by origin.
#[derive(Default)]
pub(super) struct HealthPool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

/// What one exchange on a socket gave.
enum Exchange {
    /// A complete reply: its outcome, and whether the socket may be kept.
    Done(Result<(), UpstreamError>, bool),
    /// A reused socket the upstream had closed meanwhile: try a new one.
    Stale,
    /// A reply this module does not parse.
    Unsupported,
}

impl HealthPool {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<Idle>>> {
        // Only whole sockets are ever in the map.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET {base}/api/v1/health`: `Err(Unsupported)` when the caller's client must do it.
    pub(super) async fn check(
        &self,
        base: &str,
        idle_timeout: Duration,
    ) -> Result<Result<(), UpstreamError>, Unsupported> {
        let target = Target::of(base).ok_or(Unsupported)?;
        if let Some(stream) = self.take(&target.origin, idle_timeout) {
            match exchange(stream, &target).await {
                (Exchange::Stale, _) => {}
                (outcome, stream) => return self.settle(&target, outcome, stream),
            }
        }
        let stream = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Ok(Err(UpstreamError::Transport(format!("connect: {err}")))),
            Err(_) => {
                return Ok(Err(UpstreamError::Transport(
                    "connect timed out".to_owned(),
                )))
            }
        };
        let _ = stream.set_nodelay(true);
        match exchange(stream, &target).await {
            (Exchange::Stale, _) => Ok(Err(UpstreamError::Transport(
                "connection closed before a reply".to_owned(),
            ))),
            (outcome, stream) => self.settle(&target, outcome, stream),
        }
    }

    fn settle(
        &self,
        target: &Target,
        outcome: Exchange,
        stream: TcpStream,
    ) -> Result<Result<(), UpstreamError>, Unsupported> {
        match outcome {
            Exchange::Done(result, keep) => {
                if keep {
                    self.put(&target.origin, stream);
                }
                Ok(result)
            }
            Exchange::Stale => unreachable!("handled by the caller"),
            Exchange::Unsupported => Err(Unsupported),
        }
    }

    /// The most recently used idle socket of `origin` that is young enough.
    fn take(&self, origin: &str, idle_timeout: Duration) -> Option<TcpStream> {
        let mut idle = self.lock();
        let sockets = idle.get_mut(origin)?;
        sockets.retain(|s| s.since.elapsed() < idle_timeout);
        let stream = sockets.pop().map(|s| s.stream);
        if sockets.is_empty() {
            idle.remove(origin);
        }
        stream
    }

    fn put(&self, origin: &str, stream: TcpStream) {
        let mut idle = self.lock();
        let sockets = idle.entry(origin.to_owned()).or_default();
        if sockets.len() < IDLE_PER_ORIGIN {
            sockets.push(Idle {
                stream,
                since: Instant::now(),
            });
        }
    }

    /// Closes the idle sockets of `origin`.
    pub(super) fn forget(&self, origin: &str) {
        self.lock().remove(origin);
    }

    /// Closes the idle sockets of every origin not in `keep`, and those idle too long.
    pub(super) fn retain(&self, keep: &HashSet<String>, idle_timeout: Duration) {
        self.lock().retain(|origin, sockets| {
            sockets.retain(|s| s.since.elapsed() < idle_timeout);
            keep.contains(origin) && !sockets.is_empty()
        });
    }

    /// The origins with an idle socket.
    pub(super) fn origins(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

/// Writes the request and reads the reply; gives the socket back for reuse.
async fn exchange(mut stream: TcpStream, target: &Target) -> (Exchange, TcpStream) {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
        target.path, target.authority
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (Exchange::Stale, stream);
    }
    let mut buf = Vec::with_capacity(1024);
    let outcome = loop {
        if buf.len() >= HEAD_BYTES {
            break Exchange::Done(Err(UpstreamError::TooLarge(HEAD_BYTES)), false);
        }
        match read_more(&mut stream, &mut buf).await {
            Ok(0) if buf.is_empty() => break Exchange::Stale,
            Ok(0) => {
                break Exchange::Done(
                    Err(UpstreamError::Transport(
                        "connection closed mid-reply".to_owned(),
                    )),
                    false,
                )
            }
            Ok(_) => {}
            Err(err) if buf.is_empty() => {
                tracing::debug!(%err, "health socket failed before a reply");
                break Exchange::Stale;
            }
            Err(err) => {
                break Exchange::Done(Err(UpstreamError::Transport(err.to_string())), false)
            }
        }
        match parse(&mut stream, &mut buf).await {
            Some(outcome) => break outcome,
            None => continue,
        }
    };
    (outcome, stream)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// The outcome once `buf` holds a whole head (reading the body as needed); `None` to read
/// more of the head.
async fn parse(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Exchange> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reply = httparse::Response::new(&mut headers);
    let head_len = match reply.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return None,
        Err(err) => {
            let err = UpstreamError::Transport(format!("invalid HTTP reply: {err}"));
            return Some(Exchange::Done(Err(err), false));
        }
    };
    let code = reply.code.unwrap_or(0);
    let header = |name: &str| {
        reply
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let close = header("connection").is_some_and(|v| v.contains("close"));
    if (100..200).contains(&code) || header("transfer-encoding").is_some() {
        return Some(Exchange::Unsupported);
    }
    let Some(length) = length else {
        return Some(Exchange::Unsupported);
    };
    let status = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
    if !status.is_success() {
        // The body is not read: the socket is not reused.
        return Some(Exchange::Done(Err(UpstreamError::Status(status)), false));
    }
    if length > HEALTH_BODY_BYTES {
        return Some(Exchange::Done(
            Err(UpstreamError::TooLarge(HEALTH_BODY_BYTES)),
            false,
        ));
    }
    buf.drain(..head_len);
    while buf.len() < length {
        match read_more(stream, buf).await {
            Ok(0) | Err(_) => {
                let err = UpstreamError::Transport("connection closed mid-body".to_owned());
                return Some(Exchange::Done(Err(err), false));
            }
            Ok(_) => {}
        }
    }
    // More than announced means the upstream is out of step: do not reuse the socket.
    let exact = buf.len() == length;
    let result = serde_json::from_slice::<serde::de::IgnoredAny>(&buf[..length])
        .map(|_| ())
        .map_err(|e| UpstreamError::InvalidJson(e.to_string()));
    Some(Exchange::Done(result, exact && !close))
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn targets_keep_the_path_prefix_and_leave_tls_and_userinfo_to_the_client() {
        let t = Target::of("http://127.0.0.2:8080/coop").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.2", 8080));
        assert_eq!(t.authority, "127.0.0.2:8080");
        assert_eq!(t.path, "/coop/api/v1/health");
        assert_eq!(t.origin, "http://127.0.0.2:8080");
        let t = Target::of("http://[::1]").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 80, "[::1]")
        );
        assert_eq!(t.path, "/api/v1/health");
        assert!(Target::of("https://h").is_none());
        assert!(Target::of("http://u:p@h").is_none());
        assert!(Target::of("http://h/?q").is_none());
    }
}
