//! Self-registration with a mux, as coop does it (docs/coop-protocol.md, "Registering with the
//! hub"): register with retries
//! at start, re-register as a heartbeat for ever, deregister on exit.

use crate::edge::backoff::{self, Backoff};
use protocol::mux::RegisterRequest;
use serde_json::{Map, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Heartbeat period outside Kubernetes.
const HEARTBEAT: Duration = Duration::from_secs(15); // 15 s
/// Heartbeat period in Kubernetes (`KUBERNETES_SERVICE_HOST` set).
const HEARTBEAT_K8S: Duration = Duration::from_secs(60); // 60 s
/// Timeout of each call to the mux.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10); // 10 s
/// Where coop registers when `COOP_MUX_URL` is unset: a mux on its default port.
pub const DEFAULT_MUX_URL: &str = "http://127.0.0.1:9800";

/// Everything needed to register one session with one mux.
#[derive(Debug, Clone)]
pub struct Registration {
    client: reqwest::Client,
    mux_url: String,
    mux_token: Option<String>,
    /// The registered session id.
    pub id: String,
    body: Value,
    heartbeat: Duration,
}

/// What the session knows about itself.
#[derive(Debug, Clone)]
pub struct SelfInfo<'a> {
    /// Bound port.
    pub port: u16,
    /// Host to advertise when neither `COOP_URL` nor `POD_IP` is set.
    pub host: String,
    /// The session's own `--auth-token`.
    pub auth_token: Option<&'a str>,
    /// `--label key=value` flags.
    pub labels: &'a [String],
    /// argv\[0\] of the command.
    pub command: &'a str,
    /// The agent type (`unknown` for a plain command, `claude`).
    pub agent: &'a str,
    /// Session id when `COOP_MUX_SESSION_ID` is not set.
    pub fallback_id: &'a str,
    /// Heartbeat override (tests).
    pub heartbeat: Option<Duration>,
}

/// Reads a variable, treating empty as unset.
fn env_nonempty(get: &impl Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    get(key).filter(|v| !v.is_empty())
}

impl Registration {
    /// Builds the registration from the environment (`get` reads a variable): at
    /// `COOP_MUX_URL`, at [`DEFAULT_MUX_URL`] when it is unset, `None` (registration off) when
    /// it is set but empty.
    pub fn from_env(get: impl Fn(&str) -> Option<String>, me: &SelfInfo<'_>) -> Option<Self> {
        let mux_url = match get("COOP_MUX_URL") {
            None => DEFAULT_MUX_URL.to_owned(),
            Some(url) if url.trim().is_empty() => return None,
            Some(url) => url,
        };
        let mux_token = env_nonempty(&get, "COOP_MUX_TOKEN")
            .or_else(|| env_nonempty(&get, "COOP_BROKER_TOKEN"));
        let id = env_nonempty(&get, "COOP_MUX_SESSION_ID").unwrap_or_else(|| me.fallback_id.into());
        let url = env_nonempty(&get, "COOP_URL").unwrap_or_else(|| {
            let host = env_nonempty(&get, "POD_IP").unwrap_or_else(|| me.host.clone());
            format!("http://{host}:{}", me.port)
        });
        let k8s = env_nonempty(&get, "KUBERNETES_SERVICE_HOST").is_some();
        let mut metadata = metadata(me.agent, me.command, me.labels);
        if k8s {
            metadata.insert("k8s".into(), k8s_info(&get));
        }
        let body = RegisterRequest {
            url,
            auth_token: me.auth_token.map(str::to_owned),
            id: Some(id.clone()),
            metadata: Some(Value::Object(metadata)),
        };
        // Strings and JSON values only: serialising cannot fail.
        let body = serde_json::to_value(body).unwrap_or_default();
        let heartbeat = me
            .heartbeat
            .unwrap_or(if k8s { HEARTBEAT_K8S } else { HEARTBEAT });
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Some(Self {
            client,
            mux_url: mux_url.trim_end_matches('/').to_owned(),
            mux_token,
            id,
            body,
            heartbeat,
        })
    }

    /// The JSON body POSTed on every (re-)registration.
    pub fn body(&self) -> &Value {
        &self.body
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.mux_token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    async fn post(&self) -> Result<(), String> {
        let url = format!("{}/api/v1/sessions", self.mux_url);
        let resp = self
            .authorize(self.client.post(&url).json(&self.body))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("mux answered {}", resp.status()))
        }
    }

    /// Registers (up to 5 attempts with backoff), then re-registers every heartbeat period for
    /// ever, whether or not the first attempts succeeded. Run it as a task and abort it.
    pub async fn run(self) {
        let mut backoff = Backoff::new(backoff::REGISTER);
        let never = CancellationToken::new();
        loop {
            match self.post().await {
                Ok(()) => {
                    tracing::info!(id = %self.id, mux = %self.mux_url, "registered with the mux");
                    break;
                }
                Err(e) => {
                    let attempt = backoff.failures() + 1;
                    tracing::warn!(attempt, error = %e, "registration failed");
                    if !backoff.wait(&never).await {
                        break;
                    }
                }
            }
        }
        loop {
            tokio::time::sleep(self.heartbeat).await;
            if let Err(e) = self.post().await {
                tracing::debug!(error = %e, "heartbeat registration failed");
            }
        }
    }

    /// `DELETE /api/v1/sessions/{id}`, bounded by `timeout`.
    pub async fn deregister(&self, timeout: Duration) {
        let url = format!("{}/api/v1/sessions/{}", self.mux_url, self.id);
        let req = self
            .authorize(self.client.delete(&url))
            .timeout(timeout)
            .send();
        match req.await {
            Ok(resp) => tracing::info!(status = %resp.status(), "deregistered from the mux"),
            Err(e) => tracing::warn!(error = %e, "deregistration failed"),
        }
    }
}

/// `{"agent","command":argv0}` plus each well-formed label; dots nest objects.
pub fn metadata(agent: &str, command: &str, labels: &[String]) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert("agent".into(), Value::String(agent.into()));
    meta.insert("command".into(), Value::String(command.into()));
    for label in labels {
        let Some((key, value)) = label.split_once('=') else {
            continue;
        };
        let path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|p| p.trim().is_empty()) {
            continue;
        }
        insert_path(&mut meta, &path, value);
    }
    meta
}

fn insert_path(map: &mut Map<String, Value>, path: &[&str], value: &str) {
    match path {
        [] => {}
        [last] => {
            map.insert((*last).into(), Value::String(value.into()));
        }
        [first, rest @ ..] => {
            let entry = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                // A later nested label wins over an earlier flat one with the same prefix.
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn k8s_info(get: &impl Fn(&str) -> Option<String>) -> Value {
    let mut k8s = Map::new();
    let pod = env_nonempty(get, "POD_NAME").or_else(|| env_nonempty(get, "HOSTNAME"));
    let fields = [
        ("pod", pod),
        ("namespace", env_nonempty(get, "POD_NAMESPACE")),
        ("node", env_nonempty(get, "NODE_NAME")),
        ("ip", env_nonempty(get, "POD_IP")),
        ("service_account", env_nonempty(get, "POD_SERVICE_ACCOUNT")),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            k8s.insert(key.into(), Value::String(value));
        }
    }
    Value::Object(k8s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn me<'a>(labels: &'a [String]) -> SelfInfo<'a> {
        SelfInfo {
            port: 4242,
            host: "127.0.0.1".into(),
            auth_token: Some("tok"),
            labels,
            command: "bash",
            agent: "unknown",
            fallback_id: "uuid-1",
            heartbeat: None,
        }
    }

    #[test]
    fn labels_nest_and_malformed_are_skipped() {
        let labels: Vec<String> = ["team=core", "a.b=v", "a.c=", "bad", "=x", "x..y=1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let meta = Value::Object(metadata("unknown", "bash", &labels));
        assert_eq!(
            meta,
            json!({"agent":"unknown","command":"bash","team":"core","a":{"b":"v","c":""}})
        );
    }

    #[test]
    fn env_drives_the_body() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("COOP_MUX_URL", "http://mux:9800/"),
            ("COOP_MUX_TOKEN", "mt"),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("HOSTNAME", "pod-7"),
            ("POD_IP", "10.1.2.3"),
            ("COOP_MUX_SESSION_ID", ""),
        ]);
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let reg = Registration::from_env(get, &me(&[])).unwrap();
        assert_eq!(reg.id, "uuid-1");
        assert_eq!(reg.heartbeat, HEARTBEAT_K8S);
        assert_eq!(reg.mux_url, "http://mux:9800");
        assert_eq!(reg.mux_token.as_deref(), Some("mt"));
        assert_eq!(
            reg.body(),
            &json!({
                "url": "http://10.1.2.3:4242",
                "auth_token": "tok",
                "id": "uuid-1",
                "metadata": {"agent":"unknown","command":"bash","k8s":{"pod":"pod-7","ip":"10.1.2.3"}}
            })
        );
        let off = |k: &str| (k == "COOP_MUX_URL").then(String::new);
        assert!(Registration::from_env(off, &me(&[])).is_none());
    }

    #[test]
    fn unset_mux_url_registers_at_the_default_port() {
        let reg = Registration::from_env(|_| None, &me(&[])).unwrap();
        assert_eq!(reg.mux_url, DEFAULT_MUX_URL);
        assert_eq!(reg.id, "uuid-1");
        assert_eq!(reg.body()["metadata"]["agent"], "unknown");
        assert_eq!(reg.body()["url"], "http://127.0.0.1:4242");
    }
}
