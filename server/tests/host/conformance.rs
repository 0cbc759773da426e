//! Conformance of `coopmux session` with coop 0.11.25 running a plain command: one table of
//! requests and the answers coop gives, and one of the answers where the host deliberately
//! differs (docs/coop-protocol.md, "Where coopmux session differs from coop"), run in order
//! against one real host with a token; and what coop answers before the agent's state was
//! first detected.

use crate::support::{eventually, Opts, Session, Ws, WAIT};
use serde_json::{json, Value};

const TOKEN: &str = "conf-token";

/// One request.
enum Call {
    /// `GET /api/v1{path}` with the token.
    Get(&'static str),
    /// `GET /api/v1{path}` without a token.
    GetOpen(&'static str),
    /// `POST /api/v1{path}` from a foreign page: no token, a foreign `Origin`.
    PostCrossOrigin(&'static str, Value),
    /// `GET /api/v1{path}` of a text body; the answer is `{"lines": n}`.
    GetText(&'static str),
    /// `POST /api/v1{path}` with the token.
    Post(&'static str, Value),
    /// `PUT /api/v1{path}` with the token.
    Put(&'static str, Value),
    /// A `/ws` request (authenticated connection); the answer is the reply frame.
    Ws(Value),
    /// A new `/ws?{query}` connection; the answer is its first frame.
    Connect(&'static str),
}

/// What is answered: the status (HTTP only), the error code or reply `event`, fields that
/// must be there (`null` allowed), fields that must hold a value, fields that must not be
/// there, and values that must match.
struct Want {
    status: u16,
    kind: Option<&'static str>,
    has: &'static [&'static str],
    filled: &'static [&'static str],
    lacks: &'static [&'static str],
    values: Value,
    exact: Option<Value>,
}

fn want(status: u16) -> Want {
    Want {
        status,
        kind: None,
        has: &[],
        filled: &[],
        lacks: &[],
        values: json!({}),
        exact: None,
    }
}

impl Want {
    /// An error envelope (HTTP) or `error` event (`/ws`) with this code.
    fn error(status: u16, code: &'static str) -> Want {
        Want {
            kind: Some(code),
            ..want(status)
        }
    }

    /// A `/ws` reply or push named `event`.
    fn event(event: &'static str) -> Want {
        Want {
            kind: Some(event),
            ..want(0)
        }
    }

    fn has(self, has: &'static [&'static str]) -> Want {
        Want { has, ..self }
    }

    fn filled(self, filled: &'static [&'static str]) -> Want {
        Want { filled, ..self }
    }

    fn lacks(self, lacks: &'static [&'static str]) -> Want {
        Want { lacks, ..self }
    }

    /// These fields with these values (others may be there too).
    fn values(self, values: Value) -> Want {
        Want { values, ..self }
    }

    /// Exactly this JSON.
    fn exactly(self, exact: Value) -> Want {
        Want {
            exact: Some(exact),
            ..self
        }
    }
}

const HEALTH: &[&str] = &[
    "status",
    "session_id",
    "pid",
    "uptime_secs",
    "agent",
    "terminal",
    "terminal_cols",
    "terminal_rows",
    "ws_clients",
    "ready",
];
const STATUS: &[&str] = &[
    "session_id",
    "state",
    "pid",
    "uptime_secs",
    "exit_code",
    "screen_seq",
    "bytes_read",
    "bytes_written",
    "ws_clients",
];
const SCREEN: &[&str] = &[
    "lines",
    "ansi",
    "cols",
    "rows",
    "alt_screen",
    "cursor",
    "seq",
];
const AGENT: &[&str] = &[
    "agent",
    "session_id",
    "state",
    "since_seq",
    "screen_seq",
    "detection_tier",
    "detection_cause",
    "prompt",
];
/// Fields coop leaves out of `/agent` and transitions when they have no value.
const UNSET: &[&str] = &["error_detail", "error_category", "last_message"];
const REPLAY: &[&str] = &["data", "offset", "next_offset", "total_written"];
const USAGE: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_cost_usd",
    "request_count",
    "total_api_ms",
    "uptime_secs",
];
const PROFILES: &[&str] = &["profiles", "mode", "active_profile"];

/// The stop configuration the table sets: resolutions need a `status` of `done` or `blocked`.
fn stop_config() -> Value {
    json!({"mode": "gate", "prompt": "say how it ended", "schema": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["done", "blocked"]}}
    }})
}

/// coop's answers, in the order they run (later rows see what earlier ones stored).
fn coop_table() -> Vec<(Call, Want)> {
    use Call::*;
    let zeros = json!({"input_tokens": 0, "output_tokens": 0, "total_cost_usd": 0.0});
    let updated = json!({"updated": true});
    vec![
        // Probes: open without the token; coop stays ready.
        (
            GetOpen("/health"),
            want(200).has(HEALTH).values(json!({"ready": true})),
        ),
        (
            GetOpen("/livez"),
            want(200)
                .filled(&["uptime_secs", "pid"])
                .values(json!({"status": "alive"})),
        ),
        (GetOpen("/ready"), want(200).exactly(json!({"ready": true}))),
        (GetOpen("/status"), Want::error(401, "UNAUTHORIZED")),
        (GetOpen("/session/usage"), Want::error(401, "UNAUTHORIZED")),
        (
            Get("/health"),
            want(200).values(json!({"terminal_cols": 80, "terminal_rows": 24})),
        ),
        (Get("/status"), want(200).has(STATUS)),
        // Screen: the cursor `null` unless asked for; every row as text.
        (
            Get("/screen"),
            want(200).has(SCREEN).values(json!({"cursor": null})),
        ),
        (Get("/screen?cursor=true"), want(200).filled(&["cursor"])),
        (Get("/screen?cursor=maybe"), Want::error(400, "BAD_REQUEST")),
        (
            GetText("/screen/text"),
            want(200).values(json!({"lines": 24})),
        ),
        // A plain command: process activity, tier "4"; `prompt` always there.
        (
            Get("/agent"),
            want(200).has(AGENT).lacks(UNSET).values(json!({
                "agent": "unknown",
                "detection_tier": "4",
                "detection_cause": "process:activity",
                "prompt": null
            })),
        ),
        // The output log in the replay shape.
        (
            Get("/output?offset=0"),
            want(200).has(REPLAY).values(json!({"offset": 0})),
        ),
        (Get("/output?offset=-1"), Want::error(400, "BAD_REQUEST")),
        // What needs an agent driver.
        (
            Get("/session/usage"),
            want(200).has(USAGE).values(zeros.clone()),
        ),
        (
            Post("/agent/nudge", json!({"message": "go on"})),
            Want::error(404, "NO_DRIVER"),
        ),
        (
            Post("/agent/respond", json!({"accept": true})),
            Want::error(404, "NO_DRIVER"),
        ),
        (
            Post("/agent/nudge", json!({"message": 5})),
            Want::error(422, "UNPROCESSABLE_ENTITY"),
        ),
        // Typed configurations with defaults; a write answers `updated`.
        (
            Get("/config/stop"),
            want(200).exactly(json!({"mode": "allow"})),
        ),
        (
            Post("/stop/resolve", json!({"body": {"anything": [1]}})),
            want(200).exactly(json!({"accepted": true})),
        ),
        (
            Put("/config/stop", stop_config()),
            want(200).exactly(updated.clone()),
        ),
        (Get("/config/stop"), want(200).exactly(stop_config())),
        (
            Post("/stop/resolve", json!({"body": {"status": "done"}})),
            want(200).exactly(json!({"accepted": true})),
        ),
        (
            Post("/stop/resolve", json!({"body": {"status": "maybe"}})),
            Want::error(422, "UNPROCESSABLE_ENTITY"),
        ),
        (
            Put("/config/start", json!({"text": "hi", "colour": "red"})),
            want(200).exactly(updated.clone()),
        ),
        (
            Get("/config/start"),
            want(200).exactly(json!({"text": "hi"})),
        ),
        (
            Put("/config/start", json!([1])),
            Want::error(422, "UNPROCESSABLE_ENTITY"),
        ),
        // Profiles and their rotation mode (`auto` by default, set with PUT).
        (
            Get("/session/profiles/mode"),
            want(200).exactly(json!({"mode": "auto"})),
        ),
        (
            Put("/session/profiles/mode", json!({"mode": "manual"})),
            want(200).values(json!({"mode": "manual"})),
        ),
        (
            Post("/session/profiles/mode", json!({"mode": "auto"})),
            want(405),
        ),
        (
            Put("/session/profiles/mode", json!({"mode": "warp"})),
            Want::error(400, "BAD_REQUEST"),
        ),
        (
            Post(
                "/session/profiles",
                json!({"profiles": [{"name": "main", "credentials": {"K": "v"}}]}),
            ),
            want(200).exactly(json!({"registered": 1})),
        ),
        (
            Post(
                "/session/profiles",
                json!({"profiles": [{"name": "x", "credentials": {"A=B": "v"}}]}),
            ),
            Want::error(400, "BAD_REQUEST"),
        ),
        (
            Get("/session/profiles"),
            want(200)
                .has(PROFILES)
                .values(json!({"mode": "manual", "active_profile": "main"})),
        ),
        (
            Post("/session/switch", json!({"profile": "nope"})),
            Want::error(400, "BAD_REQUEST"),
        ),
        (
            Post("/session/switch", json!({"credentials": {"": "v"}})),
            Want::error(400, "BAD_REQUEST"),
        ),
        // Key names as coop spells them.
        (
            Post(
                "/input/keys",
                json!({"keys": ["page_up", "page_down", "ctrl-a"]}),
            ),
            want(200).exactly(json!({"bytes_written": 9})),
        ),
        // The same over `/ws`, with coop's reply names.
        (
            Ws(json!({"event": "health:get"})),
            Want::event("health").has(HEALTH),
        ),
        (
            Ws(json!({"event": "agent:get"})),
            Want::event("agent")
                .has(AGENT)
                .lacks(UNSET)
                .values(json!({"detection_tier": "4", "prompt": null})),
        ),
        (
            Ws(json!({"event": "screen:get"})),
            Want::event("screen").filled(&["cursor"]),
        ),
        (
            Ws(json!({"event": "usage:get"})),
            Want::event("usage").has(USAGE).values(zeros),
        ),
        (
            Ws(json!({"event": "profiles:list"})),
            Want::event("profiles").has(PROFILES),
        ),
        (
            Ws(json!({"event": "profiles:mode"})),
            Want::event("profiles:mode").values(json!({"mode": "manual"})),
        ),
        (
            Ws(json!({"event": "profiles:mode:set", "mode": "auto"})),
            Want::event("profiles:mode").values(json!({"mode": "auto"})),
        ),
        (
            Ws(json!({"event": "profiles:register",
                "profiles": [{"name": "a"}, {"name": "b"}]})),
            Want::event("profiles:registered").values(json!({"count": 2})),
        ),
        (
            Ws(json!({"event": "stop:config:get"})),
            Want::event("stop:config").values(json!({"config": stop_config()})),
        ),
        (
            Ws(json!({"event": "stop:resolve", "body": {"status": "blocked"}})),
            Want::event("stop:resolved").values(json!({"accepted": true})),
        ),
        (
            Ws(json!({"event": "stop:resolve", "body": "done"})),
            Want::error(0, "UNPROCESSABLE_ENTITY"),
        ),
        (
            Ws(json!({"event": "stop:config:put", "config": {}})),
            Want::event("stop:configured").values(updated.clone()),
        ),
        (
            Ws(json!({"event": "stop:config:get"})),
            Want::event("stop:config").values(json!({"config": {"mode": "allow"}})),
        ),
        (
            Ws(json!({"event": "config:start:get"})),
            Want::event("start:config").values(json!({"config": {"text": "hi"}})),
        ),
        (
            Ws(json!({"event": "config:put:get", "config": {"shell": ["date"], "x": 1}})),
            Want::event("start:configured").values(updated),
        ),
        (
            Ws(json!({"event": "config:start:get"})),
            Want::event("start:config").values(json!({"config": {"shell": ["date"]}})),
        ),
        (
            Ws(json!({"event": "transcript:list"})),
            Want::event("transcript:list").values(json!({"transcripts": []})),
        ),
        (
            Ws(json!({"event": "transcript:catchup"})),
            Want::event("transcript:catchup").values(json!({"transcripts": [],
                "live_lines": [], "current_transcript": 0, "current_line": 0})),
        ),
        (
            Ws(json!({"event": "transcript:get", "number": 3})),
            Want::error(0, "BAD_REQUEST"),
        ),
        (
            Ws(json!({"event": "nudge", "message": "x"})),
            Want::error(0, "NO_DRIVER"),
        ),
        (
            Ws(json!({"event": "respond", "accept": false})),
            Want::error(0, "NO_DRIVER"),
        ),
        (
            Ws(json!({"event": "session:switch", "profile": "ghost"})),
            Want::error(0, "BAD_REQUEST"),
        ),
        (
            Ws(json!({"event": "keys:send", "keys": ["page_down"]})),
            Want::event("input:sent").values(json!({"bytes_written": 4})),
        ),
        // Pushes: the first transition has `prompt: null` and no cause.
        (
            Connect("subscribe=state"),
            Want::event("transition")
                .has(&["prev", "next", "seq", "prompt"])
                .values(json!({"prompt": null}))
                .lacks(&["cause", "error_detail", "error_category", "last_message"]),
        ),
        // Restarts: 202 with an empty body over HTTP, `session:restarted` over `/ws`.
        (
            Post("/session/restart", json!({})),
            want(202).exactly(Value::Null),
        ),
    ]
}

/// Where the host deliberately differs from coop (each row says what coop does).
fn differences_table() -> Vec<(Call, Want)> {
    use Call::*;
    vec![
        // coop answers `ctrl+e` 400; the host also takes `ctrl+x`, `ctrl_x` and `c-x`.
        (
            Post("/input/keys", json!({"keys": ["ctrl+e", "ctrl_e", "c-e"]})),
            want(200).exactly(json!({"bytes_written": 3})),
        ),
        // coop answers a request it cannot parse with an error without `request_id`; the
        // host echoes the id (the `Ws` call waits for it).
        (
            Ws(json!({"event": "config:start:put", "config": {}})),
            Want::error(0, "BAD_REQUEST"),
        ),
        (
            Ws(json!({"event": "signal:send", "signal": 28})),
            Want::event("signal:sent").values(json!({"signal": "SIGWINCH"})),
        ),
        // coop rejects some requests in plain text; the host always with the envelope.
        (
            Post("/session/profiles/mode", json!({})),
            Want::error(405, "METHOD_NOT_ALLOWED"),
        ),
        (
            Put("/config/stop", json!({"mode": 1})),
            Want::error(422, "UNPROCESSABLE_ENTITY"),
        ),
        // coop has no Origin check (it answers 401); the host refuses a foreign page first.
        (
            PostCrossOrigin("/input", json!({"text": "x"})),
            Want::error(403, "FORBIDDEN"),
        ),
    ]
}

/// Runs one call; returns the status (0 for `/ws`) and the JSON answer.
async fn call(s: &Session, ws: &mut Ws, n: usize, call: &Call) -> (u16, Value) {
    let http = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        (status, body)
    };
    let json = |(status, body): (u16, String)| {
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    };
    match call {
        Call::Get(path) => json(http(s.http.get(s.api(path)).bearer_auth(TOKEN)).await),
        Call::GetOpen(path) => json(http(s.http.get(s.api(path))).await),
        Call::PostCrossOrigin(path, body) => {
            let req = s.http.post(s.api(path)).json(body);
            json(http(req.header("origin", "http://evil.example")).await)
        }
        Call::GetText(path) => {
            let (status, body) = http(s.http.get(s.api(path)).bearer_auth(TOKEN)).await;
            (status, json!({"lines": body.lines().count()}))
        }
        Call::Post(path, body) => {
            json(http(s.http.post(s.api(path)).bearer_auth(TOKEN).json(body)).await)
        }
        Call::Put(path, body) => {
            json(http(s.http.put(s.api(path)).bearer_auth(TOKEN).json(body)).await)
        }
        Call::Ws(request) => (0, ws.request(request.clone(), json!(n)).await),
        Call::Connect(query) => {
            let mut fresh = s.ws(&format!("{query}&token={TOKEN}")).await;
            (0, fresh.next(WAIT).await.expect("a first frame"))
        }
    }
}

/// Why `got` is not what `want` says, if it is not.
fn mismatch(want: &Want, status: u16, got: &Value) -> Option<String> {
    if status != want.status {
        return Some(format!("status {status}, want {}", want.status));
    }
    let kind = match got.get("event") {
        Some(_) if got["event"] == "error" => got.get("code"),
        Some(event) => Some(event),
        None => got.pointer("/error/code"),
    };
    if let Some(expected) = want.kind {
        if kind.and_then(Value::as_str) != Some(expected) {
            return Some(format!("got {kind:?}, want {expected}"));
        }
    }
    if let Some(field) = want.has.iter().find(|f| got.get(**f).is_none()) {
        return Some(format!("missing {field}"));
    }
    if let Some(field) = want.filled.iter().find(|f| got[**f].is_null()) {
        return Some(format!("{field} has no value"));
    }
    if let Some(field) = want.lacks.iter().find(|f| got.get(**f).is_some()) {
        return Some(format!("has {field}, which coop leaves out"));
    }
    if let Some(exact) = &want.exact {
        return (got != exact).then(|| format!("want exactly {exact}"));
    }
    let values = want.values.as_object().expect("values is an object");
    values
        .iter()
        .find(|(k, v)| got.get(k.as_str()) != Some(v))
        .map(|(k, v)| format!("{k} = {:?}, want {v}", got.get(k.as_str())))
}

fn describe(call: &Call) -> String {
    match call {
        Call::Get(p) | Call::GetText(p) => format!("GET {p}"),
        Call::GetOpen(p) => format!("GET {p} (no token)"),
        Call::PostCrossOrigin(p, b) => format!("POST {p} {b} (foreign Origin)"),
        Call::Post(p, b) => format!("POST {p} {b}"),
        Call::Put(p, b) => format!("PUT {p} {b}"),
        Call::Ws(r) => format!("/ws {r}"),
        Call::Connect(q) => format!("/ws?{q} first frame"),
    }
}

/// A host with a token running `cmd` (`--idle-ms` as given).
async fn host(idle_ms: &str, cmd: &[&str]) -> Session {
    let opts = Opts {
        flags: vec![
            "--auth-token".into(),
            TOKEN.into(),
            "--idle-ms".into(),
            idle_ms.into(),
        ],
        token: Some(TOKEN.into()),
        ..Opts::default()
    };
    Session::start_with(opts, cmd).await
}

/// Runs a table in order; returns the rows that did not answer as wanted.
async fn run(s: &Session, table: Vec<(Call, Want)>, what: &str) -> Vec<String> {
    let mut ws = s.ws(&format!("token={TOKEN}")).await;
    let mut failures = Vec::new();
    for (n, (request, expected)) in table.iter().enumerate() {
        let (status, got) = call(s, &mut ws, n, request).await;
        if let Some(why) = mismatch(expected, status, &got) {
            let call = describe(request);
            failures.push(format!("{what} row {n} {call}: {why}\n    got {got}"));
        }
    }
    failures
}

#[tokio::test]
async fn the_host_answers_as_coop_does_and_differs_only_where_documented() {
    let s = host("1500", &["sh"]).await;
    // The shell's prompt is its first activity: the agent's state is detected.
    eventually("the first detection", || async {
        (s.get("/ready").await.0 == 200).then_some(())
    })
    .await;
    let mut failures = run(&s, differences_table(), "difference").await;
    failures.extend(run(&s, coop_table(), "coop").await);
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn before_the_first_detection_the_agent_is_still_starting() {
    // Silent until it reads a line, and never quiet long enough to be called idle: nothing
    // is detected before the input.
    let script = "stty -echo; read line; echo got-$line; exec sleep 600";
    let s = host("600000", &["sh", "-c", script]).await;
    let agent = s.get_ok("/agent").await;
    assert_eq!(
        (
            &agent["state"],
            &agent["detection_tier"],
            &agent["detection_cause"],
            &agent["prompt"]
        ),
        (
            &json!("starting"),
            &json!("none"),
            &Value::Null,
            &Value::Null
        ),
        "{agent}"
    );
    assert_eq!(s.get("/ready").await, (503, json!({"ready": false})));
    let (status, body) = s.post("/agent/nudge", json!({"message": "go"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"],
        json!({"code": "NOT_READY", "message": "agent is still starting"})
    );
    let mut ws = s.ws(&format!("subscribe=state&token={TOKEN}")).await;
    let first = ws.next(WAIT).await.expect("the synthetic transition");
    assert_eq!(
        first,
        json!({"event": "transition", "prev": "starting", "next": "starting", "seq": 0,
            "prompt": null})
    );
    let refused = ws
        .request(json!({"event": "respond", "accept": true}), json!("r"))
        .await;
    assert_eq!(
        (&refused["code"], &refused["message"]),
        (&json!("NOT_READY"), &json!("agent is still starting"))
    );
    // Output is activity: the first detection, and from then on no driver.
    s.post_ok("/input", json!({"text": "go", "enter": true}))
        .await;
    let detected = ws.wait_event("transition").await;
    assert_eq!(
        (&detected["prev"], &detected["next"], &detected["cause"]),
        (
            &json!("starting"),
            &json!("working"),
            &json!("process:activity")
        ),
        "{detected}"
    );
    let agent = s.get_ok("/agent").await;
    assert_eq!(agent["detection_tier"], "4", "{agent}");
    assert_eq!(s.get("/ready").await, (200, json!({"ready": true})));
    let (status, body) = s.post("/agent/nudge", json!({})).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NO_DRIVER")));
}
