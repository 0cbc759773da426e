//! The built-in coop-compatible session host: `coopmux session -- CMD`.
//!
//! `pty` runs the child; `host` holds the shared state (output log, screen, agent state), fed by
//! a reader thread (PTY → log) and a screen thread (log → emulator); `http` and `ws` serve
//! coop's API; `register` announces the session to a mux. This module owns the lifecycle:
//! start, wait for the child or a stop request, keep answering for a grace period, deregister,
//! exit with the child's code.

pub mod error;
pub mod host;
pub mod http;
pub mod keys;
pub mod output_log;
pub mod pty;
pub mod register;
pub mod screen;
pub mod state;
pub mod upload;
pub mod ws;

use crate::guard::Guard;
use clap::Args;
use host::Host;
use nix::sys::signal::Signal;
use output_log::OUTPUT_LOG_BYTES;
use protocol::coop;
use protocol::AgentState;
use register::{Registration, SelfInfo};
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// How long the child gets to exit after SIGHUP/SIGTERM before SIGKILL.
const TERM_WAIT: Duration = Duration::from_millis(1000); // 1 s
/// How long to wait for the child to be reaped after SIGKILL.
const KILL_WAIT: Duration = Duration::from_millis(200); // 200 ms
/// How long the reader may take to drain the last output after the child exited (a grandchild
/// holding the terminal open must not delay the exit).
const OUTPUT_DRAIN: Duration = Duration::from_millis(200); // 200 ms
/// Bound on the deregistration call at exit.
const DEREGISTER_TIMEOUT: Duration = Duration::from_millis(300); // 300 ms
/// Bound on closing connections at exit.
const SERVER_DRAIN: Duration = Duration::from_millis(200); // 200 ms

/// Flags of `coopmux session`.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Address or host name to bind (a name binds its first IPv4 address, else IPv6).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: crate::bind_host::BindHost,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Bearer token protecting the API (all but health).
    #[arg(long)]
    pub auth_token: Option<String>,
    /// Host name the session may be reached as, besides `localhost` and IP addresses
    /// (repeatable); the DNS-rebinding allow-list.
    #[arg(long = "allowed-host", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Browser origin allowed to use the API and `/ws` besides the session's own (repeatable).
    #[arg(long = "allowed-origin", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Terminal columns.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub cols: u16,
    /// Terminal rows.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rows: u16,
    /// Registration metadata `key=value` (dots nest); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Milliseconds without output before the state becomes `idle`.
    #[arg(long, default_value_t = 1500)]
    pub idle_ms: u64,
    /// Milliseconds the host keeps answering after the child exited.
    #[arg(long, default_value_t = 5000)]
    pub exit_grace_ms: u64,
    /// Heartbeat period of the mux registration in milliseconds (default: coop's 15 s / 60 s).
    #[arg(long, hide = true)]
    pub heartbeat_ms: Option<u64>,
    /// Bytes a `/ws` `pty` client may fall behind before it gets a lag replay (default: the
    /// output log's capacity); tests shrink it to make lag quick.
    #[arg(long, hide = true)]
    pub ws_lag_bytes: Option<u64>,
    /// Command and arguments to run on the PTY.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// Errors that stop the session host from starting.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The PTY or the child could not be started.
    #[error(transparent)]
    Pty(#[from] pty::PtyError),
    /// A helper thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Runs the session host; returns the child's exit code (128 + signal when it was killed).
pub async fn run(args: SessionArgs) -> Result<i32, SessionError> {
    let bind_err = |source| SessionError::Bind {
        addr: format!("{}:{}", args.host, args.port),
        source,
    };
    let addrs = args.host.resolve(args.port).await.map_err(bind_err)?;
    let listener = crate::bind_host::BindHost::bind(&addrs)
        .await
        .map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let env_id = std::env::var("COOP_MUX_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let session_id = env_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let spawned = pty::spawn(&args.command, args.cols, args.rows)?;
    let size = (args.cols, args.rows);
    let mut host = Host::new(
        session_id.clone(),
        args.auth_token.clone(),
        spawned.pty,
        size,
        OUTPUT_LOG_BYTES,
    );
    if let Some(bytes) = args.ws_lag_bytes {
        host = host.with_ws_lag_bytes(bytes);
    }
    let host = Arc::new(host);
    let screen_host = Arc::clone(&host);
    let screen_thread = std::thread::Builder::new()
        .name("pty-screen".into())
        .spawn(move || screen_host.pump_screen())
        .map_err(SessionError::Thread)?;
    let reader_host = Arc::clone(&host);
    let reader = spawned.reader;
    let screen_waker = screen_thread.thread().clone();
    std::thread::Builder::new()
        .name("pty-reader".into())
        .spawn(move || reader_host.pump_output(reader, screen_waker))
        .map_err(SessionError::Thread)?;
    let (exit_tx, exit_rx) = oneshot::channel();
    let pid = host.pty().pid();
    std::thread::Builder::new()
        .name("pty-wait".into())
        .spawn(move || {
            let _ = exit_tx.send(pty::wait_child(pid));
        })
        .map_err(SessionError::Thread)?;
    host.state.set(AgentState::Working, "spawned");
    let activity_host = Arc::clone(&host);
    let idle = Duration::from_millis(args.idle_ms);
    let activity = tokio::spawn(async move {
        let total = activity_host.subscribe_total();
        let last_output = || activity_host.last_output();
        state::run_activity(&activity_host.state, total, idle, last_output).await;
    });

    let upload_root = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let router = http::router(http::HttpState {
        host: Arc::clone(&host),
        upload_root: Arc::new(upload_root),
        guard: Arc::new(Guard::new(
            args.auth_token.as_deref().is_some_and(|t| !t.is_empty()),
            &args.allowed_hosts,
            &args.allowed_origins,
        )),
    });
    let stopping = host.stopping.clone();
    let server = tokio::spawn(crate::listener::serve(
        listener,
        router,
        crate::listener::Limits::default(),
        stopping.cancelled_owned(),
    ));
    println!("http://{addr}");
    let _ = std::io::stdout().flush();

    let advertised = match addr.ip() {
        h if h.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(h) => format!("[{h}]"),
        IpAddr::V4(h) => h.to_string(),
    };
    let me = SelfInfo {
        port: addr.port(),
        host: advertised,
        auth_token: args.auth_token.as_deref(),
        labels: &args.labels,
        command: args.command.first().map_or("", String::as_str),
        fallback_id: &session_id,
        heartbeat: args.heartbeat_ms.map(Duration::from_millis),
    };
    let registration = Registration::from_env(|k| std::env::var(k).ok(), &me);
    let heartbeat = registration.clone().map(|r| tokio::spawn(r.run()));

    let exit = lifecycle(&host, exit_rx, Duration::from_millis(args.exit_grace_ms)).await;

    host.stopping.cancel();
    activity.abort();
    if let Some(task) = heartbeat {
        task.abort();
    }
    if let Some(registration) = &registration {
        registration.deregister(DEREGISTER_TIMEOUT).await;
    }
    let _ = tokio::time::timeout(SERVER_DRAIN, server).await;
    Ok(pty::exit_code(&exit))
}

/// Waits for the child to exit (then for the grace period) or for a stop request (then stops
/// the child). Returns how the child ended.
async fn lifecycle(
    host: &Arc<Host>,
    mut exit_rx: oneshot::Receiver<coop::Exit>,
    grace: Duration,
) -> coop::Exit {
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let exited_alone = tokio::select! {
        exit = &mut exit_rx => Some(exit.unwrap_or(coop::Exit { code: None, signal: None })),
        () = recv_signal(&mut sigterm) => None,
        () = recv_signal(&mut sigint) => None,
        () = host.shutdown_requested.cancelled() => None,
    };
    let exit = match exited_alone {
        Some(exit) => exit,
        None => terminate_child(host, &mut exit_rx).await,
    };
    // The last output should reach the log (and the clients) before the exit is announced.
    let _ = tokio::time::timeout(OUTPUT_DRAIN, host.output_closed().cancelled()).await;
    host.state.set_exited(exit);
    tracing::info!(code = ?exit.code, signal = ?exit.signal, "child exited");
    if exited_alone.is_some() {
        tokio::select! {
            () = tokio::time::sleep(grace) => {}
            () = recv_signal(&mut sigterm) => {}
            () = recv_signal(&mut sigint) => {}
            () = host.shutdown_requested.cancelled() => {}
        }
    }
    exit
}

/// SIGHUP + SIGTERM to the child's process group, SIGKILL if it does not go in time.
async fn terminate_child(
    host: &Arc<Host>,
    exit_rx: &mut oneshot::Receiver<coop::Exit>,
) -> coop::Exit {
    // SIGHUP is what a closing terminal sends; interactive shells ignore SIGTERM but not SIGHUP.
    for sig in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGCONT] {
        let _ = host.pty().signal_group(sig);
    }
    if let Ok(Ok(exit)) = tokio::time::timeout(TERM_WAIT, &mut *exit_rx).await {
        return exit;
    }
    let _ = host.pty().signal_group(Signal::SIGKILL);
    match tokio::time::timeout(KILL_WAIT, exit_rx).await {
        Ok(Ok(exit)) => exit,
        _ => coop::Exit {
            code: None,
            signal: Some(Signal::SIGKILL as i32),
        },
    }
}

async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(sig) => {
            sig.recv().await;
        }
        None => std::future::pending().await,
    }
}
