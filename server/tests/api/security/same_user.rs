//! Processes of the operator's user, agents included: they cannot read the hub's or the session
//! host's memory and environment, nor plant the page's bundle names in the shared temp
//! directory; two hubs never share a state directory, and a state file the hub cannot read
//! stops it instead of being replaced (docs/security.md, "Agents inside sessions", "Local
//! users"). The hubs, their agents and the readers run as an unprivileged user: root would
//! bypass every check.

use crate::support::unprivileged::{self, hand_over};
use crate::support::{wait_for, HubProcess, TempDir, LONG_WAIT};
use serde_json::json;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;

const HUB_TOKEN: &str = "hub-token-in-the-hubs-environment";
const REGISTRATION_TOKEN: &str = "registration-token-of-the-session-host";

/// Whether a process of the unprivileged user may open `/proc/{pid}/{file}`: reads from it
/// (an unmapped address of `mem` fails the read, not the open) and tells a refused open.
fn may_open_proc(pid: u32, file: &str) -> bool {
    let out = unprivileged::command("head")
        .args(["-c", "64", &format!("/proc/{pid}/{file}")])
        .stdin(Stdio::null())
        .output()
        .expect("run head");
    !String::from_utf8_lossy(&out.stderr).contains("Permission denied")
}

/// A directory the unprivileged user may write into.
fn shared_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    hand_over(dir.path());
    dir
}

/// What an agent's `cat /proc/$PPID/environ` left in `dir`: exit code and output.
async fn agent_report(dir: &Path) -> (String, String) {
    let rc = wait_for(LONG_WAIT, || async {
        std::fs::read_to_string(dir.join("rc")).ok()
    })
    .await
    .expect("the agent reported");
    let out = std::fs::read_to_string(dir.join("out")).unwrap_or_default();
    (rc.trim().to_owned(), out)
}

/// The agent's script: reads its parent's environment into `out`, its exit code into `rc`.
fn reader_script(dir: &Path) -> String {
    let d = dir.display();
    format!("cat /proc/$PPID/environ > {d}/out 2>&1; echo $? > {d}/rc; exec sleep 60")
}

#[tokio::test]
async fn the_hubs_memory_and_environment_are_closed_to_its_agents() {
    let dir = shared_dir("hub-environ");
    let launch = reader_script(dir.path());
    let mux = HubProcess::try_start_unprivileged(
        &["--launch", &launch],
        &[("COOP_MUX_AUTH_TOKEN", HUB_TOKEN)],
    )
    .expect("the hub starts");
    let reply = mux
        .client()
        .post(format!("{}/api/v1/sessions/launch", mux.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let (rc, out) = agent_report(dir.path()).await;
    assert!(!out.contains(HUB_TOKEN), "the agent read the hub's token");
    assert_ne!(rc, "0", "the agent read the hub's environment: {out}");

    // Any other process of the user, too; `cmdline` (which `ps` shows, and holds no secret)
    // stays readable, which shows the reader works.
    assert!(
        may_open_proc(mux.pid(), "cmdline"),
        "the reader opens nothing"
    );
    for file in ["environ", "mem"] {
        assert!(
            !may_open_proc(mux.pid(), file),
            "/proc/<hub>/{file} opens for the hub's user"
        );
    }
    mux.stop();
}

#[tokio::test]
async fn the_session_hosts_memory_is_closed_to_its_agent() {
    let dir = shared_dir("host-environ");
    let script = reader_script(dir.path());
    let mut host = unprivileged::command(crate::support::procs::bin())
        .args(["session", "--", "sh", "-c", &script])
        .env("COOP_MUX_URL", "")
        .env("COOP_MUX_TOKEN", REGISTRATION_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn coopmux session");
    let (rc, out) = agent_report(dir.path()).await;
    let readable = may_open_proc(host.id(), "environ");
    crate::support::procs::stop_child_groups(host.id());
    let _ = host.kill();
    let _ = host.wait();
    assert!(
        !out.contains(REGISTRATION_TOKEN),
        "the agent read the host's token"
    );
    assert_ne!(rc, "0", "the agent read the host's environment: {out}");
    assert!(!readable, "/proc/<host>/environ opens for the host's user");
}

/// A stand-in for the built site: only the page's bundles.
fn site() -> TempDir {
    let site = TempDir::new("tmp-site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    for name in ["coopmux.js", "coopmux.wasm", "coopmux.css"] {
        std::fs::write(site.join("pkg").join(name), format!("// {name}\n")).unwrap();
    }
    site
}

#[tokio::test]
async fn the_page_takes_nothing_from_the_shared_temp_directory() {
    use coopmux::hub::web::assets::content_hash;
    let site = site();
    let tmp = TempDir::new("shared-tmp");
    let wasm = content_hash(&std::fs::read(site.join("pkg/coopmux.wasm")).unwrap());
    // The name a hub wrote the bundle hash under, and a file of the operator's behind it.
    let text = format!("wasm: {wasm}\n");
    let planted = tmp.join(format!(
        "coopmux-hash-{}.txt",
        content_hash(text.as_bytes())
    ));
    let victim = tmp.join("operators-file");
    std::fs::write(&victim, "the operator's own file").unwrap();
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    let root = site.display();
    let tmpdir = tmp.display();
    let mux = HubProcess::start(
        &[],
        &[
            ("LEPTOS_SITE_ROOT", root.as_str()),
            ("TMPDIR", tmpdir.as_str()),
        ],
    );
    let page = || async {
        let reply = mux.client().get(format!("{}/mux", mux.base)).send().await;
        reply.unwrap().text().await.unwrap()
    };
    assert!(page().await.contains(&format!("coopmux.{wasm}.wasm")));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the operator's own file",
        "the hub wrote through a planted symlink"
    );
    // Another user rewrites the file while the hub runs: the page does not change.
    std::fs::remove_file(&planted).unwrap();
    let injected = "wasm: 0123456789abcdef\"></script><script>window.pwned=1</script>\n";
    std::fs::write(&planted, injected).unwrap();
    let html = page().await;
    assert!(!html.contains("pwned") && !html.contains("0123456789abcdef"));
    assert!(html.contains(&format!("coopmux.{wasm}.wasm")));
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "the hub wrote into the temp dir: {names:?}");
    mux.stop();
}

#[tokio::test]
async fn a_second_hub_on_the_same_state_directory_refuses_to_start() {
    let dir = TempDir::new("two-hubs");
    let state = dir.join("state");
    let state_arg = state.to_str().unwrap();
    let first = HubProcess::start(&["--state-dir", state_arg], &[]);
    first
        .post_ok(
            "/api/v1/credentials/new",
            json!({"name": "kept", "provider": "openai", "token": "kept-key"}),
        )
        .await;
    let log = match HubProcess::try_start(&["--state-dir", state_arg], &[]) {
        Ok(_) => panic!("a second hub started on the same state directory"),
        Err(log) => log,
    };
    assert!(
        log.contains(state_arg) && log.contains("--state-dir"),
        "the refusal names the directory and the flag: {log}"
    );
    assert_eq!(first.account("kept").await["status"], "healthy");
    first.stop();
    let saved = std::fs::read_to_string(state.join("credentials.json")).unwrap();
    assert!(saved.contains("kept-key"), "the key was lost: {saved}");
}

#[tokio::test]
async fn a_state_file_the_hub_cannot_read_stops_it_and_is_kept() {
    let dir = TempDir::new("unreadable-state");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = state.join("credentials.json");
    let content = r#"{"accounts":{"a":{"access_token":"the-only-copy"}}}"#;
    std::fs::write(&file, content).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    hand_over(&state);
    hand_over(&file);
    let log =
        match HubProcess::try_start_unprivileged(&["--state-dir", state.to_str().unwrap()], &[]) {
            Ok(hub) => {
                hub.stop();
                panic!("the hub started without its unreadable state file")
            }
            Err(log) => log,
        };
    assert!(
        log.contains("cannot read") && log.contains(file.to_str().unwrap()),
        "the error names the file: {log}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), content);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o000, "the file was replaced");
}
