//! The decoder against serde: for every `/ws/mux` event, the same text decodes to the same
//! event; and with any one field removed anywhere in it, the decoder refuses exactly when
//! serde refuses, and otherwise agrees with it.

use super::decode;
use protocol::coop::{PromptContext, PromptQuestion};
use protocol::inbox::{GoneReason, InboxItem};
use protocol::launch::LaunchState;
use protocol::mux::{MuxEvent, MuxTransition, ScreenEntry, SessionSummary};
use protocol::AgentState;
use serde_json::{json, Value};

/// The position of each variant; a new variant fails to compile here until it has a sample.
fn variant(event: &MuxEvent) -> usize {
    match event {
        MuxEvent::Sessions { .. } => 0,
        MuxEvent::SessionOnline { .. } => 1,
        MuxEvent::SessionOffline { .. } => 2,
        MuxEvent::LaunchStarted { .. } => 3,
        MuxEvent::LaunchRegistered { .. } => 4,
        MuxEvent::LaunchWaiting { .. } => 5,
        MuxEvent::LaunchFailed { .. } => 6,
        MuxEvent::CredentialRefreshed { .. } => 7,
        MuxEvent::CredentialRefreshFailed { .. } => 8,
        MuxEvent::CredentialReauthRequired { .. } => 9,
        MuxEvent::Error { .. } => 10,
        MuxEvent::InboxItem(_) => 11,
        MuxEvent::InboxGone { .. } => 12,
        MuxEvent::Transition(_) => 13,
        MuxEvent::ScreenBatch { .. } => 14,
    }
}
const VARIANTS: usize = 15;

fn samples() -> Vec<MuxEvent> {
    let s = |v: &str| v.to_owned();
    let launch = |state| MuxEvent::LaunchWaiting {
        launch_id: s("l1"),
        session_id: s("s1"),
        state,
        reason: s("still starting"),
    };
    let mut events = vec![
        MuxEvent::Sessions {
            sessions: vec![
                SessionSummary {
                    id: s("a"),
                    url: s("http://127.0.0.1:1"),
                    state: Some(AgentState::parse("working")),
                    metadata: json!({"label": "x", "n": 2, "f": 1.5, "l": [true, null]}),
                },
                SessionSummary {
                    id: s("b"),
                    url: s(""),
                    state: None,
                    metadata: Value::Null,
                },
            ],
        },
        MuxEvent::SessionOnline {
            session: s("a"),
            url: s("http://127.0.0.1:1"),
            metadata: json!({"cwd": "/w"}),
        },
        MuxEvent::SessionOffline { session: s("a") },
        MuxEvent::LaunchStarted {
            launch_id: s("l1"),
            session_id: s("s1"),
        },
        MuxEvent::LaunchRegistered {
            launch_id: s("l1"),
            session_id: s("s1"),
        },
        MuxEvent::LaunchFailed {
            launch_id: s("l1"),
            session_id: s("s1"),
            reason: s("exited"),
            exit_code: Some(-2),
        },
        MuxEvent::CredentialRefreshed { account: s("acc") },
        MuxEvent::CredentialRefreshFailed {
            account: s("acc"),
            error: s("401"),
        },
        MuxEvent::CredentialReauthRequired {
            account: s("acc"),
            auth_url: s("http://127.0.0.1:9/auth"),
            user_code: Some(s("ABCD")),
        },
        MuxEvent::Error {
            message: s("bad"),
            session: Some(s("a")),
        },
        MuxEvent::InboxItem(InboxItem {
            id: s("a:7"),
            session: s("a"),
            seq: 7,
            label: Some(s("fix")),
            location: Some(s("/w")),
            agent: Some(s("claude")),
            prompt: PromptContext {
                kind: s("question"),
                tool: Some(s("AskUserQuestion")),
                input: Some(s("{}")),
                options: vec![s("yes"), s("no")],
                options_fallback: true,
                questions: vec![PromptQuestion {
                    question: s("Which?"),
                    options: vec![s("a"), s("b")],
                }],
                question_current: 1,
                ready: true,
                subtype: Some(s("multi")),
            },
            since_ms: 1_700_000_000_000,
        }),
        MuxEvent::InboxGone {
            item: s("a:7"),
            session: s("a"),
            reason: GoneReason::Replaced,
        },
        MuxEvent::Transition(MuxTransition {
            session: s("a"),
            prev: AgentState::parse("working"),
            next: AgentState::parse("prompt"),
            seq: 9,
            cause: Some(s("hook")),
            last_message: Some(s("done")),
            prompt: Some(json!({"type": "permission", "options": ["y"]})),
            error_detail: Some(s("d")),
            error_category: Some(s("c")),
            parked_reason: Some(s("p")),
            resume_at_epoch_ms: Some(1_700_000_000_001),
        }),
        MuxEvent::ScreenBatch {
            screens: vec![ScreenEntry {
                session: s("a"),
                lines: vec![s("$ ls"), s("")],
                ansi: vec![s("\u{1b}[1m$\u{1b}[0m ls"), s("")],
                cols: 80,
                rows: 24,
                seq: 3,
            }],
        },
    ];
    events.extend(
        [
            LaunchState::Starting,
            LaunchState::NotRegisteredYet,
            LaunchState::HandedOff,
            LaunchState::Registered,
            LaunchState::Exited,
            LaunchState::Failed,
        ]
        .map(launch),
    );
    for reason in [GoneReason::Left, GoneReason::Offline] {
        events.push(MuxEvent::InboxGone {
            item: s("b:1"),
            session: s("b"),
            reason,
        });
    }
    events
}

/// Paths to every object key in `value`.
fn keys(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push(key.clone());
                out.push(at.clone());
                keys(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i.to_string());
                keys(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn without(value: &Value, path: &[String]) -> Value {
    let mut value = value.clone();
    let mut node = &mut value;
    for step in &path[..path.len() - 1] {
        node = match node {
            Value::Array(items) => &mut items[step.parse::<usize>().unwrap()],
            other => other.get_mut(step).unwrap(),
        };
    }
    node.as_object_mut().unwrap().remove(&path[path.len() - 1]);
    value
}

#[test]
fn every_event_decodes_as_serde_decodes_it() {
    let samples = samples();
    let mut seen = [false; VARIANTS];
    for event in &samples {
        seen[variant(event)] = true;
        let wire = serde_json::to_value(event).unwrap();
        assert_eq!(decode(&wire).as_ref(), Some(event), "{wire}");
    }
    assert!(seen.iter().all(|s| *s), "a variant has no sample: {seen:?}");
}

#[test]
fn with_any_field_missing_the_decoder_refuses_exactly_when_serde_does() {
    let mut checked = 0;
    for event in samples() {
        let wire = serde_json::to_value(&event).unwrap();
        let mut paths = Vec::new();
        keys(&wire, &mut Vec::new(), &mut paths);
        for path in paths {
            let cut = without(&wire, &path);
            let by_serde = serde_json::from_value::<MuxEvent>(cut.clone()).ok();
            assert_eq!(decode(&cut), by_serde, "without {path:?} in {wire}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn unknown_events_and_values_decode_to_nothing() {
    for text in [
        json!({"event": "future:thing", "x": 1}),
        json!({"no": "event"}),
        json!({"event": "inbox:gone", "item": "a:1", "session": "a", "reason": "later"}),
        json!({"event": "launch:waiting", "launch_id": "l", "session_id": "s", "state": "nope", "reason": ""}),
        json!([1, 2]),
    ] {
        assert_eq!(serde_json::from_value::<MuxEvent>(text.clone()).ok(), None);
        assert_eq!(decode(&text), None, "{text}");
    }
}
