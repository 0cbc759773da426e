//! `coopmux session -- claudeless …`: Claude Code's state from its hooks and screen, the prompt
//! it asks (permission, question, plan) and the answers that drive its TUI, against the real
//! simulator on a real PTY with our scenarios (`tests/fixtures/claude`).

use crate::support::claude::reaches;
use crate::support::{screen_has, Claude, NatsServer, TempDir, WAIT};
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::path::PathBuf;

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (want_status, Some(code)),
        "{body}"
    );
}

#[tokio::test]
async fn a_permission_names_the_command_and_accepting_it_runs_it() {
    let claude = Claude::start("permission", &[], &[]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["agent"], &agent["state"], &agent["detection_tier"]),
        (&json!("claude"), &json!("idle"), &json!("1")),
        "{agent}"
    );
    assert_eq!(host.get_ok("/health").await["agent"], "claude");
    let (status, body) = host.post("/agent/respond", json!({"accept": true})).await;
    assert_error(status, &body, 409, "NO_PROMPT");

    host.type_line("please deploy").await;
    let busy = reaches(&mut ws, "working").await;
    assert_eq!(busy["cause"], "hook:working", "{busy}");
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
    assert_eq!(
        (&prompt["questions"], &prompt["question_current"]),
        (&json!([]), &json!(0))
    );
    let mut fields: Vec<&str> = prompt.as_object().unwrap().keys().map(|k| &**k).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "input",
            "options",
            "options_fallback",
            "question_current",
            "questions",
            "ready",
            "tool",
            "type"
        ],
        "coop's prompt object"
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
    assert_eq!(
        (&done["cause"], &done["prompt"]),
        (&json!("screen:idle"), &Value::Null),
        "{done}"
    );
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["state"], &agent["prompt"]),
        (&json!("idle"), &Value::Null)
    );
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
async fn a_restarted_claude_is_starting_until_its_session_start_hook() {
    let claude = Claude::start("permission", &[], &[]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;
    let (status, body) = host.post("/session/restart", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let started = reaches(&mut ws, "starting").await;
    assert_eq!(started["cause"], "spawned", "{started}");
    let idle = reaches(&mut ws, "idle").await;
    assert_eq!(
        (&idle["prev"], &idle["cause"]),
        (&json!("starting"), &json!("hook:idle")),
        "{idle}"
    );
    let agent = host.get_ok("/agent").await;
    assert_eq!(
        (&agent["state"], &agent["detection_tier"]),
        (&json!("idle"), &json!("1")),
        "{agent}"
    );
    // The new child's hooks reach the host as the first one's did.
    host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
}

#[tokio::test]
async fn a_question_lists_its_options_and_is_answered_by_number_or_text_over_ws() {
    let claude = Claude::start("question", &[], &[]).await;
    let host = &claude.host;
    let mut states = claude.idle_states().await;
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
    // Typed and sent: the agent takes it as a prompt and answers it.
    let busy = reaches(&mut states, "working").await;
    assert_eq!(busy["cause"], "hook:working", "{busy}");
    reaches(&mut states, "idle").await;
    host.wait_text("❯ thanks").await;
}

#[tokio::test]
async fn a_plan_has_the_plan_as_input_and_only_the_menu_as_options() {
    let claude = Claude::start("plan", &[], &[]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;
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
    let claude = Claude::start("failures", &[], &[]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;
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
    let dir = claude.hook_dir();
    let text = std::fs::read_to_string(dir.join("endpoint.json")).expect("endpoint.json");
    (dir, serde_json::from_str(&text).expect("endpoint JSON"))
}

#[tokio::test]
async fn hooks_reach_only_this_host_through_a_private_directory_and_a_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let claude = Claude::start("permission", &[], &[]).await;
    let mut ws = claude.idle_states().await;
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
    // Nor does a browser's, even with the secret: a page's Origin, a rebound host name.
    let browser = [("origin", "http://evil.example"), ("host", "evil.example")];
    for (name, value) in browser {
        let req = claude.host.http.post(&url).json(&forged).bearer_auth(token);
        let resp = req.header(name, value).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{name}: {value}");
    }
    let agent = claude.host.get_ok("/agent").await;
    assert_eq!(agent["state"], "idle", "{agent}");
    // The real hooks still work.
    claude.host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["prompt"]["tool"], "Bash");

    // The directory goes with the host.
    let mut host = claude.host;
    host.post_ok("/shutdown", json!({})).await;
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
    let claude = Claude::start("permission", &[], &["--settings", &own_arg]).await;
    let host = &claude.host;
    let mut ws = claude.idle_states().await;
    host.type_line("please deploy").await;
    let asked = reaches(&mut ws, "prompt").await;
    assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
    assert!(mark.exists(), "the operator's hook ran as well");
}

#[tokio::test]
async fn a_plain_command_has_no_driver_and_agent_none_makes_claudeless_plain() {
    let claude = Claude::start("permission", &["--agent", "none"], &[]).await;
    let host = &claude.host;
    host.wait_text("? for shortcuts").await;
    let agent = host.get_ok("/agent").await;
    assert_eq!(agent["agent"], "unknown", "{agent}");
    let (status, body) = host.post("/agent/respond", json!({"accept": true})).await;
    assert_error(status, &body, 404, "NO_DRIVER");
    let (status, body) = host.post("/agent/nudge", json!({"message": "x"})).await;
    assert_error(status, &body, 404, "NO_DRIVER");
}

/// The next relayed `transition` into `state` on a session's NATS `.state` subject.
async fn relayed_into(subscription: &mut async_nats::Subscriber, state: &str) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, subscription.next())
            .await
            .expect("a NATS message in time")
            .expect("subscription open");
        let event: Value = serde_json::from_slice(&message.payload).expect("JSON");
        if event["event"] == "transition" && event["next"] == state {
            return event;
        }
    }
}

#[tokio::test]
async fn nats_relays_the_prompt_and_takes_the_answer() {
    let nats = NatsServer::start_plain().await;
    let bus = nats.client().await;
    let id = "claude-over-nats";
    let state_subject = format!("coop.events.session.{id}.state");
    let mut relayed = bus.subscribe(state_subject).await.unwrap();
    bus.flush().await.unwrap();
    let env = vec![
        ("COOP_NATS_URL", nats.url.clone()),
        ("COOP_NATS_RELAY", "1".to_owned()),
        ("COOP_MUX_SESSION_ID", id.to_owned()),
    ];
    let claude = Claude::start_env("permission", &[], &[], env).await;
    let mut ws = claude.idle_states().await;
    claude.host.type_line("please deploy").await;
    let asked = relayed_into(&mut relayed, "prompt").await;
    assert_eq!(
        (&asked["session_id"], &asked["agent"]),
        (&json!(id), &json!("claude")),
        "{asked}"
    );
    assert_eq!(asked["prompt"]["tool"], "Bash", "{asked}");
    // The host's own subscribers saw it too: what follows it is the answer's.
    reaches(&mut ws, "prompt").await;
    let answer = json!({"accept": true}).to_string();
    bus.publish(format!("coop.events.session.{id}.respond"), answer.into())
        .await
        .unwrap();
    bus.flush().await.unwrap();
    let proceeds = reaches(&mut ws, "working").await;
    assert_eq!(proceeds["cause"], "respond", "{proceeds}");
    claude.host.wait_text("deploying-now").await;
}
