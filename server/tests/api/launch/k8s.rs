//! `deploy/`: `k8s-launch.sh` with a recording `kubectl` stub (hostile values arrive as inert
//! data), and every manifest validated against the Kubernetes schemas with the PyPI package
//! `kubernetes-validate` (installed by scripts/setup.sh), plus `kubectl apply --dry-run=client`.

use crate::support::procs::bin_dir;
use crate::support::TempDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOSTILE: &str =
    "x\"; rm -rf / # '\n- name: evil\n  value: &a *a $(POD_IP) $(id) `id` ${HOME}";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A `kubectl` that records its arguments and standard input in `dir`.
fn kubectl_stub(dir: &Path) {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\ncat > '{0}/stdin'\n",
        dir.display()
    );
    let path = dir.join("kubectl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Kubernetes turns `$$` back into `$` in env values and commands.
fn unescape(value: &Value) -> String {
    value.as_str().unwrap().replace("$$", "$")
}

fn env_of<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {container}"))
}

fn validate(files: &[&Path]) {
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(files)
        .output()
        .expect("python3 runs (scripts/setup.sh installs kubernetes-validate)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    assert!(text.contains("passed"), "{text}");
}

#[test]
fn k8s_launch_script_applies_an_inert_manifest() {
    let dir = TempDir::new("k8s");
    kubectl_stub(dir.path());
    let bin = bin_dir();
    let working_dir = format!("/workspace/{HOSTILE}");
    let out = Command::new("sh")
        .arg(repo_root().join("deploy/k8s-launch.sh"))
        .args([
            "--image",
            "coopmux-session:test",
            "--",
            "claude",
            "--flag=$(id)",
        ])
        .env_clear()
        .env("PATH", format!("{}:{bin}:/usr/bin:/bin", dir.display()))
        .env("GIT_REPO", HOSTILE)
        .env("GIT_BRANCH", HOSTILE)
        .env("WORKING_DIR", &working_dir)
        .env("COOP_MUX_URL", "http://coopmux.coop.svc.cluster.local:9800")
        .env(
            "COOP_MUX_SESSION_ID",
            "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
        )
        .env("COOP_MUX_TOKEN", "mux-token-literal")
        .env("ANTHROPIC_API_KEY", "sk-ant-literal")
        .env("POD_NAMESPACE", "coop")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = std::fs::read_to_string(dir.join("args")).unwrap();
    assert_eq!(args.lines().collect::<Vec<_>>(), ["apply", "-f", "-"]);
    let applied = std::fs::read_to_string(dir.join("stdin")).unwrap();
    for secret in ["mux-token-literal", "sk-ant-literal"] {
        assert!(
            !applied.contains(secret),
            "a credential was pasted into the manifest"
        );
    }
    let pod: Value = serde_json::from_str(&applied).expect("the applied manifest is JSON");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "coop-session-0f1e2d3c");
    assert_eq!(pod["metadata"]["namespace"], "coop");
    assert_eq!(pod["metadata"]["labels"]["app"], "coop-session");
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["serviceAccountName"], "coop-session");

    let init = &spec["initContainers"][0];
    assert_eq!(init["command"][0], "sh");
    let script = init["command"][2].as_str().unwrap();
    assert!(
        script.contains(r#""$GIT_REPO""#) && !script.contains("rm -rf"),
        "{script}"
    );
    assert_eq!(unescape(&env_of(init, "GIT_REPO")["value"]), HOSTILE);
    assert_eq!(unescape(&env_of(init, "GIT_BRANCH")["value"]), HOSTILE);

    let main = &spec["containers"][0];
    assert_eq!(main["image"], "coopmux-session:test");
    assert_eq!(main["workingDir"], working_dir.as_str());
    assert_eq!(unescape(&env_of(main, "GIT_REPO")["value"]), HOSTILE);
    assert_eq!(env_of(main, "COOP_URL")["value"], "http://$(POD_IP):8080");
    assert_eq!(
        env_of(main, "POD_IP")["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
    assert_eq!(
        unescape(&env_of(main, "COOP_MUX_SESSION_ID")["value"]),
        "0f1e2d3c-aaaa-bbbb-cccc-000000000000"
    );
    for var in [
        "COOP_MUX_TOKEN",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
    ] {
        let entry = env_of(main, var);
        assert!(entry.get("value").is_none(), "{var} is literal: {entry}");
        assert!(
            entry["valueFrom"]["secretKeyRef"]["name"].is_string(),
            "{entry}"
        );
    }
    let command: Vec<String> = main["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(unescape)
        .collect();
    assert_eq!(command[..2], ["coopmux", "session"]);
    assert_eq!(command[command.len() - 2..], ["claude", "--flag=$(id)"]);
    assert_eq!(main["readinessProbe"]["httpGet"]["path"], "/api/v1/health");

    let file = dir.join("pod.json");
    std::fs::write(&file, &applied).unwrap();
    validate(&[&file]);
}

#[test]
fn k8s_launch_script_fails_without_applying_on_a_bad_manifest() {
    let dir = TempDir::new("k8s");
    kubectl_stub(dir.path());
    let bin = bin_dir();
    let out = Command::new("sh")
        .arg(repo_root().join("deploy/k8s-launch.sh"))
        .env_clear()
        .env("PATH", format!("{}:{bin}:/usr/bin:/bin", dir.display()))
        .env("WORKING_DIR", "relative/dir")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WORKING_DIR"));
    assert!(
        !dir.join("args").exists(),
        "kubectl ran although the manifest failed"
    );
}

#[test]
fn deploy_manifests_match_the_kubernetes_schemas() {
    let root = repo_root();
    let mux = root.join("deploy/k8s-mux.yaml");
    let secrets = root.join("deploy/secrets.example.yaml");
    let nats = root.join("deploy/k8s-nats.yaml");
    let replicas = root.join("deploy/k8s-mux-replicas.yaml");
    validate(&[&mux, &secrets, &nats, &replicas]);

    // RBAC: pods only, and only these verbs.
    let text = std::fs::read_to_string(&mux).unwrap();
    assert!(text.contains(r#"verbs: ["create", "get", "list", "watch", "delete"]"#));
    assert!(text.contains(r#"resources: ["pods"]"#));

    // NATS: JetStream on a persistent volume, token from the Secret, a Service on 4222.
    let text = std::fs::read_to_string(&nats).unwrap();
    for needle in [
        "kind: StatefulSet",
        "jetstream {",
        "volumeClaimTemplates:",
        "port: 4222",
        "token: $NATS_TOKEN",
        "name: coop-nats-auth",
    ] {
        assert!(text.contains(needle), "k8s-nats.yaml lacks {needle:?}");
    }
    // Two muxes on it, the token from the same Secret, never a literal.
    let text = std::fs::read_to_string(&replicas).unwrap();
    for needle in [
        "kind: Deployment",
        "replicas: 2",
        "name: COOP_MUX_NATS_URL",
        "value: nats://nats.coop.svc.cluster.local:4222",
        "name: COOP_MUX_NATS_TOKEN",
        "name: coop-nats-auth",
    ] {
        assert!(
            text.contains(needle),
            "k8s-mux-replicas.yaml lacks {needle:?}"
        );
    }
    let secrets_text = std::fs::read_to_string(&secrets).unwrap();
    assert!(secrets_text.contains("name: coop-nats-auth"));

    let kubectl_present = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !kubectl_present {
        println!("kubectl is absent: `kubectl apply --dry-run=client` skipped");
        return;
    }
    let out = Command::new("kubectl")
        .args(["apply", "--dry-run=client"])
        .arg("-f")
        .arg(&mux)
        .arg("-f")
        .arg(&nats)
        .arg("-f")
        .arg(&replicas)
        .args(["--request-timeout=5s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Client dry-run still needs API discovery; with no cluster configured it cannot run.
    let no_cluster = [
        "connection refused",
        "unable to recognize",
        "failed to download openapi",
    ]
    .iter()
    .any(|m| stderr.contains(m));
    if !out.status.success() && no_cluster {
        println!("kubectl present but no API server reachable: dry-run skipped ({stderr})");
        return;
    }
    assert!(out.status.success(), "kubectl dry-run failed: {stderr}");
}
