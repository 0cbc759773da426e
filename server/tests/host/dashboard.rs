//! Every request coop's own dashboard sends on a session's `/ws` (its terminal and its
//! inspector's state, actions and config tabs), sent to the host the way that dashboard sends
//! them and matched the way it matches them (the oldest waiting request takes the next reply
//! that carries a `request_id`): each gets coop's reply event.

use crate::support::{Session, Ws, WAIT};
use serde_json::{json, Value};

/// The inspector's requests that change nothing lasting, with coop's reply to each for a plain
/// command (an `error` code where coop refuses).
fn inspector() -> Vec<(Value, &'static str)> {
    vec![
        // The state tab, every 2 s.
        (json!({"event": "health:get"}), "health"),
        (json!({"event": "status:get"}), "status"),
        (json!({"event": "agent:get"}), "agent"),
        (json!({"event": "usage:get"}), "usage"),
        // The actions tab.
        (
            json!({"event": "input:send", "text": "echo from-dashboard", "enter": true}),
            "input:sent",
        ),
        (
            json!({"event": "keys:send", "keys": ["ctrl-e"]}),
            "input:sent",
        ),
        (
            json!({"event": "resize", "cols": 100, "rows": 30}),
            "resized",
        ),
        (
            json!({"event": "nudge", "message": "continue"}),
            "NO_DRIVER",
        ),
        (json!({"event": "respond", "accept": true}), "NO_DRIVER"),
        // The config tab.
        (json!({"event": "profiles:list"}), "profiles"),
        (json!({"event": "profiles:mode"}), "profiles:mode"),
        (
            json!({"event": "profiles:mode:set", "mode": "manual"}),
            "profiles:mode",
        ),
        (
            json!({"event": "profiles:register", "profiles": [
                {"name": "first", "credentials": {"DASH_KEY": "one"}},
                {"name": "second", "credentials": {"DASH_KEY": "two"}}
            ]}),
            "profiles:registered",
        ),
        (json!({"event": "stop:config:get"}), "stop:config"),
        (
            json!({"event": "stop:config:put", "config": {"mode": "allow"}}),
            "stop:configured",
        ),
        (json!({"event": "config:start:get"}), "start:config"),
        (
            json!({"event": "config:put:get", "config": {"text": "hello"}}),
            "start:configured",
        ),
        (json!({"event": "transcript:list"}), "transcript:list"),
        (json!({"event": "transcript:catchup"}), "transcript:catchup"),
        (
            json!({"event": "transcript:get", "number": 1}),
            "BAD_REQUEST",
        ),
        (
            json!({"event": "signal:send", "signal": "SIGWINCH"}),
            "signal:sent",
        ),
        // Keystrokes in the terminal.
        (
            json!({"event": "input:send:raw", "data": "DQ=="}),
            "input:sent",
        ),
    ]
}

/// What a reply is: its event, or its error code.
fn kind(reply: &Value) -> &str {
    let kind = if reply["event"] == "error" {
        &reply["code"]
    } else {
        &reply["event"]
    };
    kind.as_str().unwrap_or_default()
}

/// The next frame that carries a `request_id` (pushes and uncorrelated replies skipped).
async fn next_reply(ws: &mut Ws) -> Value {
    ws.wait_for(WAIT, |f| f.get("request_id").is_some()).await
}

/// Sends one request the dashboard's way and returns its reply.
async fn rpc(ws: &mut Ws, n: &mut u64, request: Value) -> Value {
    rpc_and_transitions(ws, n, request, &[]).await
}

/// Sends one request and returns its reply once the transitions into each of `into` (in that
/// order) came too, however the host interleaves them with the reply.
async fn rpc_and_transitions(ws: &mut Ws, n: &mut u64, mut request: Value, into: &[&str]) -> Value {
    *n += 1;
    request["request_id"] = json!(format!("dash-{n}"));
    ws.send(request).await;
    let mut reply = None;
    let mut into = into.iter().peekable();
    while reply.is_none() || into.peek().is_some() {
        let frame = ws.next(WAIT).await.expect("connection open");
        if frame.get("request_id").is_some() {
            assert_eq!(frame["request_id"], format!("dash-{n}"), "{frame}");
            reply = Some(frame);
        } else if frame["event"] == "transition"
            && into.peek().is_some_and(|&&s| frame["next"] == s)
        {
            into.next();
        }
    }
    reply.expect("a reply")
}

/// Waits for the transition into `next`.
async fn transition_to(ws: &mut Ws, next: &str) -> Value {
    ws.wait_for(WAIT, |f| f["event"] == "transition" && f["next"] == next)
        .await
}

#[tokio::test]
async fn every_request_of_coops_dashboard_gets_coops_reply() {
    let s = Session::start(&["--idle-ms", "300"], &["sh"]).await;
    // The terminal: its socket, a resize and the first replay without ids, then `agent:get`.
    let mut ws = s.ws("subscribe=pty,state,usage,hooks").await;
    ws.send(json!({"event": "resize", "cols": 90, "rows": 25}))
        .await;
    ws.send(json!({"event": "replay:get", "offset": 0})).await;
    let resized = ws.wait_event("resized").await;
    assert_eq!(
        (&resized["cols"], &resized["rows"]),
        (&json!(90), &json!(25))
    );
    let replay = ws.wait_event("replay").await;
    assert_eq!(replay["offset"], 0, "{replay}");
    let mut n = 0;
    let agent = rpc(&mut ws, &mut n, json!({"event": "agent:get"})).await;
    assert_eq!(kind(&agent), "agent");
    transition_to(&mut ws, "idle").await;

    // The inspector pipelines its requests; replies pair with them first in, first out.
    let requests = inspector();
    for (request, _) in &requests {
        n += 1;
        let mut request = request.clone();
        request["request_id"] = json!(format!("dash-{n}"));
        ws.send(request).await;
    }
    let first = n - requests.len() as u64 + 1;
    let mut differ = Vec::new();
    for ((request, want), id) in requests.iter().zip(first..) {
        let reply = next_reply(&mut ws).await;
        if reply["request_id"] != format!("dash-{id}") || kind(&reply) != *want {
            differ.push(format!("{request} → {reply}, want {want}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    s.wait_text("from-dashboard").await;

    // The config tab's switch (once the agent is idle), Restart button and shutdown.
    let replaced = ["restarting", "starting"];
    let switch = json!({"event": "session:switch", "profile": "second"});
    let switched = rpc_and_transitions(&mut ws, &mut n, switch, &replaced).await;
    assert_eq!(switched["event"], "session:switched", "{switched}");
    assert_eq!(switched["scheduled"], true);
    let restart = json!({"event": "session:restart"});
    let restarted = rpc_and_transitions(&mut ws, &mut n, restart, &replaced).await;
    assert_eq!(
        (&restarted["event"], &restarted["scheduled"]),
        (&json!("session:restarted"), &json!(true)),
        "{restarted}"
    );
    s.type_line("echo key=$DASH_KEY").await;
    s.wait_text("key=two").await;
    let shutdown = rpc(&mut ws, &mut n, json!({"event": "shutdown"})).await;
    assert_eq!(
        (&shutdown["event"], &shutdown["accepted"]),
        (&json!("shutdown"), &json!(true))
    );
}
