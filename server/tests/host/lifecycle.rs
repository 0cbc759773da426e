//! The child's lifecycle as coop runs its agent: the host outlives the child, and a switch
//! (unforced: once idle; forced, `{}` or a restart: at once) replaces it with one that has the
//! chosen profile's credentials in its environment.

use crate::support::{eventually, Opts, Session, TempDir, Ws, WAIT};
use serde_json::{json, Value};

async fn pid(s: &Session) -> u64 {
    s.get_ok("/health").await["pid"].as_u64().expect("pid")
}

/// Waits for the transition to `next` and returns it.
async fn transition_to(ws: &mut Ws, next: &str) -> Value {
    ws.wait_for(WAIT, |f| f["event"] == "transition" && f["next"] == next)
        .await
}

/// Pushes two profiles, `main` (active) and `spare`, each with its own `PROFILE_KEY`.
async fn two_profiles(s: &Session) {
    let profiles = json!({"profiles": [
        {"name": "main", "credentials": {"PROFILE_KEY": "key-of-main"}},
        {"name": "spare", "credentials": {"PROFILE_KEY": "key-of-spare"}},
    ]});
    assert_eq!(
        s.post_ok("/session/profiles", profiles).await["registered"],
        2
    );
}

#[tokio::test]
async fn an_exited_child_keeps_the_host_up_until_a_switch_restarts_it() {
    let s = Session::start(&["--idle-ms", "300"], &["sh"]).await;
    let mut ws = s.ws("subscribe=state,pty").await;
    transition_to(&mut ws, "idle").await;
    let first = pid(&s).await;
    s.type_line("exit 3").await;
    // coop announces the exit with `exit` alone: no transition into `exited`.
    let exit = ws
        .wait_for(WAIT, |f| {
            assert!(f["next"] != "exited", "a transition into exited: {f}");
            f["event"] == "exit"
        })
        .await;
    assert_eq!(
        (exit["code"].as_i64(), exit["signal"].is_null()),
        (Some(3), true)
    );
    // coop's answers while the child is gone: exited, the same pid, still ready, no input.
    let status = s.get_ok("/status").await;
    assert_eq!(status["state"], "exited", "{status}");
    assert_eq!(status["exit_code"], 3);
    assert_eq!(status["pid"].as_u64(), Some(first));
    let agent = s.get_ok("/agent").await;
    assert_eq!(agent["detection_cause"], "process:exit", "{agent}");
    let health = s.get_ok("/health").await;
    assert_eq!(
        (health["pid"].as_u64(), &health["ready"]),
        (Some(first), &json!(true))
    );
    assert_eq!(s.get("/ready").await, (200, json!({"ready": true})));
    let (code, body) = s.post("/input", json!({"text": "x"})).await;
    assert_eq!((code, &body["error"]["code"]), (410, &json!("EXITED")));
    // `{}` restarts it.
    let (code, _) = s.post("/session/switch", json!({})).await;
    assert_eq!(code, 202);
    let restarting = transition_to(&mut ws, "restarting").await;
    assert_eq!(restarting["prev"], "exited");
    // The new child starts undetected, until its first output.
    transition_to(&mut ws, "starting").await;
    transition_to(&mut ws, "working").await;
    let second = pid(&s).await;
    assert_ne!(second, first);
    assert_eq!(s.get("/ready").await, (200, json!({"ready": true})));
    assert_eq!(s.get_ok("/status").await["exit_code"], Value::Null);
    s.type_line("echo back-$((40+2))").await;
    s.wait_text("back-42").await;
    // The next exit is announced again on the same connection.
    s.type_line("exit 5").await;
    assert_eq!(ws.wait_event("exit").await["code"], 5);
}

#[tokio::test]
async fn an_unforced_switch_waits_for_idle_then_respawns_with_the_profiles_credentials() {
    let dir = TempDir::new("switch-idle");
    let opts = Opts {
        // Ten times the gap between two ticks: a loaded machine that delays a tick must
        // not make the loop look idle.
        flags: vec!["--idle-ms".into(), "1000".into()],
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh"]).await;
    two_profiles(&s).await;
    let mut ws = s.ws("subscribe=state,pty").await;
    transition_to(&mut ws, "idle").await;
    // Busy: output every 100 ms, never quiet for the second idle needs.
    s.type_line("while [ ! -e stop ]; do echo tick; sleep 0.1; done; echo loop-ended")
        .await;
    transition_to(&mut ws, "working").await;
    let busy = pid(&s).await;
    let (code, _) = s.post("/session/switch", json!({"profile": "spare"})).await;
    assert_eq!(code, 202);
    let (code, body) = s.post("/session/switch", json!({"profile": "main"})).await;
    assert_eq!(
        (code, &body["error"]["code"]),
        (409, &json!("SWITCH_IN_PROGRESS"))
    );
    let restart = ws
        .request(json!({"event": "session:restart"}), json!("r"))
        .await;
    assert_eq!(restart["code"], "SWITCH_IN_PROGRESS", "{restart}");
    // Two and a half seconds of work (25 ticks, over two idle periods) later it still waits.
    let mut ticks = 0;
    while ticks < 25 {
        let frame = ws.wait_event("pty").await;
        ticks += usize::from(frame["data"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(pid(&s).await, busy);
    assert_eq!(s.state().await, "working");
    assert_eq!(s.profiles().await["active_profile"], "main");
    std::fs::write(dir.join("stop"), b"").unwrap();
    s.wait_text("loop-ended").await;
    // Idle first, then the switch.
    let restarting = transition_to(&mut ws, "restarting").await;
    assert_eq!(restarting["prev"], "idle", "{restarting}");
    transition_to(&mut ws, "working").await;
    assert_ne!(pid(&s).await, busy);
    assert_eq!(s.profiles().await["active_profile"], "spare");
    s.type_line("echo key=$PROFILE_KEY").await;
    s.wait_text("key=key-of-spare").await;
}

#[tokio::test]
async fn forced_switch_empty_switch_and_restart_replace_a_busy_child_at_once() {
    let s = Session::start(&["--idle-ms", "300"], &["sh"]).await;
    two_profiles(&s).await;
    let requests = [
        (
            "/session/switch",
            json!({"profile": "spare", "force": true}),
        ),
        ("/session/switch", json!({})),
        ("/session/restart", json!({})),
    ];
    for (round, (path, body)) in requests.into_iter().enumerate() {
        eventually("an idle shell", || async {
            (s.state().await == "idle").then_some(())
        })
        .await;
        // Never idle again until replaced.
        s.type_line(&format!("while :; do echo busy-{round}; sleep 0.1; done"))
            .await;
        let line = format!("busy-{round}");
        s.wait_screen(WAIT, |sc| {
            sc["lines"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| *l == *line))
        })
        .await;
        let busy = pid(&s).await;
        let mut ws = s.ws("subscribe=state").await;
        assert_eq!(ws.wait_event("transition").await["next"], "working");
        let (code, reply) = s.post(path, body.clone()).await;
        assert_eq!(code, 202, "{path} {body}: {reply}");
        let restarting = transition_to(&mut ws, "restarting").await;
        assert_eq!(restarting["prev"], "working", "{path} {body}");
        transition_to(&mut ws, "working").await;
        assert_ne!(pid(&s).await, busy, "{path} {body}");
        // The forced switch made `spare` active; the restarts keep it.
        s.type_line(&format!("echo key-{round}=$PROFILE_KEY")).await;
        s.wait_text(&format!("key-{round}=key-of-spare")).await;
    }
}
