//! What the server's integration tests (`api`, `streams`, `host`) and benches share, built once: real
//! hubs and session hosts on 127.0.0.1 port 0, stopped when dropped, their clients, and
//! stand-ins for the services they talk to.
//!
//! - [`claude`]: a session host running claudeless, the Claude Code simulator ([`Claude`]);
//! - [`hub`]: the hub in-process ([`TestServer`]), with HTTP helpers;
//! - [`hub_process`]: the `coopmux` binary as a child process, its log kept ([`HubProcess`]);
//! - [`nats`]: a real `nats-server` on a free port ([`NatsServer`]);
//! - [`session`]: `coopmux session` as a child process ([`Session`]);
//! - [`ws`]: WebSocket clients, the PTY byte-stream collector, the `/ws/mux` event recorder;
//! - [`upstream`]: a coop-like upstream whose answers tests steer ([`MockUpstream`]);
//! - [`oauth`]: a local OAuth server ([`OAuthServer`]);
//! - [`procs`]: `/proc` readings and process-group cleanup;
//! - [`stamps`]: the benches' hook time stamps and percentiles;
//! - [`temp`]: private temporary directories;
//! - [`unprivileged`]: processes of an unprivileged user (permission tests run as root).

pub mod claude;
pub mod hub;
pub mod hub_process;
pub mod nats;
pub mod oauth;
pub mod procs;
pub mod session;
pub mod stamps;
pub mod temp;
pub mod unprivileged;
pub mod upstream;
pub mod ws;

pub use claude::Claude;
pub use hub::{client, expect_envelope, get_json, hub_args, metric, metrics, register, TestServer};
pub use hub_process::HubProcess;
pub use nats::NatsServer;
pub use oauth::OAuthServer;
pub use session::{screen_has, Opts, Session};
pub use temp::{state_dir, TempDir};
pub use upstream::MockUpstream;
pub use ws::{Events, Ws};

use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// Longest any single wait on an in-process hub or one session host may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Longest wait where several processes must start and talk to each other first (hub
/// processes, launches, credential pushes).
pub const LONG_WAIT: Duration = Duration::from_secs(20);

/// How long the tests' HTTP clients keep an idle connection: half the time the servers give a
/// kept-alive connection to send its next request (the header timeout,
/// `edge::listener::HEADER_READ_TIMEOUT`, 10 s), so that a client never reuses a connection as
/// the server closes it. reqwest keeps one 90 s by default, and the reuse then fails with a
/// reset: most often after a hub was paused, which on waking closes every connection that
/// idled through the pause.
pub const POOL_IDLE: Duration = Duration::from_secs(5);

/// A reqwest client builder whose pool lets idle connections go first ([`POOL_IDLE`]).
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(POOL_IDLE)
}

/// Polls `probe` every 50 ms until it yields a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(limit: Duration, probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_every(limit, Duration::from_millis(50), probe).await
}

/// Polls `probe` every `every` until it yields a value or `limit` passes.
pub async fn wait_every<T, F, Fut>(limit: Duration, every: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Like [`wait_for`] with [`WAIT`], failing the test with `what` when it times out.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for(WAIT, probe)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Waits until `path` exists: how a test's shell script says it got somewhere (e.g. `stty
/// -echo` is in force, so input typed from now on is not echoed).
pub async fn file_appears(path: &Path) {
    let what = path.display().to_string();
    eventually(&what, || async { path.exists().then_some(()) }).await;
}

/// Guard of the tests that check PTY streams byte for byte (the `/ws/{id}` bridge tests, the
/// host's high-volume replay tests): they run one at a time. Their debug-built clients must
/// keep ahead of 4 MiB output logs (a client that falls behind is resynchronised, which these
/// tests count as a failure), and next to each other they did not on a loaded machine.
pub async fn serial_stream() -> tokio::sync::MutexGuard<'static, ()> {
    static STREAMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    STREAMS.lock().await
}
