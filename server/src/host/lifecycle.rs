//! The child's lifecycle, as coop runs its agent (docs/coop-protocol.md, "When the child
//! exits"): the host outlives its child. When the child exits the state becomes `exited`, the
//! exit is announced and the host keeps serving; a switch (or restart) replaces the child, running or not, with one
//! that has the chosen profile's credentials; a shutdown request or SIGTERM/SIGINT stops the
//! child and ends the host.

use super::pty::{self, Pty};
use super::session::{Env, Host, PendingSwitch};
use nix::sys::signal::Signal;
use protocol::coop;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long the child gets to exit after SIGHUP/SIGTERM before SIGKILL.
const TERM_WAIT: Duration = Duration::from_millis(1000); // 1 s
/// How long to wait for the child to be reaped after SIGKILL.
const KILL_WAIT: Duration = Duration::from_millis(200); // 200 ms
/// How long the reader may take to drain the last output after the child exited (a grandchild
/// holding the terminal open must not delay the exit).
const OUTPUT_DRAIN: Duration = Duration::from_millis(200); // 200 ms

/// How a child ended when nothing could be learned (it was reaped elsewhere).
const UNKNOWN_EXIT: coop::Exit = coop::Exit {
    code: None,
    signal: None,
};

/// One child as the supervisor watches it.
#[derive(Debug)]
pub struct Child {
    /// Resolves when the child is reaped.
    exit_rx: oneshot::Receiver<coop::Exit>,
    /// Cancelled when its PTY reader saw EOF.
    output_closed: CancellationToken,
    /// How it ended, once that was handled.
    exit: Option<coop::Exit>,
}

/// Starts, watches and replaces the children of one host.
#[derive(Debug)]
pub struct Supervisor {
    host: Arc<Host>,
    command: Vec<String>,
    /// The screen thread, woken by every reader.
    screen: std::thread::Thread,
}

impl Supervisor {
    /// A supervisor running `command` for `host`.
    pub fn new(host: Arc<Host>, command: Vec<String>, screen: std::thread::Thread) -> Self {
        Self {
            host,
            command,
            screen,
        }
    }

    /// Starts the threads that reap child `pid` and move its output into the log.
    pub fn watch(&self, pid: u32, reader: Box<dyn Read + Send>) -> std::io::Result<Child> {
        let (exit_tx, exit_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("pty-wait".into())
            .spawn(move || {
                let _ = exit_tx.send(pty::wait_child(pid));
            })?;
        let output_closed = CancellationToken::new();
        let (host, screen, closed) = (
            Arc::clone(&self.host),
            self.screen.clone(),
            output_closed.clone(),
        );
        std::thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || host.pump_output(reader, screen, closed))?;
        Ok(Child {
            exit_rx,
            output_closed,
            exit: None,
        })
    }

    /// Supervises until a shutdown request or SIGTERM/SIGINT; returns how the last child
    /// ended (it is stopped first if it still runs).
    pub async fn run(self, mut child: Child) -> coop::Exit {
        let mut sigterm = signal(SignalKind::terminate()).ok();
        let mut sigint = signal(SignalKind::interrupt()).ok();
        loop {
            tokio::select! {
                exit = &mut child.exit_rx, if child.exit.is_none() => {
                    self.ended(&mut child, exit.unwrap_or(UNKNOWN_EXIT)).await;
                }
                switch = self.host.switch_due() => child = self.restart(child, switch).await,
                () = recv_signal(&mut sigterm) => break,
                () = recv_signal(&mut sigint) => break,
                () = self.host.shutdown_requested.cancelled() => break,
            }
        }
        match child.exit {
            Some(exit) => exit,
            None => {
                let exit = terminate(&self.host.pty(), &mut child.exit_rx).await;
                self.ended(&mut child, exit).await;
                exit
            }
        }
    }

    /// The child is gone: its last output reaches the log (and the clients) before the exit
    /// is announced.
    async fn ended(&self, child: &mut Child, exit: coop::Exit) {
        let _ = tokio::time::timeout(OUTPUT_DRAIN, child.output_closed.cancelled()).await;
        child.exit = Some(exit);
        self.host.state.set_exited(exit);
        tracing::info!(code = ?exit.code, signal = ?exit.signal, "child exited");
    }

    /// Replaces `old` (stopping it if it still runs) with a new child that has the switch's
    /// credentials. If the new one cannot start, the host stays `exited` and waits for the
    /// next switch.
    async fn restart(&self, mut old: Child, switch: PendingSwitch) -> Child {
        tracing::info!(profile = ?switch.profile, force = switch.force, "restarting the child");
        self.host.state.set_restarting();
        let old_exit = match old.exit {
            Some(exit) => exit,
            None => {
                let exit = terminate(&self.host.pty(), &mut old.exit_rx).await;
                let _ = tokio::time::timeout(OUTPUT_DRAIN, old.output_closed.cancelled()).await;
                exit
            }
        };
        let env = self.host.switch_env(&switch);
        let total_at_spawn = self.host.total();
        let started = self.spawn(&env);
        self.host.switch_done();
        match started {
            Ok((pty, child)) => {
                self.host.install_child(pty);
                self.host.state.set_spawned();
                self.host.announce_spawn(total_at_spawn);
                child
            }
            Err(e) => {
                tracing::error!(error = %e, "the new child did not start");
                old.exit = Some(old_exit);
                self.host.state.set_exited(old_exit);
                old
            }
        }
    }

    /// Starts a new child with `env` added and watches it.
    fn spawn(&self, env: &Env) -> Result<(Pty, Child), String> {
        let spawned =
            pty::spawn(&self.command, self.host.size(), env).map_err(|e| e.to_string())?;
        match self.watch(spawned.pty.pid(), spawned.reader) {
            Ok(child) => Ok((spawned.pty, child)),
            Err(e) => {
                // Nobody would read or reap it.
                let _ = spawned.pty.signal_group(Signal::SIGKILL);
                Err(e.to_string())
            }
        }
    }
}

/// SIGHUP + SIGTERM to the child's process group, SIGKILL if it does not go in time.
async fn terminate(pty: &Pty, exit_rx: &mut oneshot::Receiver<coop::Exit>) -> coop::Exit {
    // SIGHUP is what a closing terminal sends; interactive shells ignore SIGTERM but not SIGHUP.
    for sig in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGCONT] {
        let _ = pty.signal_group(sig);
    }
    if let Ok(Ok(exit)) = tokio::time::timeout(TERM_WAIT, &mut *exit_rx).await {
        return exit;
    }
    let _ = pty.signal_group(Signal::SIGKILL);
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
