//! Real `coopmux session` hosts for the credential tests, with their log kept.

use super::{wait_for, Mux, WAIT};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// A real `coopmux session` host registered with a hub.
pub struct Host {
    child: tokio::process::Child,
    /// Its base URL.
    pub url: String,
    /// The id it registered under.
    pub id: String,
    log: Arc<Mutex<Vec<(std::time::Instant, String)>>>,
}

impl Host {
    /// Starts `coopmux session --idle-ms 300 [--label L]… -- CMD…` registered with `mux_base`
    /// as `id`, and waits for the hub to list it.
    pub async fn start(mux: &Mux, id: &str, labels: &[&str], cmd: &[&str]) -> Host {
        let host = Host::spawn(Some(mux), id, labels, cmd).await;
        let registered = wait_for(WAIT, || async {
            let (_, list) = mux.get("/api/v1/sessions").await;
            list.as_array()?.iter().any(|s| s["id"] == id).then_some(())
        })
        .await;
        assert!(registered.is_some(), "session {id} did not register");
        host
    }

    /// Starts a host (registering itself with `mux` when given) and returns once it listens.
    /// Its log (info level) is kept with the time each line arrived.
    pub async fn spawn(mux: Option<&Mux>, id: &str, labels: &[&str], cmd: &[&str]) -> Host {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coopmux"));
        command.args(["session", "--port", "0", "--idle-ms", "300"]);
        for label in labels {
            command.args(["--label", label]);
        }
        command.arg("--").args(cmd);
        match mux {
            Some(mux) => command
                .env("COOP_MUX_URL", &mux.base)
                .env("COOP_MUX_SESSION_ID", id),
            None => command
                .env_remove("COOP_MUX_URL")
                .env_remove("COOP_MUX_SESSION_ID"),
        };
        command
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn session host");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push((std::time::Instant::now(), line));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let url = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("host URL in time")
            .unwrap()
            .expect("host URL line")
            .trim()
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Host {
            child,
            url,
            id: id.to_owned(),
            log,
        }
    }

    /// The host's log lines containing `needle`, with the time each arrived.
    pub fn log_lines(&self, needle: &str) -> Vec<(std::time::Instant, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, line)| line.contains(needle))
            .cloned()
            .collect()
    }

    /// The host's whole log.
    pub fn log(&self) -> String {
        let lines = self.log.lock().unwrap();
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// `GET /api/v1/session/profiles` of the host.
    pub async fn profiles(&self) -> Value {
        reqwest::get(format!("{}/api/v1/session/profiles", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Profile names the host holds, in order.
    pub async fn profile_names(&self) -> Vec<String> {
        self.profiles().await["profiles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Its agent state.
    pub async fn state(&self) -> String {
        let status: Value = reqwest::get(format!("{}/api/v1/status", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["state"].as_str().unwrap_or("").to_owned()
    }

    /// Sends text (plus Enter) to the terminal.
    pub async fn type_line(&self, text: &str) {
        reqwest::Client::new()
            .post(format!("{}/api/v1/input", self.url))
            .json(&json!({"text": text, "enter": true}))
            .send()
            .await
            .unwrap();
    }

    /// Kills the host.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
