//! The middleware that records audited requests: it reads the body of those it records
//! (bounded by the router's limit), lets the handler run, and appends the outcome.

use super::{Action, Audit};
use crate::hub::auth::Principal;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use protocol::inbox::InboxItem;
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest body of an audited request, in bytes: answers, nudges, launches and credential
/// changes are small; a larger body is refused (413) before the handler runs.
const AUDITED_BODY_BYTES: usize = 1024 * 1024;
/// Longest body recorded as `sent`, in bytes; a longer one is recorded cut, as text.
const SENT_BYTES: usize = 4096;

/// What is recorded of a body.
#[derive(Clone, Copy)]
enum Sent {
    /// The body itself (an answer, a nudge: what the agent received).
    Body,
    /// The names of the launch's variables (their values may be secrets).
    EnvNames,
    /// The account named (a key is never recorded).
    Account,
    /// Nothing.
    Nothing,
}

/// The action, session, item and what to record of a request, when it is audited.
fn classify(
    method: &Method,
    path: &str,
) -> Option<(&'static str, Option<String>, Option<String>, Sent)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.clone(), parts.as_slice()) {
        (Method::POST, ["api", "v1", "inbox", item, "answer"]) => {
            let session = InboxItem::parse_id(item).map(|(s, _)| s.to_owned());
            Some(("answer", session, Some((*item).to_owned()), Sent::Body))
        }
        (Method::POST, ["api", "v1", "sessions", "launch"]) => {
            Some(("launch", None, None, Sent::EnvNames))
        }
        (Method::POST, ["api", "v1", "sessions", id, "agent", "respond"]) => {
            Some(("respond", Some((*id).to_owned()), None, Sent::Body))
        }
        (Method::POST, ["api", "v1", "sessions", id, "agent", "nudge"]) => {
            Some(("nudge", Some((*id).to_owned()), None, Sent::Body))
        }
        (Method::DELETE, ["api", "v1", "sessions", id]) => {
            Some(("kill", Some((*id).to_owned()), None, Sent::Nothing))
        }
        (Method::POST | Method::PUT | Method::DELETE, ["api", "v1", "credentials", ..]) => {
            Some(("credential", None, None, Sent::Account))
        }
        _ => None,
    }
}

fn sent(kind: Sent, body: &[u8]) -> Value {
    let parsed = || serde_json::from_slice::<Value>(body).ok();
    match kind {
        Sent::Nothing => Value::Null,
        Sent::Body if body.len() > SENT_BYTES => {
            let text = String::from_utf8_lossy(&body[..SENT_BYTES]).into_owned();
            json!({ "truncated": text })
        }
        Sent::Body => parsed().unwrap_or(Value::Null),
        Sent::EnvNames => {
            let names: Vec<String> = (parsed().as_ref())
                .and_then(|b| {
                    b.get("env")?
                        .as_object()
                        .map(|env| env.keys().cloned().collect())
                })
                .unwrap_or_default();
            json!({ "env": names })
        }
        Sent::Account => {
            let account = parsed().and_then(|b| {
                ["account", "name"]
                    .iter()
                    .find_map(|k| Some(b.get(*k)?.as_str()?.to_owned()))
            });
            json!({ "account": account })
        }
    }
}

/// Records audited requests (others pass untouched).
pub async fn record(State(audit): State<Arc<Audit>>, req: Request, next: Next) -> Response {
    let Some((action, session, item, kind)) = classify(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let principal =
        (req.extensions().get::<Principal>()).map_or_else(|| "unknown".to_owned(), |p| p.0.clone());
    let request = format!("{} {}", req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, AUDITED_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let err =
                crate::edge::error::ApiError::PayloadTooLarge("request body too large".to_owned());
            return err.into_response();
        }
    };
    let sent = sent(kind, &bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    audit.append(Action {
        principal,
        action,
        session,
        item,
        request,
        sent,
        status: response.status().as_u16(),
    });
    response
}
