//! `coopmux k8s-pod-manifest`: the session pod that `deploy/k8s-launch.sh` applies, built as
//! JSON with a real serializer (docs/security.md, "Agents inside sessions"), so user values such as
//! `GIT_REPO` are data in fields, never YAML or shell text.
//!
//! Kubernetes expands `$(VAR)` in `env[].value`, `command` and `args`; every value taken from
//! the environment is therefore escaped (`$` → `$$`, which Kubernetes turns back into `$`).
//! The init container's script is a constant that reads `"$GIT_REPO"` and `"$GIT_BRANCH"` from
//! its environment. Credentials and the mux token come from Secrets, never literal values.

use clap::Args;
use serde_json::{json, Value};

/// Port of the session host inside the pod.
pub const SESSION_PORT: u16 = 8080;

/// Workspace volume mount point, shared by the clone and the session.
const WORKSPACE: &str = "/workspace";

/// The init container's script: constant text; the repository and branch are only ever
/// expanded as quoted shell variables, and `--` stops a URL from being read as an option.
pub const CLONE_SCRIPT: &str =
    r#"exec git clone --depth 1 --branch "$GIT_BRANCH" -- "$GIT_REPO" /workspace/repo"#;

/// Credential variables of the session and their keys in the credentials Secret.
const CREDENTIAL_KEYS: [(&str, &str); 4] = [
    ("ANTHROPIC_API_KEY", "anthropic-api-key"),
    ("CLAUDE_CODE_OAUTH_TOKEN", "claude-code-oauth-token"),
    ("OPENAI_API_KEY", "openai-api-key"),
    ("GEMINI_API_KEY", "gemini-api-key"),
];

/// Flags of `coopmux k8s-pod-manifest`. Deployment settings (image, secrets) are flags only,
/// so that launch variables, which reach the script as environment, cannot change them.
#[derive(Debug, Clone, Args)]
pub struct PodManifestArgs {
    /// Pod name; default `coop-session-` plus 8 characters of the session id (or random).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of the pod (the mux's own, through the downward API).
    #[arg(long, env = "POD_NAMESPACE", default_value = "coop")]
    pub namespace: String,
    /// Image of the session container (runs `coopmux session`).
    #[arg(long, default_value = "coopmux-session:latest")]
    pub image: String,
    /// Image of the init container that clones `GIT_REPO`.
    #[arg(long, default_value = "alpine/git:latest")]
    pub git_image: String,
    /// Mux URL the session registers with; default the `coopmux` Service of the namespace.
    #[arg(long, env = "COOP_MUX_URL")]
    pub mux_url: Option<String>,
    /// Session id the mux chose for this launch.
    #[arg(long, env = "COOP_MUX_SESSION_ID")]
    pub session_id: Option<String>,
    /// Repository to clone into `/workspace/repo` (none: no clone).
    #[arg(long, env = "GIT_REPO")]
    pub git_repo: Option<String>,
    /// Branch to clone (empty means `main`).
    #[arg(long, env = "GIT_BRANCH")]
    pub git_branch: Option<String>,
    /// Working directory of the session (empty means `/workspace`); must be absolute.
    #[arg(long, env = "WORKING_DIR")]
    pub working_dir: Option<String>,
    /// Secret holding the mux token under the key `token`.
    #[arg(long, default_value = "coopmux-auth")]
    pub token_secret: String,
    /// Secret holding the agents' credentials (keys `anthropic-api-key`, …; all optional).
    #[arg(long, default_value = "coop-credentials")]
    pub credentials_secret: String,
    /// Service account of the session pod (no permissions).
    #[arg(long, default_value = "coop-session")]
    pub service_account: String,
    /// Agent command run on the session's PTY.
    #[arg(last = true, default_values_t = ["claude".to_owned()])]
    pub command: Vec<String>,
}

/// Why no manifest could be built.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// `WORKING_DIR` is not an absolute path.
    #[error("WORKING_DIR must be an absolute path, got {0:?}")]
    RelativeWorkingDir(String),
    /// `--name` is not a DNS-1123 label.
    #[error("invalid pod name {0:?}: use lower-case letters, digits and '-', at most 63")]
    InvalidName(String),
}

/// Escapes Kubernetes' `$(VAR)` expansion: the API server turns `$$` back into `$`.
pub fn k8s_escape(value: &str) -> String {
    value.replace('$', "$$")
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn pod_name(args: &PodManifestArgs) -> Result<String, ManifestError> {
    if let Some(name) = &args.name {
        return is_dns_label(name)
            .then(|| name.clone())
            .ok_or_else(|| ManifestError::InvalidName(name.clone()));
    }
    let from_id: String = non_empty(args.session_id.as_deref())
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(8)
        .collect();
    let suffix = if from_id.is_empty() {
        uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
    } else {
        from_id
    };
    Ok(format!("coop-session-{suffix}"))
}

fn plain(name: &str, value: &str) -> Value {
    json!({"name": name, "value": k8s_escape(value)})
}

fn field(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

fn secret(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": true}}})
}

/// Label values are at most 63 characters of `[A-Za-z0-9._-]`; an id that is not one is
/// simply not used as a label.
fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The session pod, as a JSON value ready for `kubectl apply -f -`.
pub fn pod_manifest(args: &PodManifestArgs) -> Result<Value, ManifestError> {
    let name = pod_name(args)?;
    let branch = non_empty(args.git_branch.as_deref()).unwrap_or("main");
    let working_dir = non_empty(args.working_dir.as_deref()).unwrap_or(WORKSPACE);
    if !working_dir.starts_with('/') {
        return Err(ManifestError::RelativeWorkingDir(working_dir.to_owned()));
    }
    let mux_url = non_empty(args.mux_url.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http://coopmux.{}.svc.cluster.local:9800", args.namespace));
    let repo = non_empty(args.git_repo.as_deref());
    let session_id = non_empty(args.session_id.as_deref());

    let mut labels = json!({"app": "coop-session", "app.kubernetes.io/managed-by": "coopmux"});
    if let Some(id) = session_id.filter(|id| is_label_value(id)) {
        labels["coopmux/session-id"] = json!(id);
    }
    // Order matters: `COOP_URL` refers to `POD_IP`, which must come first.
    let mut env = vec![
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        field("POD_IP", "status.podIP"),
        field("POD_UID", "metadata.uid"),
        json!({"name": "COOP_URL", "value": format!("http://$(POD_IP):{SESSION_PORT}")}),
        plain("COOP_MUX_URL", &mux_url),
        secret("COOP_MUX_TOKEN", &args.token_secret, "token"),
        plain("GIT_BRANCH", branch),
        plain("WORKING_DIR", working_dir),
    ];
    if let Some(id) = session_id {
        env.push(plain("COOP_MUX_SESSION_ID", id));
    }
    if let Some(repo) = repo {
        env.push(plain("GIT_REPO", repo));
    }
    for (var, key) in CREDENTIAL_KEYS {
        env.push(secret(var, &args.credentials_secret, key));
    }
    let mut command: Vec<String> = [
        "coopmux", "session", "--host", "0.0.0.0", "--port", "8080", "--",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    command.extend(args.command.iter().map(|c| k8s_escape(c)));
    let mount = json!([{"name": "workspace", "mountPath": WORKSPACE}]);
    let restricted = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    let probe = |initial: u32, period: u32| {
        json!({
            "httpGet": {"path": "/api/v1/health", "port": SESSION_PORT},
            "initialDelaySeconds": initial,
            "periodSeconds": period,
        })
    };
    let mut spec = json!({
        "serviceAccountName": args.service_account,
        "automountServiceAccountToken": false,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "workspace", "emptyDir": {}}],
        "containers": [{
            "name": "coop",
            "image": args.image,
            "workingDir": working_dir,
            "command": command,
            "env": env,
            "ports": [{"name": "http", "containerPort": SESSION_PORT}],
            "readinessProbe": probe(2, 5),
            "livenessProbe": probe(15, 20),
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "2", "memory": "4Gi"},
            },
            "volumeMounts": mount,
            "securityContext": restricted,
        }],
    });
    if let Some(repo) = repo {
        spec["initContainers"] = json!([{
            "name": "clone",
            "image": args.git_image,
            "command": ["sh", "-c", CLONE_SCRIPT],
            "env": [
                plain("GIT_REPO", repo),
                plain("GIT_BRANCH", branch),
                // No `ext::` or `file://` tricks through the repository URL.
                {"name": "GIT_ALLOW_PROTOCOL", "value": "https:http:ssh:git"},
                {"name": "HOME", "value": "/tmp"},
            ],
            "volumeMounts": mount,
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
            "securityContext": restricted,
        }]);
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": args.namespace, "labels": labels},
        "spec": spec,
    }))
}

/// Runs the subcommand: prints the manifest, or the error on stderr. Returns the exit code.
pub fn run(args: &PodManifestArgs) -> i32 {
    match pod_manifest(args).map(|m| serde_json::to_string_pretty(&m)) {
        Ok(Ok(text)) => {
            println!("{text}");
            0
        }
        Ok(Err(err)) => {
            eprintln!("coopmux k8s-pod-manifest: {err}");
            1
        }
        Err(err) => {
            eprintln!("coopmux k8s-pod-manifest: {err}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: PodManifestArgs,
    }

    fn args(extra: &[&str]) -> PodManifestArgs {
        let mut argv = vec!["t", "--namespace", "ns"];
        argv.extend_from_slice(extra);
        Wrapper::parse_from(argv).args
    }

    fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
        container["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
    }

    #[test]
    fn hostile_values_stay_data() {
        let hostile = "x\"; rm -rf / #\n- name: evil\n  value: &a *a $(POD_IP) `id` '";
        let manifest = pod_manifest(&args(&[
            "--git-repo",
            hostile,
            "--git-branch",
            hostile,
            "--session-id",
            "Ab-12$cd!efgh",
        ]))
        .unwrap();
        let init = &manifest["spec"]["initContainers"][0];
        assert_eq!(init["command"][2], CLONE_SCRIPT);
        let repo = env_value(init, "GIT_REPO").unwrap()["value"]
            .as_str()
            .unwrap();
        assert_eq!(repo.replace("$$", "$"), hostile);
        assert!(repo.contains("$$(POD_IP)"), "{repo}");
        assert_eq!(manifest["metadata"]["name"], "coop-session-ab12cdef");
        assert!(manifest["metadata"]["labels"]
            .get("coopmux/session-id")
            .is_none());
    }

    #[test]
    fn secrets_are_references_and_defaults_apply() {
        let manifest = pod_manifest(&args(&["--", "bash", "-l"])).unwrap();
        let main = &manifest["spec"]["containers"][0];
        assert!(manifest["spec"].get("initContainers").is_none());
        assert_eq!(main["workingDir"], "/workspace");
        assert_eq!(
            env_value(main, "COOP_MUX_URL").unwrap()["value"],
            "http://coopmux.ns.svc.cluster.local:9800"
        );
        for var in ["COOP_MUX_TOKEN", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"] {
            let e = env_value(main, var).unwrap();
            assert!(e.get("value").is_none(), "{var} must not be literal");
            assert_eq!(e["valueFrom"]["secretKeyRef"]["optional"], true);
        }
        let command: Vec<_> = main["command"].as_array().unwrap().iter().collect();
        assert_eq!(command[command.len() - 2..], [&json!("bash"), &json!("-l")]);
        assert!(pod_manifest(&args(&["--working-dir", "rel"])).is_err());
        assert!(pod_manifest(&args(&["--name", "Bad_Name"])).is_err());
    }
}
