//! The `coopmux` binary as a hub process on 127.0.0.1:0, its whole log kept (so tests can
//! prove no secret reached it); stopped, with everything it launched, on drop.

use super::procs::{bin, path_with_bin_dir, stop_child_groups};
use super::{state_dir, wait_for, LONG_WAIT};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A log filter that shows the hub's debug lines (where a leaked secret would show) without
/// the HTTP libraries' chatter.
pub const DEBUG_LOG: &str = "debug,hyper=info,reqwest=info,h2=info,tungstenite=info";

/// The environment variable whose value becomes the hub's bearer token.
const TOKEN_VAR: &str = "COOP_MUX_AUTH_TOKEN";

/// A running `coopmux` hub process.
pub struct HubProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    token: Option<String>,
    log: Arc<Mutex<String>>,
    /// One message per output pipe that reached its end.
    closed: mpsc::Receiver<()>,
    http: reqwest::Client,
    state_dir: PathBuf,
}

/// Copies `stream` line by line into `log` until it ends; the first line announcing the
/// address goes to `addr`.
fn drain(
    stream: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<String>>,
    addr: mpsc::Sender<String>,
    closed: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let mut addr = Some(addr);
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                if let Some(sender) = addr.take() {
                    let _ = sender.send(rest.chars().take_while(|c| *c != '/').collect());
                }
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
        let _ = closed.send(());
    });
}

impl HubProcess {
    /// Starts `coopmux --host 127.0.0.1 --port 0 ARGS…`: the test's `COOP_MUX_*` variables
    /// removed, a private state directory, `RUST_LOG=info`, the built `coopmux` first on PATH
    /// (for launch commands), then `env` on top. A `COOP_MUX_AUTH_TOKEN` in `env` is sent by
    /// [`HubProcess::client`].
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).unwrap_or_else(|log| panic!("coopmux did not start:\n{log}"))
    }

    /// Like [`HubProcess::start`]; `Err(log)` when the hub exits before listening. The
    /// binary is the built `coopmux`, or another build's when `COOPMUX_TEST_HUB_BIN` names one
    /// (to show that a test fails on it).
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let other = std::env::var("COOPMUX_TEST_HUB_BIN").ok();
        Self::try_start_bin(other.as_deref().unwrap_or(bin()), args, env)
    }

    /// Like [`HubProcess::try_start`] with another `coopmux` binary (benchmarks compare
    /// builds).
    pub fn try_start_bin(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::try_start_command(Command::new(bin), args, env)
    }

    /// Like [`HubProcess::try_start`] as an unprivileged user ([`super::unprivileged`]), whom
    /// file modes and `/proc` checks apply to.
    pub fn try_start_unprivileged(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::try_start_command(super::unprivileged::command(bin()), args, env)
    }

    /// Starts `cmd` (a `coopmux`) with the hub flags of [`HubProcess::start`].
    fn try_start_command(
        mut cmd: Command,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let state_dir = state_dir();
        cmd.args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("COOP_MUX_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("COOP_MUX_STATE_DIR", &state_dir)
            .env("PATH", path_with_bin_dir())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn coopmux");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (closed_tx, closed) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        drain(stderr, log.clone(), addr_tx.clone(), closed_tx.clone());
        drain(stdout, log.clone(), addr_tx, closed_tx);
        let token = env
            .iter()
            .find(|(k, _)| *k == TOKEN_VAR)
            .map(|(_, v)| (*v).to_owned());
        let mut hub = Self {
            child: Some(child),
            base: String::new(),
            token,
            log,
            closed,
            http: crate::http_client().timeout(LONG_WAIT).build().unwrap(),
            state_dir,
        };
        // The address comes first; both pipes closing without it means the hub exited.
        match addr_rx.recv_timeout(LONG_WAIT) {
            Ok(addr) => {
                hub.base = format!("http://{addr}");
                Ok(hub)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                hub.reap(Duration::from_secs(5));
                Err(hub.log())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("coopmux did not report its address:\n{}", hub.log())
            }
        }
    }

    /// Pid of the hub.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything the hub logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log shows `needle`; fails the test after [`LONG_WAIT`].
    pub async fn wait_log(&self, needle: &str) {
        let seen = wait_for(LONG_WAIT, || async {
            self.log.lock().unwrap().contains(needle).then_some(())
        })
        .await;
        assert!(seen.is_some(), "no {needle:?} in the log:\n{}", self.log());
    }

    /// An HTTP client that sends the hub's token, if it has one.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        crate::http_client()
            .default_headers(headers)
            .timeout(LONG_WAIT)
            .build()
            .unwrap()
    }

    /// GET returning status and JSON (Null when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GET returning the body as text (empty when unreadable).
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.client().get(format!("{}{path}", self.base)).send();
        resp.await.expect("GET").text().await.unwrap_or_default()
    }

    /// POST of JSON returning status and JSON.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// DELETE returning status and JSON, with the hub's token if it has one.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client()
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .expect("DELETE");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The hub's credential state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    /// POST that must answer 200.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {reply}");
        reply
    }

    /// The credential status entry of one account (Null when there is none).
    pub async fn account(&self, name: &str) -> Value {
        let (_, status) = self.get("/api/v1/credentials/status").await;
        status
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// Stops what it launched, then SIGTERM (a graceful shutdown flushes the credential
    /// state); returns the whole log.
    pub fn stop(mut self) -> String {
        self.shutdown();
        self.log()
    }

    /// SIGTERM; the exit status if the hub exited within `limit` (it is killed otherwise).
    pub fn sigterm(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.as_ref()?.id();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.reap(limit)
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(child) = &self.child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
        }
    }

    /// Freezes the hub (SIGSTOP): its sockets stay open, it does nothing.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Thaws a frozen hub (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    /// SIGKILL: no flush, no cleanup; returns the log.
    pub fn kill(mut self) -> String {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap(Duration::from_secs(5));
        self.log()
    }

    /// Waits up to 10 s for the hub to exit by itself (e.g. after an abort); its exit code
    /// (`-1` for a signal) and log.
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let status = self.reap(Duration::from_secs(10));
        (status.map(|s| s.code().unwrap_or(-1)), self.log())
    }

    /// Waits up to `limit` for the exit, kills the hub if it is still running, and waits for
    /// its output pipes to close so the log is complete.
    fn reap(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Both pipes end once the hub and anything that inherited them are gone.
        for _ in 0..2 {
            if self.closed.recv_timeout(Duration::from_secs(5)).is_err() {
                break;
            }
        }
        status
    }

    fn shutdown(&mut self) {
        // A frozen hub cannot act on SIGTERM.
        self.resume();
        if let Some(child) = &self.child {
            stop_child_groups(child.id());
        }
        self.sigterm(Duration::from_secs(10));
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.shutdown();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
