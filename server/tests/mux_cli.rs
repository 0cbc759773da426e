//! The `coopmux` binary: flags and env names, secrets kept out of logs and help, graceful
//! SIGTERM, and `coopmux open`.

mod mux_support;

use mux_support::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_coopmux");
const TOKEN: &str = "tok-mux-0xDEADBEEF-never-logged";
const UPSTREAM_TOKEN: &str = "tok-upstream-CAFEBABE-never-logged";

/// A unique scratch directory under the system temp dir.
fn scratch(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("mux-cli-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the binary and returns it with its base URL and a receiver of its stderr lines.
fn spawn_mux(extra: &[&str]) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["--port", "0"])
        // Never the developer's own credential state.
        .env("COOP_MUX_STATE_DIR", scratch("state"))
        .args(extra)
        .env("COOP_MUX_AUTH_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coopmux");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let base = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the mux logs its address");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim_end_matches("/mux").trim().to_owned();
        }
    };
    (child, base, rx)
}

#[tokio::test]
async fn secrets_stay_out_of_logs_and_sigterm_exits_cleanly() {
    let (mut child, base, lines) =
        spawn_mux(&["--health-check-ms", "100", "--prewarm-poll-ms", "100"]);
    let up = start_upstream().await;
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
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let log: Vec<String> = lines.try_iter().collect();
    let log = log.join("\n");
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
    let out = Command::new(BIN)
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
fn fake_opener(code: i32) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch("open");
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

fn run_open(dir: &std::path::Path, token: Option<&str>, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("open").args(args);
    match token {
        Some(t) => cmd.env("COOP_MUX_AUTH_TOKEN", t),
        None => cmd.env_remove("COOP_MUX_AUTH_TOKEN"),
    };
    finish_open(dir, cmd)
}

fn run_open_env(dir: &std::path::Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("open").env_remove("COOP_MUX_AUTH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish_open(dir, cmd)
}

fn finish_open(dir: &std::path::Path, mut cmd: Command) -> (i32, String) {
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
    let (code, stderr) = run_open(&dir, Some(TOKEN), &["http://127.0.0.1:9/"]);
    assert_eq!(code, 0, "{stderr}");
    let opened = std::fs::read_to_string(&record).unwrap();
    assert_eq!(opened, "http://127.0.0.1:9/mux/login");
    assert!(
        stderr.contains("Opening http://127.0.0.1:9/mux/login"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));

    let (code, stderr) = run_open_env(&dir, &[("COOP_MUX_PORT", "1234")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "http://127.0.0.1:1234/mux"
    );

    let (failing, _) = fake_opener(3);
    let (code, stderr) = run_open(&failing, None, &["http://h:1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Open manually: http://h:1/mux"), "{stderr}");
}
