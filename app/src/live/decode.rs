//! `/ws/mux` events decoded with the browser's JSON parser and a few typed field reads.
//!
//! serde's derive for the internally tagged [`MuxEvent`] (and everything under it) is among
//! the largest code in the WASM bundle, and these events arrive many times a second: reading
//! the fields from `JSON.parse`'s object is both smaller and faster. Unknown events and events
//! missing a required field decode to `None`, as serde would refuse them. The wire format is
//! `protocol::mux`; `model::decode` is the serde reference these must agree with.

use crate::rest::{field, num_field, str_field};
use js_sys::{Array, Object, JSON};
use protocol::inbox::GoneReason;
use protocol::launch::LaunchState;
use protocol::mux::{MuxEvent, MuxTransition, ScreenEntry, SessionSummary};
use protocol::AgentState;
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// One event from its text, `None` when it is not one this build knows.
pub fn event(text: &str) -> Option<MuxEvent> {
    let obj = JSON::parse(text).ok()?;
    let s = |key: &str| str_field(&obj, key);
    Some(match s("event")?.as_str() {
        "sessions" => MuxEvent::Sessions {
            sessions: list(&obj, "sessions")
                .iter()
                .map(|v| summary(&v))
                .collect::<Option<_>>()?,
        },
        "session:online" => MuxEvent::SessionOnline {
            session: s("session")?,
            url: s("url")?,
            metadata: value(&field(&obj, "metadata")),
        },
        "session:offline" => MuxEvent::SessionOffline {
            session: s("session")?,
        },
        "transition" => MuxEvent::Transition(transition(&obj)?),
        "screen_batch" => MuxEvent::ScreenBatch {
            screens: list(&obj, "screens")
                .iter()
                .map(|v| screen(&v))
                .collect::<Option<_>>()?,
        },
        "credential:refreshed" => MuxEvent::CredentialRefreshed {
            account: s("account")?,
        },
        "credential:refresh:failed" => MuxEvent::CredentialRefreshFailed {
            account: s("account")?,
            error: s("error")?,
        },
        "credential:reauth:required" => MuxEvent::CredentialReauthRequired {
            account: s("account")?,
            auth_url: s("auth_url")?,
            user_code: s("user_code"),
        },
        "inbox:item" => MuxEvent::InboxItem(crate::rest::inbox::item(&obj)?),
        "inbox:gone" => MuxEvent::InboxGone {
            item: s("item")?,
            session: s("session")?,
            reason: match s("reason")?.as_str() {
                "left" => GoneReason::Left,
                "replaced" => GoneReason::Replaced,
                "offline" => GoneReason::Offline,
                _ => return None,
            },
        },
        "error" => MuxEvent::Error {
            message: s("message")?,
            session: s("session"),
        },
        "launch:started" => MuxEvent::LaunchStarted {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
        },
        "launch:registered" => MuxEvent::LaunchRegistered {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
        },
        "launch:waiting" => MuxEvent::LaunchWaiting {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
            state: launch_state(&s("state")?)?,
            reason: s("reason")?,
        },
        "launch:failed" => MuxEvent::LaunchFailed {
            launch_id: s("launch_id")?,
            session_id: s("session_id")?,
            reason: s("reason")?,
            exit_code: num_field(&obj, "exit_code").map(|c| c as i32),
        },
        _ => return None,
    })
}

fn launch_state(s: &str) -> Option<LaunchState> {
    Some(match s {
        "starting" => LaunchState::Starting,
        "not_registered_yet" => LaunchState::NotRegisteredYet,
        "handed_off" => LaunchState::HandedOff,
        "registered" => LaunchState::Registered,
        "exited" => LaunchState::Exited,
        "failed" => LaunchState::Failed,
        _ => return None,
    })
}

/// The array at `key` (empty when missing).
fn list(obj: &JsValue, key: &str) -> Array {
    field(obj, key).dyn_into::<Array>().unwrap_or_default()
}

/// The strings of the array at `key`, `None` when one is not a string.
fn strings(obj: &JsValue, key: &str) -> Option<Vec<String>> {
    list(obj, key).iter().map(|v| v.as_string()).collect()
}

fn summary(obj: &JsValue) -> Option<SessionSummary> {
    Some(SessionSummary {
        id: str_field(obj, "id")?,
        url: str_field(obj, "url")?,
        state: str_field(obj, "state").map(|s| AgentState::parse(&s)),
        metadata: value(&field(obj, "metadata")),
    })
}

fn transition(obj: &JsValue) -> Option<MuxTransition> {
    let s = |key: &str| str_field(obj, key);
    Some(MuxTransition {
        session: s("session")?,
        prev: AgentState::parse(&s("prev")?),
        next: AgentState::parse(&s("next")?),
        seq: num_field(obj, "seq")? as u64,
        cause: s("cause"),
        last_message: s("last_message"),
        prompt: Some(value(&field(obj, "prompt"))).filter(|v| !v.is_null()),
        error_detail: s("error_detail"),
        error_category: s("error_category"),
        parked_reason: s("parked_reason"),
        resume_at_epoch_ms: num_field(obj, "resume_at_epoch_ms").map(|n| n as u64),
    })
}

fn screen(obj: &JsValue) -> Option<ScreenEntry> {
    Some(ScreenEntry {
        session: str_field(obj, "session")?,
        lines: strings(obj, "lines")?,
        ansi: strings(obj, "ansi")?,
        cols: num_field(obj, "cols")? as u16,
        rows: num_field(obj, "rows")? as u16,
        seq: num_field(obj, "seq")? as u64,
    })
}

/// A parsed JSON value as a [`Value`] (`null` for `undefined`).
fn value(v: &JsValue) -> Value {
    if let Some(b) = v.as_bool() {
        return Value::Bool(b);
    }
    if let Some(n) = v.as_f64() {
        // Integers stay integers, as serde_json would have parsed them.
        return if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Value::Number(Number::from(n as i64))
        } else {
            Number::from_f64(n).map_or(Value::Null, Value::Number)
        };
    }
    if let Some(s) = v.as_string() {
        return Value::String(s);
    }
    if Array::is_array(v) {
        return Value::Array(Array::from(v).iter().map(|e| value(&e)).collect());
    }
    if v.is_object() {
        let mut map = Map::new();
        for key in Object::keys(v.unchecked_ref::<Object>()).iter() {
            if let Some(k) = key.as_string() {
                let entry = field(v, &k);
                map.insert(k, value(&entry));
            }
        }
        return Value::Object(map);
    }
    Value::Null
}
