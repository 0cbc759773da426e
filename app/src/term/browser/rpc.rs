//! Requests on a terminal's socket that expect an answer: each gets a `request_id` of its own
//! (`dash-N`) and a callback, answered by the reply that echoes it, by the connection's loss,
//! or by a timeout.

use super::super::Reply;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// How long a request waits for its answer, in milliseconds (coop's dashboard waits 10 s).
pub const TIMEOUT_MS: u64 = 10_000;

/// What runs when a request is answered.
pub type OnReply = Box<dyn FnOnce(Reply)>;

/// Requests waiting for their answer.
#[derive(Default)]
pub struct Pending {
    next: Cell<u64>,
    waiting: RefCell<HashMap<String, OnReply>>,
}

impl Pending {
    /// `request` as a frame with a fresh `request_id`; the id, to pass to [`Pending::wait`]
    /// once the frame is sent.
    pub fn frame(&self, request: &impl serde::Serialize) -> Option<(String, String)> {
        let Ok(Value::Object(mut body)) = serde_json::to_value(request) else {
            return None;
        };
        let n = self.next.get() + 1;
        self.next.set(n);
        let id = format!("dash-{n}");
        body.insert("request_id".into(), Value::String(id.clone()));
        Some((id, Value::Object(body).to_string()))
    }

    /// Waits for the answer to `id`: `on_reply` runs once, through [`Pending::answer`] or
    /// [`Pending::fail_all`] (the caller answers a timeout).
    pub fn wait(&self, id: String, on_reply: OnReply) {
        self.waiting.borrow_mut().insert(id, on_reply);
    }

    /// Hands `reply` to the request `id`, if it still waits; false when none does.
    pub fn answer(&self, id: &str, reply: Reply) -> bool {
        // Taken out first: the callback may send another request.
        let waiting = self.waiting.borrow_mut().remove(id);
        match waiting {
            Some(on_reply) => {
                on_reply(reply);
                true
            }
            None => false,
        }
    }

    /// Answers every waiting request with `why` (the connection is gone).
    pub fn fail_all(&self, why: &str) {
        let waiting: Vec<_> = self
            .waiting
            .borrow_mut()
            .drain()
            .map(|(_, cb)| cb)
            .collect();
        for on_reply in waiting {
            on_reply(Err(why.to_owned()));
        }
    }
}

/// The request id of a frame, and the reply as the waiting request sees it: the frame, or
/// `CODE: message` for an `error`.
pub fn reply_of(frame: &Map<String, Value>) -> Option<(String, Reply)> {
    let id = frame.get("request_id")?.as_str()?.to_owned();
    let reply = if frame.get("event").and_then(Value::as_str) == Some("error") {
        let text = |k: &str| frame.get(k).and_then(Value::as_str).unwrap_or_default();
        Err(format!("{}: {}", text("code"), text("message")))
    } else {
        Ok(Value::Object(frame.clone()))
    };
    Some((id, reply))
}
