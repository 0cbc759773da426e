//! Claude Code on the PTY (docs/architecture.md, "Agent state"): `setup` hands it a settings
//! file whose hooks reach `hooks` (the receiver); the receiver and a screen watcher feed the
//! detector of `crate::host::detect::claude`, and `driver` answers prompts with keys.

pub mod driver;
pub mod hook_client;
mod hooks;
pub mod setup;

use crate::host::detect::claude::{screen, Detector};
use crate::host::error::HostError;
use crate::host::session::{lock, Host};
use protocol::claude::HookInput;
use protocol::coop::{NudgeReply, NudgeRequest, RespondReply, RespondRequest};
use protocol::AgentState;
use setup::{Endpoint, PrivateDir, SetupError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The agent type reported for Claude Code.
pub const AGENT_TYPE: &str = "claude";
/// How long one typed step may take to show before the next is typed anyway.
const STEP_WAIT: Duration = Duration::from_millis(300); // 300 ms
/// What an empty nudge says, as coop.
const DEFAULT_NUDGE: &str = "continue";

/// The Claude Code side of a host.
#[derive(Debug)]
pub struct Claude {
    /// Holds the endpoint and settings; removed with the host.
    dir: PrivateDir,
    detector: Mutex<Detector>,
    /// Wakes the screen watcher when a hook announced a prompt.
    wake: Notify,
    /// One answer or nudge at a time: the second sees the state the first left.
    turn: tokio::sync::Mutex<()>,
}

/// Claude Code, ready to start.
#[derive(Debug)]
pub struct Prepared {
    /// The host's side.
    pub claude: Claude,
    /// The command to run (with `--settings`).
    pub command: Vec<String>,
    /// The hook receiver, to start once the host runs.
    pub receiver: Receiver,
}

/// The hook receiver's listener (127.0.0.1) and secret.
#[derive(Debug)]
pub struct Receiver {
    listener: std::net::TcpListener,
    token: String,
}

impl Claude {
    /// Binds the hook receiver and writes the settings; `state_dir` holds the private
    /// directory.
    pub fn prepare(
        command: &[String],
        state_dir: &std::path::Path,
    ) -> Result<Prepared, SetupError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let token = crate::edge::secret::random_token();
        let endpoint = Endpoint {
            addr: listener.local_addr()?,
            token: token.clone(),
        };
        let dir = PrivateDir::create(state_dir)?;
        let exe = std::env::current_exe()?;
        let command = setup::write(&dir, &endpoint, &exe, command)?;
        let claude = Self {
            dir,
            detector: Mutex::new(Detector::new(Instant::now())),
            wake: Notify::new(),
            turn: tokio::sync::Mutex::new(()),
        };
        Ok(Prepared {
            claude,
            command,
            receiver: Receiver { listener, token },
        })
    }

    /// Removes the private directory (the settings and the secret).
    pub fn remove_files(&self) {
        self.dir.remove();
    }

    /// A hook event came.
    fn on_hook(&self, host: &Host, hook: &HookInput) {
        let reads_keys = host.pty().reads_keys().unwrap_or(true);
        lock(&self.detector).on_hook(&host.state, hook, reads_keys, Instant::now());
        self.wake.notify_one();
    }

    /// `respond`: the keys that answer the prompt on screen. `working` from then on.
    pub async fn respond(
        &self,
        host: &Arc<Host>,
        request: RespondRequest,
    ) -> Result<RespondReply, HostError> {
        let _turn = self.turn.lock().await;
        let (kind, steps) = {
            let mut detector = lock(&self.detector);
            if !host.state.is_detected() {
                return Err(HostError::AgentStarting);
            }
            let seen = host.state.snapshot();
            let prompt = match (seen.state, seen.prompt) {
                (AgentState::Prompt, Some(prompt)) => prompt,
                (AgentState::Exited, _) => return Err(HostError::Exited),
                _ => return Err(HostError::NoPrompt),
            };
            if !prompt.ready {
                return Err(HostError::PromptNotShown);
            }
            let steps = driver::respond(&prompt, &request).map_err(HostError::BadRequest)?;
            detector.answering(&host.state, Instant::now());
            (prompt.kind, steps)
        };
        tracing::info!(prompt = %kind, "answering the agent's prompt");
        type_steps(host, steps).await?;
        Ok(RespondReply {
            delivered: true,
            prompt_type: kind,
            reason: None,
        })
    }

    /// `nudge`: the message typed into the input box and sent. Not while a prompt waits.
    pub async fn nudge(
        &self,
        host: &Arc<Host>,
        request: NudgeRequest,
    ) -> Result<NudgeReply, HostError> {
        let _turn = self.turn.lock().await;
        if !host.state.is_detected() {
            return Err(HostError::AgentStarting);
        }
        let before = host.state.get();
        match before {
            AgentState::Exited => return Err(HostError::Exited),
            AgentState::Prompt => {
                return Ok(NudgeReply {
                    delivered: false,
                    state_before: before.as_str().to_owned(),
                    reason: Some("agent is prompt".into()),
                })
            }
            _ => {}
        }
        let message = match request.message.as_str() {
            "" => DEFAULT_NUDGE,
            text => text,
        };
        lock(&self.detector).typed(Instant::now());
        type_steps(host, driver::nudge(message)).await?;
        Ok(NudgeReply {
            delivered: true,
            state_before: before.as_str().to_owned(),
            reason: None,
        })
    }
}

/// Writes the steps one by one, each after the screen showed the one before (bounded).
async fn type_steps(host: &Arc<Host>, steps: Vec<driver::Step>) -> Result<(), HostError> {
    let mut screen = host.subscribe_screen();
    let last = steps.len().saturating_sub(1);
    for (i, step) in steps.into_iter().enumerate() {
        screen.borrow_and_update();
        host.write_input(step).await?;
        if i < last {
            let _ = tokio::time::timeout(STEP_WAIT, screen.changed()).await;
        }
    }
    Ok(())
}

impl Receiver {
    /// Starts the hook receiver and the screen watcher; they run until the host stops.
    pub fn start(self, host: &Arc<Host>) -> JoinHandle<()> {
        let router = hooks::router(Arc::clone(host), &self.token);
        let stopping = host.stopping.clone();
        let host = Arc::clone(host);
        tokio::spawn(async move {
            let receiver = async {
                match tokio::net::TcpListener::from_std(self.listener) {
                    Ok(listener) => {
                        let limits = crate::edge::listener::Limits::default();
                        crate::edge::listener::serve(
                            listener,
                            router,
                            limits,
                            stopping.cancelled(),
                        )
                        .await;
                    }
                    Err(err) => tracing::error!(%err, "the hook receiver cannot listen"),
                }
            };
            tokio::join!(receiver, watch_screen(&host));
        })
    }
}

/// Reads the screen on every change (and when a hook or a deadline asks) until the host stops.
async fn watch_screen(host: &Arc<Host>) {
    let Some(claude) = host.claude() else {
        return;
    };
    let mut screen = host.subscribe_screen();
    let mut spawns = host.subscribe_spawns();
    loop {
        let snapshot = host.screen();
        let mut view = screen::parse(&snapshot.lines);
        view.reads_keys = host.pty().reads_keys().unwrap_or(true);
        let due =
            lock(&claude.detector).on_screen(&host.state, &view, snapshot.seq, Instant::now());
        tokio::select! {
            changed = screen.changed() => if changed.is_err() { return },
            changed = spawns.changed() => {
                if changed.is_err() {
                    return;
                }
                lock(&claude.detector).reset(Instant::now());
            }
            () = claude.wake.notified() => {}
            () = sleep_until(due) => {}
            () = host.stopping.cancelled() => return,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
