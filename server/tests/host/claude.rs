//! `coopmux session -- claudeless …`: Claude Code's state from its hooks and screen, the prompt
//! it asks (permission, question, plan) and the answers that drive its TUI, against the real
//! simulator on a real PTY with our scenarios (`tests/fixtures/claude`).

use crate::support::{screen_has, Opts, Session, TempDir, Ws, WAIT};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The simulator, installed by scripts/setup.sh.
fn claudeless_bin() -> PathBuf {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(home)
        .map(|dir| dir.join("claudeless"))
        .find(|bin| bin.is_file())
        .expect("claudeless is installed (scripts/setup.sh installs it)")
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/claude/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A host running claudeless with a scenario; the host's state directory and Claude Code's
/// own files are in `dir`, which is also the working directory (keep it as long as the host).
struct Claude {
    host: Session,
    dir: TempDir,
}

async fn claudeless(scenario: &str, flags: &[&str], args: &[&str]) -> Claude {
    let dir = TempDir::new("claude");
    let state = dir.join("state").display().to_string();
    // claudeless keeps a script per hook in the temp dir: this test's own.
    std::fs::create_dir(dir.join("tmp")).expect("tmp dir");
    let mut all_flags = vec!["--state-dir".to_owned(), state];
    all_flags.extend(flags.iter().map(|f| (*f).to_owned()));
    let opts = Opts {
        flags: all_flags,
        env: vec![
            (
                "CLAUDELESS_CONFIG_DIR",
                dir.join("claude").display().to_string(),
            ),
            ("TMPDIR", dir.join("tmp").display().to_string()),
        ],
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let bin = claudeless_bin().display().to_string();
    let scenario = fixture(scenario);
    let mut cmd = vec![bin.as_str(), "--scenario", scenario.as_str()];
    cmd.extend_from_slice(args);
    let host = Session::start_with(opts, &cmd).await;
    Claude { host, dir }
}

/// The next `transition` into `state` (the synthetic one on connect counts).
async fn reaches(ws: &mut Ws, state: &str) -> Value {
    ws.wait_for(WAIT, |f| f["event"] == "transition" && f["next"] == state)
        .await
}

/// A state subscription, once the agent is idle.
async fn idle_states(host: &Session) -> Ws {
    let mut ws = host.ws("subscribe=state").await;
    reaches(&mut ws, "idle").await;
    ws
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (want_status, Some(code)),
        "{body}"
    );
}

#[tokio::test]
async fn a_permission_names_the_command_and_accepting_it_runs_it() {
    let Claude { host, dir: _dir } = claudeless("permission", &[], &[]).await;
    let mut ws = idle_states(&host).await;
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["agent"], &agent["state"], &agent["detection_tier"]),
        (&json!("claude"), &json!("idle"), &json!("1")),
        "{agent}"
    );
    let (status, body) = host.post("/agent/respond", json!({"accept": true})).await;
    assert_error(status, &body, 409, "NO_PROMPT");

    host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["cause"], "hook:prompt(permission)", "{asked}");
    let prompt = &asked["prompt"];
    assert_eq!(prompt["type"], "permission", "{asked}");
    assert_eq!(prompt["tool"], "Bash");
    let input: Value = serde_json::from_str(prompt["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["command"], "echo deploying-now");
    assert_eq!(
        prompt["options"],
        json!(["Yes", "Yes, allow echo commands from this project", "No"])
    );
    assert_eq!(
        (&prompt["ready"], &prompt["options_fallback"]),
        (&json!(true), &json!(false))
    );
    // The same prompt, with the sequence number that names it, from GET /agent.
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["state"], &agent["since_seq"]),
        (&json!("prompt"), &asked["seq"])
    );
    assert_eq!(&agent["prompt"], prompt);
    assert_eq!(agent["detection_cause"], "hook:prompt(permission)");

    // An option the menu lacks changes nothing.
    let (status, body) = host.post("/agent/respond", json!({"option": 4})).await;
    assert_error(status, &body, 400, "BAD_REQUEST");
    let reply = host
        .post_ok("/agent/respond", json!({"accept": true}))
        .await;
    assert_eq!(
        reply,
        json!({"delivered": true, "prompt_type": "permission"})
    );
    let proceeds = reaches(&mut ws, "working").await;
    assert_eq!(
        (&proceeds["cause"], &proceeds["prompt"]),
        (&json!("respond"), &Value::Null)
    );
    // The answer is given once: the prompt is gone.
    let (status, body) = host.post("/agent/respond", json!({"accept": true})).await;
    assert_error(status, &body, 409, "NO_PROMPT");
    let done = reaches(&mut ws, "idle").await;
    assert_eq!(done["cause"], "screen:idle", "{done}");
    let screen = host.get_ok("/screen").await;
    let lines = screen["lines"].as_array().unwrap();
    let output = |l: &&Value| {
        l.as_str()
            .is_some_and(|l| l.contains('⎿') && l.ends_with("deploying-now"))
    };
    assert!(
        lines.iter().any(|l| output(&l)),
        "the command's output: {screen:#}"
    );
    assert!(
        !screen_has(&screen, "Do you want to proceed?"),
        "{screen:#}"
    );
}

#[tokio::test]
async fn a_question_lists_its_options_and_is_answered_by_number_or_text_over_ws() {
    let Claude { host, dir: _dir } = claudeless("question", &[], &[]).await;
    let mut states = idle_states(&host).await;
    let mut rpc = host.ws("").await;
    for (round, answer, shown) in [
        (1, json!({"option": 2}), "Which database?: SQLite"),
        (
            2,
            json!({"answers": [{"text": "DuckDB"}]}),
            "Which database?: DuckDB",
        ),
    ] {
        host.type_line("pick a database").await;
        let asked = reaches(&mut states, "prompt").await;
        assert_eq!(asked["cause"], "hook:prompt(question)", "{asked}");
        let prompt = &asked["prompt"];
        assert_eq!(
            (&prompt["type"], &prompt["tool"]),
            (&json!("question"), &json!("AskUserQuestion"))
        );
        assert_eq!(
            prompt["questions"],
            json!([{"question": "Which database?", "options": ["Postgres", "SQLite"]}])
        );
        assert_eq!(prompt["options"], json!(["Postgres", "SQLite"]));
        assert_eq!(
            (&prompt["question_current"], &prompt["ready"]),
            (&json!(0), &json!(true))
        );
        // A nudge does not type into an open question.
        let nudged = rpc
            .request(json!({"event": "nudge", "message": "hi"}), json!(round))
            .await;
        assert_eq!(
            nudged,
            json!({"event": "nudged", "delivered": false, "state_before": "prompt",
                "reason": "agent is prompt", "request_id": round})
        );
        let mut request = answer.clone();
        request["event"] = json!("respond");
        let reply = rpc.request(request, json!(round + 10)).await;
        assert_eq!(
            reply,
            json!({"event": "response", "delivered": true, "prompt_type": "question",
                "request_id": round + 10})
        );
        reaches(&mut states, "working").await;
        let idle = reaches(&mut states, "idle").await;
        assert_eq!(idle["cause"], "hook:idle", "{idle}");
        host.wait_text(shown).await;
    }
    // Idle, a nudge is typed and sent as a prompt.
    let nudged = rpc
        .request(json!({"event": "nudge", "message": "thanks"}), json!(99))
        .await;
    assert_eq!(
        (&nudged["delivered"], &nudged["state_before"]),
        (&json!(true), &json!("idle"))
    );
    host.wait_text("❯ thanks").await;
}

#[tokio::test]
async fn a_plan_has_the_plan_as_input_and_only_the_menu_as_options() {
    let Claude { host, dir: _dir } = claudeless("plan", &[], &[]).await;
    let mut ws = idle_states(&host).await;
    host.type_line("make a plan").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["cause"], "hook:prompt(plan)", "{asked}");
    let prompt = &asked["prompt"];
    assert_eq!(
        (&prompt["type"], &prompt["tool"]),
        (&json!("plan"), &json!("ExitPlanMode"))
    );
    let input: Value = serde_json::from_str(prompt["input"].as_str().unwrap()).unwrap();
    assert!(
        input["plan"]
            .as_str()
            .unwrap()
            .contains("1. Add a cache table"),
        "{input}"
    );
    // The plan's own numbered steps are not options.
    assert_eq!(
        prompt["options"],
        json!([
            "Yes, clear context and auto-accept edits (shift+tab)",
            "Yes, auto-accept edits",
            "Yes, manually approve edits",
            "Type here to tell Claude what to change"
        ])
    );
    let reply = host.post_ok("/agent/respond", json!({"option": 2})).await;
    assert_eq!(reply["prompt_type"], "plan");
    reaches(&mut ws, "working").await;
    reaches(&mut ws, "idle").await;
    host.wait_text("[Plan approved (mode: auto_accept)]").await;
}

#[tokio::test]
async fn a_rate_limit_parks_the_agent_and_an_expired_key_is_an_error() {
    let Claude { host, dir: _dir } = claudeless("failures", &[], &[]).await;
    let mut ws = idle_states(&host).await;
    host.type_line("rate please").await;
    let parked = reaches(&mut ws, "parked").await;
    assert_eq!(parked["cause"], "screen:parked", "{parked}");
    assert_eq!(parked["error_category"], "rate_limited");
    assert_eq!(
        parked["error_detail"],
        "Error: Rate limited. Retry after 30 seconds."
    );
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["state"], &agent["detection_tier"]),
        (&json!("parked"), &json!("5"))
    );
    host.type_line("auth please").await;
    let failed = reaches(&mut ws, "error").await;
    assert_eq!(
        (&failed["error_category"], &failed["error_detail"]),
        (&json!("unauthorized"), &json!("Error: API key expired"))
    );
}

/// The endpoint file of the host's private directory, and the directory.
fn endpoint(claude: &Claude) -> (PathBuf, Value) {
    let hooks = claude.dir.join("state/hooks");
    let dir = std::fs::read_dir(&hooks)
        .expect("the hooks directory")
        .next()
        .expect("one host directory")
        .expect("entry")
        .path();
    let text = std::fs::read_to_string(dir.join("endpoint.json")).expect("endpoint.json");
    (dir, serde_json::from_str(&text).expect("endpoint JSON"))
}

#[tokio::test]
async fn hooks_reach_only_this_host_through_a_private_directory_and_a_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let claude = claudeless("permission", &[], &[]).await;
    let mut ws = idle_states(&claude.host).await;
    let (dir, endpoint) = endpoint(&claude);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("endpoint.json")), 0o600);
    assert_eq!(mode(&dir.join("settings.json")), 0o600);
    let token = endpoint["token"].as_str().unwrap();
    let settings = std::fs::read_to_string(dir.join("settings.json")).unwrap();
    assert!(
        !settings.contains(token),
        "the secret stays out of the hook command"
    );
    let addr = endpoint["addr"].as_str().unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // A forged event without the secret, or with another, changes nothing.
    let forged = json!({"hook_event_name": "PermissionRequest", "tool_name": "Bash",
        "tool_input": {"command": "rm -rf /"}});
    let url = format!("http://{addr}/hook");
    for auth in [None, Some("not-the-secret")] {
        let mut req = claude.host.http.post(&url).json(&forged);
        if let Some(auth) = auth {
            req = req.bearer_auth(auth);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    let agent = claude.host.get_ok("/agent").await;
    assert_eq!(agent["state"], "idle", "{agent}");
    // The real hooks still work.
    claude.host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["prompt"]["tool"], "Bash");

    // The directory goes with the host.
    let host = claude.host;
    host.post_ok("/shutdown", json!({})).await;
    let mut host = host;
    host.wait_exit(WAIT).await;
    assert!(!dir.exists(), "{} is removed at exit", dir.display());
}

#[tokio::test]
async fn the_operators_own_settings_and_hooks_are_kept() {
    let dir = TempDir::new("claude-own");
    let mark = dir.join("tool-used");
    // The same (empty) matcher as the host's own PreToolUse hook: both must run.
    let own = json!({"hooks": {"PreToolUse": [{"matcher": "", "hooks": [
        {"type": "command", "command": format!("touch '{}'", mark.display())}]}]}});
    let own_path = dir.join("mine.json");
    std::fs::write(&own_path, own.to_string()).unwrap();
    let own_arg = own_path.display().to_string();
    let Claude { host, dir: _dir } = claudeless("permission", &[], &["--settings", &own_arg]).await;
    let mut ws = idle_states(&host).await;
    host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
    assert!(mark.exists(), "the operator's hook ran as well");
}

#[tokio::test]
async fn a_plain_command_has_no_driver_and_agent_none_makes_claudeless_plain() {
    let Claude { host, dir: _dir } = claudeless("permission", &["--agent", "none"], &[]).await;
    host.wait_text("? for shortcuts").await;
    let agent = host.get_ok("/agent").await;
    assert_eq!(agent["agent"], "unknown", "{agent}");
    let (status, body) = host.post("/agent/respond", json!({"accept": true})).await;
    assert_error(status, &body, 404, "NO_DRIVER");
    let (status, body) = host.post("/agent/nudge", json!({"message": "x"})).await;
    assert_error(status, &body, 404, "NO_DRIVER");
}
