//! Conformance of `coopmux session` with coop 0.11.25: one table of requests and the answers
//! coop gives (docs/coop-protocol.md), run in order against one real host with a token.

use crate::support::{Opts, Session, Ws};
use serde_json::{json, Value};

const TOKEN: &str = "conf-token";

/// One request.
enum Call {
    /// `GET /api/v1{path}` with the token.
    Get(&'static str),
    /// `GET /api/v1{path}` without a token.
    GetOpen(&'static str),
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

/// What coop answers: the status (HTTP only), the error code or reply `event`, fields that
/// must be there, fields that must not, and values that must match.
struct Want {
    status: u16,
    kind: Option<&'static str>,
    has: &'static [&'static str],
    lacks: &'static [&'static str],
    values: Value,
    exact: Option<Value>,
}

fn want(status: u16) -> Want {
    Want {
        status,
        kind: None,
        has: &[],
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
const SCREEN: &[&str] = &["lines", "ansi", "cols", "rows", "alt_screen", "seq"];
const AGENT: &[&str] = &[
    "agent",
    "session_id",
    "state",
    "since_seq",
    "screen_seq",
    "detection_tier",
    "detection_cause",
];
/// Fields coop leaves out when they have no value.
const AGENT_NULLS: &[&str] = &["prompt", "error_detail", "error_category", "last_message"];
const REPLAY: &[&str] = &["data", "offset", "next_offset", "total_written"];
const USAGE: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_cost_usd",
    "request_count",
    "total_api_ms",
];
const PROFILES: &[&str] = &["profiles", "mode", "active_profile"];

/// The table, in the order it runs (later rows see what earlier ones stored).
fn table() -> Vec<(Call, Want)> {
    use Call::*;
    let zeros = json!({"input_tokens": 0, "output_tokens": 0, "total_cost_usd": 0.0});
    vec![
        // Probes: open without the token.
        (GetOpen("/health"), want(200).has(HEALTH)),
        (
            GetOpen("/livez"),
            want(200).exactly(json!({"status": "ok"})),
        ),
        (GetOpen("/ready"), want(200).exactly(json!({"ready": true}))),
        (GetOpen("/status"), Want::error(401, "UNAUTHORIZED")),
        (GetOpen("/session/usage"), Want::error(401, "UNAUTHORIZED")),
        (
            Get("/health"),
            want(200).values(json!({"terminal_cols": 80, "terminal_rows": 24})),
        ),
        (Get("/status"), want(200).has(STATUS)),
        // Screen: the cursor only when asked for; every row as text.
        (Get("/screen"), want(200).has(SCREEN).lacks(&["cursor"])),
        (Get("/screen?cursor=true"), want(200).has(&["cursor"])),
        (Get("/screen?cursor=maybe"), Want::error(400, "BAD_REQUEST")),
        (
            GetText("/screen/text"),
            want(200).values(json!({"lines": 24})),
        ),
        (
            Get("/agent"),
            want(200)
                .has(AGENT)
                .lacks(AGENT_NULLS)
                .values(json!({"agent": "unknown", "detection_tier": 5})),
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
        // Configurations are stored and returned.
        (Get("/config/stop"), want(200).exactly(json!({}))),
        (
            Put("/config/stop", json!({"mode": "gate"})),
            want(200).exactly(json!({"mode": "gate"})),
        ),
        (
            Get("/config/stop"),
            want(200).exactly(json!({"mode": "gate"})),
        ),
        (
            Post("/config/start", json!({"prompt": "hi"})),
            want(200).values(json!({"prompt": "hi"})),
        ),
        (
            Get("/config/start"),
            want(200).exactly(json!({"prompt": "hi"})),
        ),
        (
            Put("/config/start", json!([1])),
            Want::error(422, "UNPROCESSABLE_ENTITY"),
        ),
        // Profiles and their rotation mode.
        (
            Get("/session/profiles/mode"),
            want(200).values(json!({"mode": "manual"})),
        ),
        (
            Post("/session/profiles/mode", json!({"mode": "auto"})),
            want(200).values(json!({"mode": "auto"})),
        ),
        (
            Post("/session/profiles/mode", json!({"mode": "warp"})),
            Want::error(400, "BAD_REQUEST"),
        ),
        (
            Post(
                "/session/profiles",
                json!({"profiles": [{"name": "main", "credentials": {"K": "v"}}]}),
            ),
            want(200).values(json!({"registered": 1})),
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
                .values(json!({"mode": "auto", "active_profile": "main"})),
        ),
        (
            Post("/session/switch", json!({"profile": "nope"})),
            Want::error(400, "BAD_REQUEST"),
        ),
        (
            Post("/session/switch", json!({"credentials": {"": "v"}})),
            Want::error(400, "BAD_REQUEST"),
        ),
        // Key names coop accepts.
        (
            Post(
                "/input/keys",
                json!({"keys": ["page_up", "page_down", "ctrl-a", "ctrl+e"]}),
            ),
            want(200).values(json!({"bytes_written": 10})),
        ),
        // The same over `/ws`.
        (
            Ws(json!({"event": "health:get"})),
            Want::event("health").has(HEALTH),
        ),
        (
            Ws(json!({"event": "agent:get"})),
            Want::event("agent").has(AGENT).lacks(AGENT_NULLS),
        ),
        (
            Ws(json!({"event": "screen:get"})),
            Want::event("screen").has(&["cursor"]),
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
            Ws(json!({"event": "profiles:mode:set", "mode": "manual"})),
            Want::event("profiles:mode").values(json!({"mode": "manual"})),
        ),
        (
            Ws(json!({"event": "stop:config:get"})),
            Want::event("stop:config").values(json!({"config": {"mode": "gate"}})),
        ),
        (
            Ws(json!({"event": "stop:config:set", "config": {"a": 1}})),
            Want::event("stop:config").values(json!({"config": {"a": 1}})),
        ),
        (
            Ws(json!({"event": "config:start:get"})),
            Want::event("config:start").values(json!({"config": {"prompt": "hi"}})),
        ),
        (
            Ws(json!({"event": "config:start:put", "config": {}})),
            Want::event("config:start").values(json!({"config": {}})),
        ),
        (
            Ws(json!({"event": "transcript:list"})),
            Want::event("transcripts").values(json!({"transcripts": []})),
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
        // Pushes: a transition leaves out what it has no value for.
        (
            Connect("subscribe=state"),
            Want::event("transition")
                .has(&["prev", "next", "seq", "cause"])
                .lacks(&["prompt", "error_detail", "error_category", "last_message"]),
        ),
        // Restarts are accepted with 202 and an empty body.
        (
            Post("/session/restart", json!({})),
            want(202).exactly(Value::Null),
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
            (
                0,
                fresh
                    .next(crate::support::WAIT)
                    .await
                    .expect("a first frame"),
            )
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

#[tokio::test]
async fn the_host_answers_as_coop_does() {
    let opts = Opts {
        flags: vec!["--auth-token".into(), TOKEN.into()],
        token: Some(TOKEN.into()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh"]).await;
    let mut ws = s.ws(&format!("token={TOKEN}")).await;
    let mut failures = Vec::new();
    for (n, (request, expected)) in table().iter().enumerate() {
        let (status, got) = call(&s, &mut ws, n, request).await;
        if let Some(why) = mismatch(expected, status, &got) {
            failures.push(format!(
                "row {n} {}: {why}\n    got {got}",
                describe(request)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ from coop:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn describe(call: &Call) -> String {
    match call {
        Call::Get(p) | Call::GetText(p) => format!("GET {p}"),
        Call::GetOpen(p) => format!("GET {p} (no token)"),
        Call::Post(p, b) => format!("POST {p} {b}"),
        Call::Put(p, b) => format!("PUT {p} {b}"),
        Call::Ws(r) => format!("/ws {r}"),
        Call::Connect(q) => format!("/ws?{q} first frame"),
    }
}
