//! Shared helpers of the `credentials_*` tests: a real `coopmux` hub process whose whole log
//! is captured (so tests can prove no secret reached it), real `coopmux session` hosts that
//! register with it, a `/ws/mux` event reader, and a local OAuth server on loopback that
//! speaks the refresh, authorisation-code (PKCE S256) and device-code grants.
#![allow(dead_code)] // each test binary uses a different subset

mod host;
mod oauth;

#[allow(unused_imports)] // not every test binary uses both
pub use host::Host;
#[allow(unused_imports)]
pub use oauth::{OAuthServer, OAuthState};

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Every test secret contains this marker; no log or response may ever show it.
pub const SECRET_MARK: &str = "sekret";

/// Fails when `text` (a log, a response, an event stream) shows a test secret.
pub fn assert_no_secret(what: &str, text: &str) {
    if let Some(at) = text.find(SECRET_MARK) {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        panic!("a test secret reached {what}: {}", &text[start..end]);
    }
}

/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh private directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coopmux-cred-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `coopmux` hub whose stdout and stderr are captured.
pub struct Mux {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
}

/// Every line any hub of this test binary logged (for the final secret scan).
static ALL_LOGS: Mutex<String> = Mutex::new(String::new());

fn drain(
    stream: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<String>>,
    tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut tx = tx;
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(sender) = &tx {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                    let _ = sender.send(addr);
                    tx = None;
                }
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
            let mut all = ALL_LOGS.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
}

/// The directory of the built `coopmux` (for `sh -c 'coopmux session …'` launches).
pub fn bin_dir() -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_coopmux"));
    exe.parent().unwrap().display().to_string()
}

impl Mux {
    /// Starts `coopmux --port 0 ARGS…` with `ENV` (debug logging, so leaks would show).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).unwrap_or_else(|log| panic!("coopmux did not start:\n{log}"))
    }

    /// Like [`Mux::start`]; `Err(log)` when the hub exits before listening.
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coopmux"));
        let path = format!(
            "{}:{}",
            bin_dir(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--health-check-ms",
            "600000",
        ])
        .args(args)
        .env("PATH", path)
        .env(
            "RUST_LOG",
            "debug,hyper=info,reqwest=info,h2=info,tungstenite=info",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("COOP_MUX_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn coopmux");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stderr.take().unwrap(), log.clone(), Some(tx.clone()));
        drain(child.stdout.take().unwrap(), log.clone(), Some(tx));
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(_) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        return Err(log.lock().unwrap().clone());
                    }
                }
            }
        };
        Ok(Self {
            child: Some(child),
            base: format!("http://{addr}"),
            log,
            http: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
        })
    }

    /// Everything the hub logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
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

    /// POST that must answer 200.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {reply}");
        reply
    }

    /// The status entry of one account.
    pub async fn account(&self, name: &str) -> Value {
        let (_, status) = self.get("/api/v1/credentials/status").await;
        status
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// SIGTERM and wait for the exit (graceful shutdown flushes the credential state).
    pub fn stop(mut self) -> String {
        self.terminate();
        self.log()
    }

    /// SIGKILL: no flush, no cleanup.
    pub fn kill(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.log()
    }

    /// Waits for the process to exit by itself (e.g. after an abort).
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let mut code = None;
        if let Some(mut child) = self.child.take() {
            for _ in 0..200 {
                if let Ok(Some(status)) = child.try_wait() {
                    code = Some(status.code().unwrap_or(-1));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if code.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        (code, self.log())
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..200 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Fails if any hub of this test binary logged one of `secrets`.
pub fn assert_no_secret_logged(secrets: &[&str]) {
    let all = ALL_LOGS.lock().unwrap().clone();
    assert!(!all.is_empty(), "no hub output was captured");
    for secret in secrets {
        assert!(
            !all.contains(secret),
            "secret {secret:?} appeared in a hub log"
        );
    }
}

/// Polls `probe` every 50 ms until it yields a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `/ws/mux` connection that keeps every event it sees.
pub struct Events {
    events: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Events {
    /// Connects to the hub's `/ws/mux`.
    pub async fn connect(mux: &Mux) -> Events {
        let url = format!("{}/ws/mux", mux.base.replace("http://", "ws://"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws/mux");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Ok(text) = msg.into_text() {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        sink.lock().unwrap().push(value);
                    }
                }
            }
        });
        Events { events, task }
    }

    /// Waits for an event matching `pred`.
    pub async fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(WAIT, || async {
            self.events
                .lock()
                .unwrap()
                .iter()
                .find(|e| pred(e))
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no {what} event; saw {:?}", self.events.lock().unwrap()))
    }

    /// Every raw event seen so far, as text.
    pub fn text(&self) -> String {
        serde_json::to_string(&*self.events.lock().unwrap()).unwrap()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes `{"accounts": accounts}` to `dir/accounts.json` and returns its path.
pub fn write_config(dir: &Path, accounts: Value) -> String {
    let path = dir.join("accounts.json");
    std::fs::write(&path, json!({ "accounts": accounts }).to_string()).unwrap();
    path.display().to_string()
}
