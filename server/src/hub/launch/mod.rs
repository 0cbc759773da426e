//! The launch API's engine (docs/architecture.md, "The path of a launch"): runs the
//! configured command through `sh -c` with a checked, layered environment, in its own process
//! group, with its output captured through pipes, and tracks it until its session registers.
//!
//! `env` owns validation and precedence (`refused` the variables a launch may not set), `tracker` the launch records and events, `api` the
//! HTTP handlers, `k8s` the session pod manifest of `coopmux k8s-pod-manifest`.

pub mod api;
pub mod env;
pub mod k8s;
pub mod refused;
pub mod tracker;

use crate::{cli::ServeArgs, hub::metrics::Metrics, hub::registry::Registry};
use env::{CredentialSource, EnvError, NoCredentials, SystemVars};
use protocol::launch::LaunchResponse;
use protocol::mux::MuxEvent;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracker::Tracker;

/// Why a launch request failed; mapped to HTTP once, in [`api`].
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No `--launch` / `COOP_MUX_LAUNCH` (400, coop's message: docs/coop-protocol.md).
    #[error("launch command not configured")]
    NotConfigured,
    /// A user variable was refused (400).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// More than `--max-pending-launches` launches have not registered yet (429).
    #[error("too many pending launches: {0} launches have not registered yet")]
    Throttled(usize),
    /// `sh` could not be started (500, coop's message).
    #[error("failed to spawn: {0}")]
    Spawn(std::io::Error),
    /// No launch with that id (404).
    #[error("launch not found")]
    NotFound,
}

/// Launch settings derived from the command line and the bound address.
#[derive(Debug, Clone)]
pub struct LaunchSettings {
    /// The shell command, if any.
    pub command: Option<String>,
    /// `COOP_MUX_URL` for children.
    pub mux_url: String,
    /// The hub has a token: each child gets its own registration token as `COOP_MUX_TOKEN`
    /// (never the hub's; docs/security.md, "Agents inside sessions").
    pub registration_tokens: bool,
    /// How long a launch may take to register before it shows as `not_registered_yet` (and
    /// stops counting as pending); it is still watched, never stopped.
    pub timeout: Duration,
    /// Launches allowed to wait for registration at once.
    pub max_pending: usize,
}

impl LaunchSettings {
    /// Settings of these flags for a mux bound to `local`.
    pub fn from_args(args: &ServeArgs, local: SocketAddr) -> Self {
        Self {
            command: args.launch.clone().filter(|c| !c.trim().is_empty()),
            mux_url: child_mux_url(args.advertise_url.as_deref(), local),
            registration_tokens: args
                .auth_token
                .as_ref()
                .is_some_and(|t| !t.expose().is_empty()),
            timeout: Duration::from_millis(args.launch_timeout_ms.max(1)),
            max_pending: args.max_pending_launches,
        }
    }
}

/// The `COOP_MUX_URL` a child can reach: the advertised URL, else loopback for a wildcard
/// bind (a child on this host reaches it there), else the bind address (IPv6 in brackets).
pub fn child_mux_url(advertise: Option<&str>, local: SocketAddr) -> String {
    if let Some(url) = advertise.map(str::trim).filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    let port = local.port();
    match local.ip() {
        ip if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
        std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
        std::net::IpAddr::V4(ip) => format!("http://{ip}:{port}"),
    }
}

/// Where the launch → session links go besides this hub: the other replicas
/// (docs/scaling.md, "Launches and registration tokens").
pub trait LaunchLinks: Send + Sync + std::fmt::Debug {
    /// Launch `launch_id` became session `session_id` here.
    fn linked(&self, launch_id: &str, session_id: &str);
}

/// Spawns launch children and tracks them.
#[derive(Debug)]
pub struct Launcher {
    settings: LaunchSettings,
    tracker: Arc<Tracker>,
    registry: Arc<Registry>,
    credentials: Arc<dyn CredentialSource>,
    links: Option<Arc<dyn LaunchLinks>>,
}

impl Launcher {
    /// A launcher whose events go into the registry's feed. Credentials come from
    /// [`NoCredentials`] until [`Launcher::with_credentials`] hands it the broker.
    pub fn new(settings: LaunchSettings, registry: Arc<Registry>, metrics: Arc<Metrics>) -> Self {
        let tracker = Arc::new(Tracker::new(
            registry.event_sender(),
            metrics,
            settings.max_pending,
        ));
        Self {
            settings,
            tracker,
            registry,
            credentials: Arc::new(NoCredentials),
            links: None,
        }
    }

    /// Replaces the credential source (the broker's hook).
    pub fn with_credentials(mut self, credentials: Arc<dyn CredentialSource>) -> Self {
        self.credentials = credentials;
        self
    }

    /// Tells `links` of every launch linked to its session (the replicas' hook).
    pub fn with_links(mut self, links: Option<Arc<dyn LaunchLinks>>) -> Self {
        self.links = links;
        self
    }

    /// Whether a launch command is configured.
    pub fn available(&self) -> bool {
        self.settings.command.is_some()
    }

    /// The launch records.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// Links registrations to launches by consuming `session:online` from the feed: by the
    /// session id, else by the registration token the session used (a launch script that
    /// chose its own id). The subscription is taken before this returns, so no registration
    /// after it is missed; after a lag, every registered session is offered again.
    pub fn spawn_linker(&self, shutdown: CancellationToken) {
        let mut events = self.registry.subscribe();
        let tracker = self.tracker.clone();
        let registry = self.registry.clone();
        let links = self.links.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = events.recv() => event,
                };
                match event {
                    Ok(MuxEvent::SessionOnline { session, .. }) => {
                        link(&tracker, &registry, &session);
                    }
                    // Recorded for the replicas, where the first link of a launch stays, so
                    // a launch maps to one session for every replica (docs/scaling.md).
                    Ok(MuxEvent::LaunchRegistered {
                        launch_id,
                        session_id,
                    }) => {
                        if let Some(links) = &links {
                            links.linked(&launch_id, &session_id);
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {
                        for session in registry.sessions() {
                            link(&tracker, &registry, &session.id);
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Validates `env`, spawns the launch command and starts tracking it.
    pub fn launch(&self, env: &BTreeMap<String, String>) -> Result<LaunchResponse, LaunchError> {
        let command = self
            .settings
            .command
            .as_deref()
            .ok_or(LaunchError::NotConfigured)?;
        let user = env::user_layer(env)?;
        let session_id = env::session_id(&user)?;
        let launch_id = uuid::Uuid::new_v4().to_string();
        let mux_token =
            (self.settings.registration_tokens).then(|| self.registry.tokens().issue(&session_id));
        self.tracker
            .reserve(
                &launch_id,
                &session_id,
                mux_token.clone().map(crate::edge::secret::Secret::from),
            )
            .map_err(|t| LaunchError::Throttled(t.0))?;
        let system = SystemVars {
            mux_url: self.settings.mux_url.clone(),
            mux_token,
            session_id: session_id.clone(),
        };
        let vars = env::layered(
            user,
            &system,
            self.credentials.launch_credentials(&session_id),
        );
        let mut child = match spawn(command, vars) {
            Ok(child) => child,
            Err(err) => {
                tracing::warn!(launch = %launch_id, "launch spawn failed: {err}");
                self.tracker.spawn_failed(&launch_id, &err.to_string());
                return Err(LaunchError::Spawn(err));
            }
        };
        let pid = child.id();
        self.tracker.spawned(&launch_id, &session_id, pid);
        tracing::info!(launch = %launch_id, session = %session_id, pid, "launched");
        let mut captures = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            captures.push(tokio::spawn(capture(
                self.tracker.clone(),
                launch_id.clone(),
                "stdout",
                out,
            )));
        }
        if let Some(err) = child.stderr.take() {
            captures.push(tokio::spawn(capture(
                self.tracker.clone(),
                launch_id.clone(),
                "stderr",
                err,
            )));
        }
        tokio::spawn(supervise(
            self.tracker.clone(),
            self.registry.clone(),
            launch_id.clone(),
            Child {
                process: child,
                captures,
            },
            self.settings.timeout,
        ));
        Ok(LaunchResponse {
            launched: true,
            launch_id,
            session_id,
        })
    }
}

/// `sh -c COMMAND` with the mux's environment minus its secrets, plus `vars`; null stdin,
/// piped output (kept out of the mux's own log), in a new process group so that it outlives
/// a restart of the mux.
fn spawn(command: &str, vars: Vec<(String, String)>) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(env::is_withheld) {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(vars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Dropping the handle (mux shutdown) must not kill the session.
        .kill_on_drop(false);
    cmd.spawn()
}

/// Offers a registered session to the tracker: linked by id, else by the launch token it
/// registered with.
fn link(tracker: &Tracker, registry: &Registry, session_id: &str) {
    let tokens = registry.tokens();
    tracker.link(session_id, |token| tokens.covers(token, session_id));
}

/// A launched command and the tasks reading its output.
struct Child {
    process: tokio::process::Child,
    captures: Vec<tokio::task::JoinHandle<()>>,
}

/// How long an exited command's output may still be read before its exit is recorded: the
/// pipes usually hold its last lines (the ones that say why it failed), but a background
/// process it left behind may keep them open for ever.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

impl Child {
    /// Waits for the command to exit, then for its output to be read (bounded).
    async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.process.wait().await;
        let captures = futures_util::future::join_all(self.captures.drain(..));
        let _ = tokio::time::timeout(OUTPUT_DRAIN, captures).await;
        status
    }
}

/// Awaits the child (so it is always reaped) and marks the launch overdue at the registration
/// deadline. Never stops the child: a slow session may still register, and one that did
/// register must not lose its process because the link was late.
async fn supervise(
    tracker: Arc<Tracker>,
    registry: Arc<Registry>,
    launch_id: String,
    mut child: Child,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let finished = tokio::select! {
        status = child.exited() => Some(status),
        () = tokio::time::sleep_until(deadline) => None,
    };
    if let Some(status) = finished {
        record_exit(&tracker, &launch_id, status);
        // Handed off: it counts as pending until the deadline, like a running launch.
        if tracker.is_waiting(&launch_id) {
            tokio::time::sleep_until(deadline).await;
            overdue(&tracker, &registry, &launch_id, timeout_ms);
        }
        return;
    }
    overdue(&tracker, &registry, &launch_id, timeout_ms);
    record_exit(&tracker, &launch_id, child.exited().await);
}

fn record_exit(
    tracker: &Tracker,
    launch_id: &str,
    status: std::io::Result<std::process::ExitStatus>,
) {
    match status {
        Ok(status) => tracker.exited(launch_id, status),
        Err(err) => tracing::warn!(launch = %launch_id, "cannot wait for launch child: {err}"),
    }
}

/// The deadline passed: links the launch if its session did register (an event the linker
/// missed), else marks it overdue.
fn overdue(tracker: &Tracker, registry: &Registry, launch_id: &str, timeout_ms: u64) {
    let Some(detail) = tracker.get(launch_id) else {
        return;
    };
    if detail.info.state.is_waiting() && registry.get(&detail.info.session_id).is_ok() {
        link(tracker, registry, &detail.info.session_id);
    }
    tracker.overdue(launch_id, timeout_ms);
}

/// Reads one output stream into the launch's tail, line by line, each line capped at
/// [`tracker::MAX_LINE_BYTES`].
async fn capture(
    tracker: Arc<Tracker>,
    launch_id: String,
    stream: &'static str,
    mut reader: impl AsyncRead + Unpin,
) {
    /// Read buffer (bytes).
    const CHUNK: usize = 8192;
    let mut buf = vec![0u8; CHUNK];
    let mut line = Vec::new();
    let flush = |line: &mut Vec<u8>| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(line).into_owned();
        line.clear();
        tracker.push_line(&launch_id, stream, text);
    };
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &buf[..n] {
            if byte == b'\n' {
                flush(&mut line);
            } else if line.len() < tracker::MAX_LINE_BYTES {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        flush(&mut line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_urls_are_reachable_addresses() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            child_mux_url(None, addr("0.0.0.0:80")),
            "http://127.0.0.1:80"
        );
        assert_eq!(child_mux_url(None, addr("[::]:81")), "http://127.0.0.1:81");
        assert_eq!(
            child_mux_url(None, addr("10.1.2.3:82")),
            "http://10.1.2.3:82"
        );
        assert_eq!(child_mux_url(None, addr("[::1]:83")), "http://[::1]:83");
        assert_eq!(
            child_mux_url(Some("http://mux.svc:9800/"), addr("0.0.0.0:1")),
            "http://mux.svc:9800"
        );
    }
}
