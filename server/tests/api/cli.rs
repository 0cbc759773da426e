//! The `coopmux` binary: flags and env names, secrets kept out of logs and help, graceful
//! SIGTERM, and `coopmux open`.

use crate::support::procs::bin;
use crate::support::{client, HubProcess, MockUpstream, Session, TempDir, TestServer};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "tok-mux-0xDEADBEEF-never-logged";
const UPSTREAM_TOKEN: &str = "tok-upstream-CAFEBABE-never-logged";

#[tokio::test]
async fn secrets_stay_out_of_logs_and_sigterm_exits_cleanly() {
    let mut hub = HubProcess::start(
        &["--health-check-ms", "100", "--prewarm-poll-ms", "100"],
        &[("COOP_MUX_AUTH_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    );
    let base = hub.base.clone();
    let up = MockUpstream::start().await;
    let c = client();
    // Wrong and right credentials in every accepted place.
    let _ = c
        .get(format!("{base}/api/v1/sessions"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    let _ = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap();
    let _ = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"token": "bad"}))
        .send()
        .await
        .unwrap();
    let _ = c
        .get(format!("{base}/ws/mux?token={TOKEN}"))
        .send()
        .await
        .unwrap();
    let reply = c
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": up.url, "id": "s", "auth_token": UPSTREAM_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply = c
        .post(format!("{base}/api/v1/sessions/s/input"))
        .bearer_auth(TOKEN)
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Let the health checker and prewarm run against it (and fail once).
    up.state
        .unhealthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    hub.wait_log("health check failed").await;

    let status = hub
        .sigterm(Duration::from_secs(5))
        .expect("exit within 5 s of SIGTERM");
    assert!(status.success(), "{status}");
    let log = hub.log();
    assert!(
        log.contains("health check failed"),
        "the log is captured:\n{log}"
    );
    assert!(!log.contains(TOKEN), "mux token in log:\n{log}");
    assert!(
        !log.contains(UPSTREAM_TOKEN),
        "upstream token in log:\n{log}"
    );
}

#[test]
fn help_lists_flags_and_env_names_without_secret_values() {
    let out = Command::new(bin())
        .arg("--help")
        .env("COOP_MUX_AUTH_TOKEN", TOKEN)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains(TOKEN), "{help}");
    for (flag, env, default) in [
        ("--host", "COOP_MUX_HOST", Some("127.0.0.1")),
        ("--port", "COOP_MUX_PORT", Some("9800")),
        ("--auth-token", "COOP_MUX_AUTH_TOKEN", None),
        ("--screen-poll-ms", "COOP_MUX_SCREEN_POLL_MS", Some("1000")),
        ("--status-poll-ms", "COOP_MUX_STATUS_POLL_MS", Some("2000")),
        (
            "--health-check-ms",
            "COOP_MUX_HEALTH_CHECK_MS",
            Some("10000"),
        ),
        (
            "--max-health-failures",
            "COOP_MUX_MAX_HEALTH_FAILURES",
            Some("3"),
        ),
        ("--launch", "COOP_MUX_LAUNCH", None),
        (
            "--prewarm-capacity",
            "COOP_MUX_PREWARM_CAPACITY",
            Some("64"),
        ),
        (
            "--prewarm-poll-ms",
            "COOP_MUX_PREWARM_POLL_MS",
            Some("15000"),
        ),
        ("--allowed-origin", "COOP_MUX_ALLOWED_ORIGINS", None),
        ("--insecure-no-auth", "COOP_MUX_INSECURE_NO_AUTH", None),
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(flag))
            .take(6)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(line.contains(env), "{flag} names {env}: {line}");
        if let Some(default) = default {
            assert!(
                line.contains(&format!("[default: {default}]")),
                "{flag} default: {line}"
            );
        }
    }
}

/// A fake `xdg-open` that records its argument and exits with `code`.
fn fake_opener(code: i32) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("cli-open");
    let record = dir.join("opened");
    let script = dir.join("xdg-open");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}'\nexit {code}\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, record)
}

fn run_open(dir: &Path, token: Option<&str>, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("open").args(args);
    match token {
        Some(t) => cmd.env("COOP_MUX_AUTH_TOKEN", t),
        None => cmd.env_remove("COOP_MUX_AUTH_TOKEN"),
    };
    finish_open(dir, cmd)
}

fn run_open_env(dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("open").env_remove("COOP_MUX_AUTH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish_open(dir, cmd)
}

fn finish_open(dir: &Path, mut cmd: Command) -> (i32, String) {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path).env_remove("COOP_MUX_URL");
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), stderr)
}

#[test]
fn open_uses_the_login_page_and_never_the_token() {
    let (dir, record) = fake_opener(0);
    let (code, stderr) = run_open(dir.path(), Some(TOKEN), &["http://127.0.0.1:9/"]);
    assert_eq!(code, 0, "{stderr}");
    let opened = std::fs::read_to_string(&record).unwrap();
    assert_eq!(opened, "http://127.0.0.1:9/mux/login");
    assert!(
        stderr.contains("Opening http://127.0.0.1:9/mux/login"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));

    let (code, stderr) = run_open_env(dir.path(), &[("COOP_MUX_PORT", "1234")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "http://127.0.0.1:1234/mux"
    );

    let (failing, _) = fake_opener(3);
    let (code, stderr) = run_open(failing.path(), None, &["http://h:1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Open manually: http://h:1/mux"), "{stderr}");
}

#[tokio::test]
async fn host_names_are_accepted_by_the_hub_and_the_session_host() {
    use clap::Parser as _;
    use coopmux::commands::Cli;
    let cli = Cli::try_parse_from(["coopmux", "--host", "localhost"]).expect("--host localhost");
    assert_eq!(cli.serve.host.to_string(), "localhost");
    let refused = Cli::try_parse_from(["coopmux", "--host", "not a host"]).unwrap_err();
    assert!(refused.to_string().contains("invalid host"), "{refused}");
    // A name binds its IPv4 address first: where coop's sessions look for a hub by default.
    let mux = TestServer::with(|a| a.host = cli.serve.host.clone()).await;
    assert!(mux.base.starts_with("http://127.0.0.1:"), "{}", mux.base);
    let health = client()
        .get(mux.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // `coopmux session --host localhost` (its helper checks the printed 127.0.0.1 URL).
    let host = Session::start(&["--host", "localhost"], &["sh", "-c", "exec sleep 60"]).await;
    assert_eq!(host.get("/health").await.0, 200);
    host.stop().await;
}
