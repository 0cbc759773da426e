//! Shared helpers of the `launch_*` tests and the launch bench: a real `coopmux` process on
//! 127.0.0.1:0 whose launched children resolve `coopmux` on PATH, and cleanup of every
//! process it started.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// Bearer token of muxes started with `COOP_MUX_AUTH_TOKEN` (see [`MuxProcess::start`]).
const TOKEN_VAR: &str = "COOP_MUX_AUTH_TOKEN";

/// A running `coopmux` hub process.
pub struct MuxProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    token: Option<String>,
}

/// The directory of the built `coopmux`, so that `sh -c 'coopmux session …'` finds it.
pub fn bin_dir() -> String {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_coopmux"));
    exe.parent().unwrap().display().to_string()
}

impl MuxProcess {
    /// Starts `coopmux --port 0 --launch LAUNCH ARGS…` with `ENV` added to its environment.
    pub fn start(launch: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let path = format!(
            "{}:{}",
            bin_dir(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coopmux"));
        cmd.args(["--host", "127.0.0.1", "--port", "0", "--launch", launch])
            .args(args)
            .env("PATH", path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("COOP_MUX_") {
                cmd.env_remove(name);
            }
        }
        // Never the developer's own credential state.
        let state =
            std::env::temp_dir().join(format!("coopmux-test-state-{}", uuid::Uuid::new_v4()));
        cmd.env("COOP_MUX_STATE_DIR", state);
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn coopmux");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Drains the log for the whole life of the process so that it never blocks on a
        // full pipe; the first "listening on" line carries the port.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(WAIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("coopmux did not report its address");
            }
        };
        let token = env
            .iter()
            .find(|(k, _)| *k == TOKEN_VAR)
            .map(|(_, v)| (*v).to_owned());
        Self {
            child: Some(child),
            base: format!("http://{addr}"),
            token,
        }
    }

    /// Pid of the mux.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// An HTTP client that sends the mux's token, if it has one.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .timeout(WAIT)
            .build()
            .unwrap()
    }

    /// Stops every launched child (each in its own process group), then the mux.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let groups = children_of(child.id());
        for pid in &groups {
            signal_group(*pid, nix::sys::signal::Signal::SIGTERM);
        }
        // The mux reaps them; give them a moment to go.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && children_of(child.id()).iter().any(|p| !is_zombie(*p)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in &groups {
            signal_group(*pid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for MuxProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal);
}

fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid …`; comm may hold spaces or parentheses, so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut parts = rest.split_whitespace();
    let state = parts.next()?.chars().next()?;
    let ppid = parts.next()?.parse().ok()?;
    Some((state, ppid))
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _)| state == 'Z')
}

/// Pids of the direct children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// Direct children of `parent` in zombie state.
pub fn zombie_children(parent: u32) -> Vec<u32> {
    children_of(parent)
        .into_iter()
        .filter(|p| is_zombie(*p))
        .collect()
}

/// Polls `probe` every 50 ms until it yields a value or `limit` passes.
pub async fn wait_until<T, F, Fut>(limit: Duration, probe: F) -> Option<T>
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
