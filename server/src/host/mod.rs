//! The built-in coop-compatible session host: `coopmux session -- CMD`.
//!
//! `pty` runs the child; `session` holds the shared state (output log, screen, agent state), fed by
//! a reader thread (PTY → log) and a screen thread (log → emulator), the agent state decided by
//! the detectors of `detect`; `http` and `ws` serve coop's API; `register` announces the
//! session to a mux; `lifecycle` watches and replaces the child; `agent` knows Claude Code (its
//! hooks, its screen, the keys that answer it). This module starts it all and, once a stop is
//! asked for, deregisters and exits with the last child's code.

pub mod agent;
pub mod detect;
pub mod error;
pub mod http;
pub mod keys;
pub mod lifecycle;
pub mod nats;
pub mod pty;
pub mod register;
pub mod screen;
pub mod session;
pub mod state;
pub mod upload;
pub mod ws;

use crate::edge::coop_ws::output_log::OUTPUT_LOG_BYTES;
use crate::edge::guard::Guard;
use clap::Args;
use lifecycle::Supervisor;
use register::{Registration, SelfInfo};
use session::Host;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Bound on the deregistration call at exit.
const DEREGISTER_TIMEOUT: Duration = Duration::from_millis(300); // 300 ms
/// Bound on closing connections at exit.
const SERVER_DRAIN: Duration = Duration::from_millis(200); // 200 ms

/// Flags of `coopmux session`.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Address or host name to bind (a name binds its first IPv4 address, else IPv6).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: crate::edge::bind_host::BindHost,
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
    /// Which agent runs: `auto` takes `claude` and `claudeless` for Claude Code (state from its
    /// hooks and screen, prompts answered by `respond`), `claude` forces it, `none` treats any
    /// command as a plain one.
    #[arg(long, value_enum, default_value_t = agent::AgentChoice::Auto)]
    pub agent: agent::AgentChoice,
    /// Directory of the host's private files (Claude Code's hook settings); default
    /// `$XDG_STATE_HOME/coop/mux`, then `~/.local/state/coop/mux`.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// Heartbeat period of the mux registration in milliseconds (default: coop's 15 s / 60 s).
    #[arg(long, hide = true)]
    pub heartbeat_ms: Option<u64>,
    /// Bytes a `/ws` `pty` client may fall behind before it gets a lag replay (default: the
    /// output log's capacity); tests shrink it to make lag quick.
    #[arg(long, hide = true)]
    pub ws_lag_bytes: Option<u64>,
    /// Milliseconds a client has to send a request's headers, and its first request.
    #[arg(long, hide = true, default_value_t = crate::edge::listener::HEADER_READ_TIMEOUT.as_millis() as u64)]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a request has to deliver its whole body.
    #[arg(long, hide = true, default_value_t = crate::edge::listener::BODY_READ_TIMEOUT.as_millis() as u64)]
    pub body_read_timeout_ms: u64,
    /// Milliseconds a kept-alive connection may stay open with nothing in flight.
    #[arg(long, hide = true, default_value_t = crate::edge::listener::IDLE_TIMEOUT.as_millis() as u64)]
    pub idle_timeout_ms: u64,
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
    /// Claude Code's hook settings could not be prepared.
    #[error(transparent)]
    Claude(#[from] agent::claude::setup::SetupError),
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
    let listener = crate::edge::bind_host::BindHost::bind(&addrs)
        .await
        .map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let env_id = std::env::var("COOP_MUX_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let session_id = env_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let size = (args.cols, args.rows);
    let (command, agent, receiver) = if args.agent.is_claude(&args.command) {
        let state_dir = crate::edge::state_dir::default_dir(args.state_dir.as_deref());
        let prepared = agent::claude::Claude::prepare(&args.command, &state_dir)?;
        let claude = agent::Agent::Claude(Box::new(prepared.claude));
        (prepared.command, claude, Some(prepared.receiver))
    } else {
        (args.command.clone(), agent::Agent::Plain, None)
    };
    let spawned = pty::spawn(&command, size, &Default::default())?;
    let pid = spawned.pty.pid();
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
    host = host.with_agent(agent);
    let host = Arc::new(host);
    let screen_host = Arc::clone(&host);
    let screen_thread = std::thread::Builder::new()
        .name("pty-screen".into())
        .spawn(move || screen_host.pump_screen())
        .map_err(SessionError::Thread)?;
    let supervisor = Supervisor::new(
        Arc::clone(&host),
        command.clone(),
        screen_thread.thread().clone(),
    );
    // Subscribed before the first reader runs, so that its first output counts.
    let total = host.subscribe_total();
    let spawns = host.subscribe_spawns();
    let first = supervisor
        .watch(pid, spawned.reader)
        .map_err(SessionError::Thread)?;
    let activity = match receiver {
        // Claude Code's state comes from its hooks and its screen.
        Some(receiver) => receiver.start(&host),
        None => {
            let activity_host = Arc::clone(&host);
            let idle = Duration::from_millis(args.idle_ms);
            tokio::spawn(async move {
                let last_output = || activity_host.last_output();
                let tracker = &activity_host.state;
                detect::process::run(tracker, total, spawns, idle, last_output).await;
            })
        }
    };

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
    let server = tokio::spawn(crate::edge::listener::serve(
        listener,
        router,
        crate::edge::listener::Limits::from_ms(
            crate::edge::listener::MAX_CONNECTIONS,
            args.header_read_timeout_ms,
            args.body_read_timeout_ms,
            args.idle_timeout_ms,
        ),
        stopping.cancelled_owned(),
    ));
    println!("http://{addr}");
    let _ = std::io::stdout().flush();

    let advertised = match (args.host.name(), addr.ip()) {
        (Some(name), _) => name.to_owned(),
        (None, h) if h.is_unspecified() => "127.0.0.1".to_owned(),
        (None, IpAddr::V6(h)) => format!("[{h}]"),
        (None, IpAddr::V4(h)) => h.to_string(),
    };
    let me = SelfInfo {
        port: addr.port(),
        host: advertised,
        auth_token: args.auth_token.as_deref(),
        labels: &args.labels,
        command: args.command.first().map_or("", String::as_str),
        agent: host.agent_kind().name(),
        fallback_id: &session_id,
        heartbeat: args.heartbeat_ms.map(Duration::from_millis),
    };
    let registration = Registration::from_env(|k| std::env::var(k).ok(), &me);
    let heartbeat = registration.clone().map(|r| tokio::spawn(r.run()));
    let _nats = nats::spawn(&host, &me);

    let exit = supervisor.run(first).await;

    host.stopping.cancel();
    screen_thread.thread().unpark();
    activity.abort();
    if let Some(claude) = host.claude() {
        // The process exits without dropping the host.
        claude.remove_files();
    }
    if let Some(task) = heartbeat {
        task.abort();
    }
    if let Some(registration) = &registration {
        registration.deregister(DEREGISTER_TIMEOUT).await;
    }
    let _ = tokio::time::timeout(SERVER_DRAIN, server).await;
    Ok(pty::exit_code(&exit))
}
