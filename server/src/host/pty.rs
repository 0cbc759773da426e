//! The PTY and its child: spawning in a new session, writing input, resizing, signalling the
//! process group and reaping the child.

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use protocol::coop;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Mutex;

/// Errors of the PTY layer.
#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    /// Opening the PTY or spawning the command failed.
    #[error("cannot start {command:?}: {reason}")]
    Spawn {
        /// The program that failed to start.
        command: String,
        /// Why.
        reason: String,
    },
    /// Writing to the PTY failed (usually because the child is gone).
    #[error("write to the terminal failed: {0}")]
    Write(#[source] std::io::Error),
    /// Resizing the PTY failed.
    #[error("resize failed: {0}")]
    Resize(String),
    /// Sending a signal failed.
    #[error("signal failed: {0}")]
    Signal(#[source] nix::Error),
}

/// The master side of the PTY and the child's pid.
pub struct Pty {
    master: Mutex<Box<dyn MasterPty + Send>>,
    writer: Mutex<Box<dyn Write + Send>>,
    pid: u32,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty").field("pid", &self.pid).finish()
    }
}

/// A freshly spawned child: the PTY handle and the output reader (for the reader thread).
pub struct Spawned {
    /// Input, resize and signals.
    pub pty: Pty,
    /// Output of the child.
    pub reader: Box<dyn Read + Send>,
}

/// Runs `command` on a new PTY of `cols`×`rows` with `TERM=xterm-256color` and `env` (a
/// profile's credentials) added, in the current directory. portable-pty starts the child with
/// `setsid` and the PTY as its controlling terminal, so the child leads its own session and
/// process group (pgid == pid).
pub fn spawn(
    command: &[String],
    (cols, rows): (u16, u16),
    env: &BTreeMap<String, String>,
) -> Result<Spawned, PtyError> {
    let program = command.first().cloned().unwrap_or_default();
    let fail = |reason: String| PtyError::Spawn {
        command: program.clone(),
        reason,
    };
    let pair = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| fail(e.to_string()))?;
    let mut cmd = CommandBuilder::from_argv(command.iter().map(Into::into).collect());
    cmd.env("TERM", "xterm-256color");
    // The host's registration token is the host's alone: the program on the PTY (an agent)
    // must not be able to act as this session towards the mux.
    cmd.env_remove("COOP_MUX_TOKEN");
    for (key, value) in env {
        cmd.env(key, value);
    }
    // portable-pty defaults to $HOME; a session runs where it was started (uploads/ lives there).
    if let Ok(cwd) = std::env::current_dir() {
        cmd.cwd(cwd);
    }
    let child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| fail(e.to_string()))?;
    let pid = child.process_id().ok_or_else(|| fail("no pid".into()))?;
    // The child is reaped by pid with waitpid (see `wait_child`); the handle is not needed, and
    // dropping a std child neither kills nor reaps it.
    drop(child);
    // Our copy of the slave must go, or the reader would never see EOF after the child exits.
    drop(pair.slave);
    let reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| fail(e.to_string()))?;
    let writer = pair.master.take_writer().map_err(|e| fail(e.to_string()))?;
    Ok(Spawned {
        pty: Pty {
            master: Mutex::new(pair.master),
            writer: Mutex::new(writer),
            pid,
        },
        reader,
    })
}

impl Pty {
    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes all bytes; blocks while the terminal's input queue is full, so call it from a
    /// blocking context.
    pub fn write_all(&self, data: &[u8]) -> Result<(), PtyError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(data).map_err(PtyError::Write)?;
        writer.flush().map_err(PtyError::Write)
    }

    /// Sets the terminal size (the child gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), PtyError> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| PtyError::Resize(e.to_string()))
    }

    /// Whether the child reads keys one by one (canonical mode off), as a full-screen program
    /// does once it runs; before that the line discipline echoes input and turns Enter into a
    /// newline. `None` when the terminal cannot tell.
    pub fn reads_keys(&self) -> Option<bool> {
        let termios = self
            .master
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_termios()?;
        let canonical = nix::sys::termios::LocalFlags::ICANON.bits();
        Some(termios.local_flags.bits() & canonical == 0)
    }

    /// Sends `signal` to the child's process group.
    pub fn signal_group(&self, signal: Signal) -> Result<(), PtyError> {
        killpg(Pid::from_raw(self.pid as i32), signal).map_err(PtyError::Signal)
    }
}

/// Blocks until the child exits and returns how it ended.
pub fn wait_child(pid: u32) -> coop::Exit {
    loop {
        match waitpid(Pid::from_raw(pid as i32), None) {
            Ok(WaitStatus::Exited(_, code)) => {
                return coop::Exit {
                    code: Some(code),
                    signal: None,
                }
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return coop::Exit {
                    code: None,
                    signal: Some(signal as i32),
                }
            }
            Ok(_) | Err(nix::Error::EINTR) => continue,
            // ECHILD: someone else reaped it; nothing more can be learned.
            Err(_) => {
                return coop::Exit {
                    code: None,
                    signal: None,
                }
            }
        }
    }
}

/// The process exit code that mirrors how the child ended (128 + signal when killed).
pub fn exit_code(exit: &coop::Exit) -> i32 {
    match (exit.code, exit.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}
