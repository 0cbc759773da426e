//! The shared state of one session host and the operations both HTTP and `/ws` offer.

use super::error::HostError;
use super::keys;
use super::pty::Pty;
use super::screen::Screen;
use super::state::StateTracker;
use crate::edge::coop_ws::output_log::OutputLog;
use crate::edge::coop_ws::SharedLog;
use base64::Engine as _;
use protocol::coop;
use protocol::AgentState;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

mod driver;
mod profiles;
mod pump;
mod schema;

pub use profiles::{Env, PendingSwitch};

/// Largest terminal dimension accepted by `resize` (bounds the emulator's memory).
const MAX_DIMENSION: u16 = 1000; // cells

/// Agent type reported for a plain command.
pub const AGENT_TYPE: &str = "unknown";

/// Locks a std mutex, ignoring poisoning: every critical section leaves consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One session: the PTY, its output log and screen, the agent state and the clients.
#[derive(Debug)]
pub struct Host {
    /// Session id (as registered with the mux).
    pub session_id: String,
    auth_token: Option<String>,
    started: std::time::Instant,
    /// The current child's PTY. After the child exited it stays (its pid is still reported)
    /// until a switch replaces it.
    pty: Mutex<Arc<Pty>>,
    /// The output log; its end is the total written since start, across children.
    log: SharedLog<OutputLog, u64>,
    /// How far a `/ws` `pty` client may fall behind the log's end before it gets a lag
    /// replay (the log's capacity unless set).
    ws_lag_bytes: u64,
    screen: Mutex<Screen>,
    /// Last rendered snapshot, shared by every reader until the screen changes.
    snapshot: Mutex<Option<Arc<coop::Screen>>>,
    screen_seq: watch::Sender<u64>,
    /// Agent state and exit.
    pub state: StateTracker,
    bytes_written: AtomicU64,
    /// When output last arrived (or the last child started), in nanoseconds since `started`.
    last_output_nanos: AtomicU64,
    ws_clients: AtomicUsize,
    /// Profiles, rotation mode and the switch waiting or under way.
    profiles: profiles::ProfileState,
    /// What an agent driver would hold: the stop and start configurations.
    driver: driver::DriverState,
    /// The output total at which the latest child started; wakes the idle detector on a
    /// respawn.
    spawns: watch::Sender<u64>,
    /// Cancelled when a client asks the session to shut down.
    pub shutdown_requested: CancellationToken,
    /// Cancelled when the host stops serving (closes WebSockets).
    pub stopping: CancellationToken,
    /// The agent and its detector.
    agent: super::agent::Agent,
}

impl Host {
    /// A host around a spawned PTY.
    pub fn new(
        session_id: String,
        auth_token: Option<String>,
        pty: Pty,
        (cols, rows): (u16, u16),
        log_bytes: usize,
    ) -> Self {
        Self {
            session_id,
            auth_token,
            started: std::time::Instant::now(),
            pty: Mutex::new(Arc::new(pty)),
            log: SharedLog::new(OutputLog::new(log_bytes), 0),
            ws_lag_bytes: log_bytes as u64,
            screen: Mutex::new(Screen::new(cols, rows)),
            snapshot: Mutex::new(None),
            screen_seq: watch::channel(0).0,
            state: StateTracker::new(),
            bytes_written: AtomicU64::new(0),
            last_output_nanos: AtomicU64::new(0),
            ws_clients: AtomicUsize::new(0),
            profiles: profiles::ProfileState::default(),
            driver: driver::DriverState::default(),
            spawns: watch::channel(0).0,
            shutdown_requested: CancellationToken::new(),
            stopping: CancellationToken::new(),
            agent: super::agent::Agent::Plain,
        }
    }

    /// Sets the agent (a plain command unless set).
    pub fn with_agent(mut self, agent: super::agent::Agent) -> Self {
        self.agent = agent;
        self
    }

    /// The agent and its detector.
    pub fn agent_kind(&self) -> &super::agent::Agent {
        &self.agent
    }

    /// Sets how far a `/ws` `pty` client may fall behind before it gets a lag replay.
    pub fn with_ws_lag_bytes(mut self, bytes: u64) -> Self {
        self.ws_lag_bytes = bytes;
        self
    }

    /// How far a `/ws` `pty` client may fall behind before it gets a lag replay.
    pub fn ws_lag_bytes(&self) -> u64 {
        self.ws_lag_bytes
    }

    /// The current child's PTY (the last one after it exited).
    pub fn pty(&self) -> Arc<Pty> {
        Arc::clone(&lock(&self.pty))
    }

    /// A new child replaces the last one: input, signals and resizes go to it from now on,
    /// and the idle detector starts counting at its start.
    pub fn install_child(&self, pty: Pty) {
        *lock(&self.pty) = Arc::new(pty);
        self.touch_output();
    }

    /// Tells the idle detector that a child started when the output total was `total_at_spawn`
    /// (output past it is the new child's). Sent once the state is `starting`, so that a
    /// detection it triggers is not dropped as the old child's.
    pub fn announce_spawn(&self, total_at_spawn: u64) {
        self.spawns.send_replace(total_at_spawn);
    }

    /// Wakes when a new child starts; the value is the output total at its start.
    pub fn subscribe_spawns(&self) -> watch::Receiver<u64> {
        self.spawns.subscribe()
    }

    /// Records "now" as the time of the last output.
    fn touch_output(&self) {
        let since_start = self.started.elapsed().as_nanos();
        self.last_output_nanos.store(
            u64::try_from(since_start).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The terminal size, for a respawned child.
    pub fn size(&self) -> (u16, u16) {
        lock(&self.screen).size()
    }

    /// When output last arrived (the start of the session before any output).
    pub fn last_output(&self) -> tokio::time::Instant {
        let nanos = self.last_output_nanos.load(Ordering::Relaxed);
        tokio::time::Instant::from_std(self.started + std::time::Duration::from_nanos(nanos))
    }

    /// Bytes written to the log since start.
    pub fn total(&self) -> u64 {
        self.log.end()
    }

    /// Wakes on every new output; the value is the new total.
    pub fn subscribe_total(&self) -> watch::Receiver<u64> {
        self.log.subscribe_end()
    }

    /// Wakes on every screen change; the value is the screen `seq`.
    pub fn subscribe_screen(&self) -> watch::Receiver<u64> {
        self.screen_seq.subscribe()
    }

    /// Copies up to `limit` bytes from `offset` into `out`; returns the real start offset.
    pub fn read_output(&self, offset: u64, limit: usize, out: &mut Vec<u8>) -> u64 {
        self.log.read_into(offset, limit, out).start
    }

    /// The output log, as `/ws` connections read it.
    pub fn output_log(&self) -> &SharedLog<OutputLog, u64> {
        &self.log
    }

    /// Current screen, rendered at most once per change.
    pub fn screen(&self) -> Arc<coop::Screen> {
        let screen = lock(&self.screen);
        let mut cached = lock(&self.snapshot);
        match cached.as_ref() {
            Some(snap) if snap.seq == screen.seq() => Arc::clone(snap),
            _ => {
                let snap = Arc::new(screen.snapshot());
                *cached = Some(Arc::clone(&snap));
                snap
            }
        }
    }

    /// Plain text of the screen.
    pub fn screen_text(&self) -> String {
        lock(&self.screen).text()
    }

    /// The child's pid; after it exited, still the pid it had (as coop reports it).
    fn pid(&self) -> Option<u32> {
        Some(lock(&self.pty).pid())
    }

    /// `GET /health`.
    pub fn health(&self) -> coop::Health {
        let (cols, rows) = lock(&self.screen).size();
        coop::Health {
            status: "running".into(),
            session_id: self.session_id.clone(),
            pid: self.pid(),
            uptime_secs: self.uptime_secs(),
            agent: self.agent.name().into(),
            terminal: Some(coop::TerminalSize { cols, rows }),
            terminal_cols: Some(cols),
            terminal_rows: Some(rows),
            ws_clients: self.ws_clients(),
            ready: self.state.is_ready(),
        }
    }

    /// `GET /livez`: the session process answers.
    pub fn livez(&self) -> coop::Livez {
        coop::Livez {
            status: "alive".into(),
            uptime_secs: self.uptime_secs(),
            pid: std::process::id(),
        }
    }

    /// Seconds since the session started.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// `GET /status`.
    pub fn status(&self) -> coop::Status {
        coop::Status {
            session_id: self.session_id.clone(),
            state: self.state.get(),
            pid: self.pid(),
            uptime_secs: self.uptime_secs(),
            exit_code: self.state.exit().map(|e| super::pty::exit_code(&e)),
            screen_seq: *self.screen_seq.borrow(),
            bytes_read: self.total(),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            ws_clients: self.ws_clients(),
        }
    }

    /// `GET /agent`.
    pub fn agent(&self) -> coop::Agent {
        let seen = self.state.snapshot();
        coop::Agent {
            agent: self.agent.name().into(),
            session_id: self.session_id.clone(),
            state: seen.state,
            since_seq: seen.since_seq,
            screen_seq: *self.screen_seq.borrow(),
            detection_tier: seen.tier.into(),
            detection_cause: seen.cause.map(str::to_owned),
            prompt: seen.prompt.as_ref().map(super::state::prompt_value),
            error_detail: seen.error_detail,
            error_category: seen.error_category,
            last_message: None,
        }
    }

    /// Writes bytes to the PTY off the async runtime (the write can block).
    pub async fn write_input(
        self: &Arc<Self>,
        data: Vec<u8>,
    ) -> Result<coop::BytesWritten, HostError> {
        self.check_running()?;
        let len = data.len();
        let pty = self.pty();
        tokio::task::spawn_blocking(move || pty.write_all(&data))
            .await
            .map_err(|e| HostError::Internal(e.to_string()))?
            .map_err(|_| HostError::Exited)?;
        self.bytes_written.fetch_add(len as u64, Ordering::Relaxed);
        Ok(coop::BytesWritten { bytes_written: len })
    }

    /// Input and signals need a running child: 410 once it exited, 503 while a switch
    /// replaces it.
    fn check_running(&self) -> Result<(), HostError> {
        match self.state.get() {
            AgentState::Exited => Err(HostError::Exited),
            state if state == super::state::restarting() => Err(HostError::NotReady),
            _ => Ok(()),
        }
    }

    /// `POST /input`.
    pub async fn input_text(
        self: &Arc<Self>,
        input: coop::InputText,
    ) -> Result<coop::BytesWritten, HostError> {
        let mut data = input.text.into_bytes();
        if input.enter {
            data.push(b'\r');
        }
        self.write_input(data).await
    }

    /// `POST /input/raw`.
    pub async fn input_raw(
        self: &Arc<Self>,
        input: coop::InputRaw,
    ) -> Result<coop::BytesWritten, HostError> {
        let data = base64::engine::general_purpose::STANDARD
            .decode(input.data.as_bytes())
            .map_err(|e| HostError::BadRequest(format!("data is not valid base64: {e}")))?;
        self.write_input(data).await
    }

    /// `POST /input/keys`.
    pub async fn input_keys(
        self: &Arc<Self>,
        input: coop::InputKeys,
    ) -> Result<coop::BytesWritten, HostError> {
        let data = keys::keys_bytes(&input.keys)
            .map_err(|name| HostError::BadRequest(format!("unknown key name: {name:?}")))?;
        self.write_input(data).await
    }

    /// `POST /resize`: the PTY and the emulator change together.
    pub fn resize(&self, size: coop::Resize) -> Result<coop::Resize, HostError> {
        let valid = 1..=MAX_DIMENSION;
        if !valid.contains(&size.cols) || !valid.contains(&size.rows) {
            return Err(HostError::BadRequest(format!(
                "cols and rows must be between 1 and {MAX_DIMENSION}"
            )));
        }
        let seq = {
            // The screen lock orders this against the reader thread, so output produced
            // after the resize is parsed at the new size.
            let mut screen = lock(&self.screen);
            if self.state.exit().is_none() {
                self.pty()
                    .resize(size.cols, size.rows)
                    .map_err(|e| HostError::Internal(e.to_string()))?;
            }
            screen.resize(size.cols, size.rows);
            screen.seq()
        };
        self.screen_seq.send_replace(seq);
        Ok(size)
    }

    /// `POST /signal`: signals the child's process group.
    pub fn signal(&self, request: &coop::SignalRequest) -> Result<coop::SignalSent, HostError> {
        let signal = keys::parse_signal(&request.signal).ok_or_else(|| {
            HostError::BadRequest(format!("unknown signal: {:?}", request.signal))
        })?;
        self.check_running()?;
        self.pty()
            .signal_group(signal)
            .map_err(|e| HostError::Internal(e.to_string()))?;
        Ok(coop::SignalSent {
            delivered: true,
            signal: signal.as_str().into(),
        })
    }

    /// Asks the lifecycle to stop the child and exit.
    pub fn request_shutdown(&self) -> coop::ShutdownAccepted {
        self.shutdown_requested.cancel();
        coop::ShutdownAccepted { accepted: true }
    }

    /// Whether a token is required.
    pub fn requires_token(&self) -> bool {
        self.auth_token.is_some()
    }

    /// Constant-time comparison with the session's token; true when no token is configured.
    pub fn token_matches(&self, given: &str) -> bool {
        match &self.auth_token {
            None => true,
            Some(expected) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        }
    }

    /// Number of connected WebSocket clients.
    pub fn ws_clients(&self) -> usize {
        self.ws_clients.load(Ordering::Relaxed)
    }

    /// Counts a WebSocket client for as long as the guard lives.
    pub fn client_guard(self: &Arc<Self>) -> ClientGuard {
        self.ws_clients.fetch_add(1, Ordering::Relaxed);
        ClientGuard(Arc::clone(self))
    }
}

/// Decrements the client count on drop.
#[derive(Debug)]
pub struct ClientGuard(Arc<Host>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.ws_clients.fetch_sub(1, Ordering::Relaxed);
    }
}
