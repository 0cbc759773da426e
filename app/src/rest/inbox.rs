//! The hub's inbox API as the dashboard calls it: `GET /api/v1/inbox` and
//! `POST /api/v1/inbox/{item}/answer` (the REST endpoints themselves, so an answer is audited
//! and claimed exactly as any client's), and `InboxItem`s read from parsed JSON (also those
//! of `inbox:item` on `/ws/mux`).

use super::{fetch, field, str_field};
use crate::api::ApiFailure;
use crate::json::Json;
use crate::live::decode::item;
use js_sys::{Array, Object, Reflect, JSON};
use protocol::coop::RespondRequest;
use protocol::inbox::{InboxAnswered, InboxItem};
use wasm_bindgen::{JsCast, JsValue};

/// Every waiting item, oldest first.
pub async fn list() -> Result<Vec<InboxItem>, ApiFailure> {
    let reply = fetch("GET", "/api/v1/inbox", None).await?;
    Ok((reply.list("items").unwrap_or_default().iter())
        .filter_map(item)
        .collect())
}

/// Answers item `id`; a 409 means it was answered already or is not the prompt any more.
pub async fn answer(id: &str, answer: &RespondRequest) -> Result<InboxAnswered, ApiFailure> {
    let body = JSON::stringify(&body_of(answer))
        .ok()
        .and_then(|b| b.as_string())
        .ok_or_else(|| ApiFailure::new(0, "the answer cannot be encoded"))?;
    // Ids are `[A-Za-z0-9._:-]` (sessions checked by the hub) and a number: safe in a path.
    let reply = fetch("POST", &format!("/api/v1/inbox/{id}/answer"), Some(body)).await?;
    Ok(InboxAnswered {
        item: str_field(&reply, "item").unwrap_or_else(|| id.to_owned()),
        delivered: field(&reply, "delivered").as_bool().unwrap_or(false),
        prompt_type: str_field(&reply, "prompt_type").unwrap_or_default(),
    })
}

/// `answer` as the JSON object the endpoint takes, built with the browser's objects (serde's
/// serialiser for it, and for the JSON values inside, would cost the bundle more).
fn body_of(answer: &RespondRequest) -> JsValue {
    let obj = Object::new();
    let set = |obj: &Object, key: &str, value: JsValue| {
        let _ = Reflect::set(obj, &key.into(), &value);
    };
    if let Some(accept) = answer.accept {
        set(&obj, "accept", accept.into());
    }
    if let Some(option) = answer.option {
        set(&obj, "option", option.into());
    }
    if let Some(text) = &answer.text {
        set(&obj, "text", text.into());
    }
    if !answer.answers.is_empty() {
        let answers: Array = answer
            .answers
            .iter()
            .map(|a| {
                let entry = Object::new();
                if let Some(option) = a.get("option").and_then(|o| o.as_u64()) {
                    set(&entry, "option", (option as u32).into());
                }
                if let Some(text) = a.get("text").and_then(|t| t.as_str()) {
                    set(&entry, "text", text.into());
                }
                JsValue::from(entry)
            })
            .collect();
        set(&obj, "answers", answers.into());
    }
    obj.into()
}

/// The string fields of the JSON object `text` (none when it is not one), read with the
/// browser's parser (serde's would cost the bundle more than it offers here).
pub fn input_fields(text: &str) -> Vec<(String, String)> {
    let Ok(obj) = JSON::parse(text) else {
        return Vec::new();
    };
    if !obj.is_object() || Array::is_array(&obj) {
        return Vec::new();
    }
    Object::keys(obj.unchecked_ref::<Object>())
        .iter()
        .filter_map(|k| {
            let k = k.as_string()?;
            let v = str_field(&obj, &k)?;
            Some((k, v))
        })
        .collect()
}

/// Reads the list again (after a (re)connect, or an answer that came too late) and shows it,
/// with the events that came meanwhile applied over it.
pub async fn refresh(inbox: crate::model::inbox::Inbox) {
    inbox.syncing();
    match list().await {
        Ok(items) => inbox.synced(items),
        Err(_) => inbox.sync_failed(),
    }
}
