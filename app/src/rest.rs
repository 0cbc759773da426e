//! The calls the grid makes at first paint, as plain `fetch`es of the server functions'
//! endpoints decoded with the browser's JSON parser.
//!
//! A typed server function costs the WASM bundle 15–35 KB (its client, serde code for its
//! types); the grid needs only a few fields of these answers, so it reads them from the
//! parsed object instead. The dialogs and the overlay, loaded on demand, keep using the typed
//! functions of [`crate::api`]. See docs/architecture.md, "Dashboard bundle size".

use crate::api::ApiFailure;
use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use protocol::credentials::{AccountStatus, CredentialStatus};
use protocol::launch::LaunchConfig;
use protocol::AgentState;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub mod inbox;

/// Field `key` of `obj` (`undefined` when missing).
pub fn field(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// String field `key`, `None` when missing or not a string.
pub fn str_field(obj: &JsValue, key: &str) -> Option<String> {
    field(obj, key).as_string()
}

/// Numeric field `key`, `None` when missing or not a number.
pub fn num_field(obj: &JsValue, key: &str) -> Option<f64> {
    field(obj, key).as_f64()
}

/// Boolean field `key`, false when missing.
pub fn bool_field(obj: &JsValue, key: &str) -> bool {
    field(obj, key).as_bool().unwrap_or(false)
}

/// Calls method `name` of `obj` without arguments.
fn call0(obj: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    field(obj, name).dyn_into::<Function>()?.call0(obj)
}

/// Adds the page's login to `headers` (docs/security.md, "The dashboard's login").
///
/// Out of line on purpose: inlined into `call`'s future, it made the split build keep the
/// on-demand chunks' data in the main chunk (38 KB more).
fn add_login(headers: &Object) {
    if let Some(login) = crate::login::credential() {
        let _ = Reflect::set(headers, &crate::login::HEADER.into(), &login.into());
    }
}

/// `POST /api/fn/{endpoint}` with the JSON `body`; the parsed answer, or the server's
/// failure (status and message, status 0 when the call never got an answer).
pub async fn call(endpoint: &str, body: &JsValue) -> Result<JsValue, ApiFailure> {
    let text = JSON::stringify(body)
        .map_err(|_| ApiFailure::new(0, "the call cannot be encoded"))?
        .as_string();
    fetch("POST", &format!("/api/fn/{endpoint}"), text).await
}

/// A same-origin request with an optional JSON body; the parsed answer, or the server's
/// failure: the server function's `code` and `message` or the REST envelope's `error`.
pub async fn fetch(method: &str, url: &str, body: Option<String>) -> Result<JsValue, ApiFailure> {
    let unreachable = |_| ApiFailure::new(0, "the hub is unreachable");
    let window = web_sys::window().ok_or_else(|| ApiFailure::new(0, "no window"))?;
    let headers = Object::new();
    let _ = Reflect::set(&headers, &"accept".into(), &"application/json".into());
    add_login(&headers);
    let init = Object::new();
    let _ = Reflect::set(&init, &"method".into(), &method.into());
    if let Some(body) = body {
        let _ = Reflect::set(&headers, &"content-type".into(), &"application/json".into());
        let _ = Reflect::set(&init, &"body".into(), &body.into());
    }
    let _ = Reflect::set(&init, &"headers".into(), &headers);
    let fetch = field(&window, "fetch")
        .dyn_into::<Function>()
        .map_err(unreachable)?;
    let promise = fetch
        .call2(&window, &url.into(), &init)
        .map_err(unreachable)?;
    let response = JsFuture::from(Promise::from(promise))
        .await
        .map_err(unreachable)?;
    let ok = bool_field(&response, "ok");
    let status = num_field(&response, "status").unwrap_or(0.0) as u16;
    let text = call0(&response, "text").map_err(unreachable)?;
    let text = JsFuture::from(Promise::from(text))
        .await
        .map_err(unreachable)?
        .as_string()
        .unwrap_or_default();
    let parsed = JSON::parse(&text).unwrap_or(JsValue::NULL);
    if ok {
        return Ok(parsed);
    }
    if status == 401 {
        crate::login::expired();
    }
    let envelope = field(&parsed, "error");
    let code = str_field(&parsed, "code")
        .or_else(|| str_field(&envelope, "code"))
        .unwrap_or_default();
    let message = str_field(&parsed, "message")
        .or_else(|| str_field(&envelope, "message"))
        .unwrap_or(text);
    Err(ApiFailure::with_code(status, code, message))
}

/// An object with the one field `key`.
fn object_with(key: &str, value: &JsValue) -> JsValue {
    let obj = Object::new();
    let _ = Reflect::set(&obj, &key.into(), value);
    obj.into()
}

/// Whether launching is available, and the mux's working directory.
pub async fn launch_config() -> Result<LaunchConfig, ApiFailure> {
    let reply = call("launch_config", &Object::new()).await?;
    Ok(LaunchConfig {
        available: bool_field(&reply, "available"),
        cwd: str_field(&reply, "cwd").unwrap_or_default(),
    })
}

/// The state and exit code of each of `ids` that answers.
pub async fn session_states(
    ids: Vec<String>,
) -> Result<Vec<(String, AgentState, Option<i32>)>, ApiFailure> {
    let list: Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
    let reply = call("session_states", &object_with("ids", &list)).await?;
    let mut states = Vec::new();
    for id in ids {
        let status = field(&reply, &id);
        if !status.is_object() {
            continue;
        }
        let state = AgentState::parse(&str_field(&status, "state").unwrap_or_default());
        let exit_code = num_field(&status, "exit_code").map(|c| c as i32);
        states.push((id, state, exit_code));
    }
    Ok(states)
}

/// Every credential account with its status.
pub async fn credential_status() -> Result<Vec<AccountStatus>, ApiFailure> {
    let reply = call("credential_status", &Object::new()).await?;
    let Ok(list) = reply.dyn_into::<Array>() else {
        return Ok(Vec::new());
    };
    let accounts = list
        .iter()
        .map(|a| AccountStatus {
            name: str_field(&a, "name").unwrap_or_default(),
            provider: str_field(&a, "provider").unwrap_or_default(),
            status: match str_field(&a, "status").as_deref() {
                Some("healthy") => CredentialStatus::Healthy,
                Some("refreshing") => CredentialStatus::Refreshing,
                Some("expired") => CredentialStatus::Expired,
                _ => CredentialStatus::Missing,
            },
            has_api_key: bool_field(&a, "has_api_key"),
            expires_in_secs: num_field(&a, "expires_in_secs").map(|s| s as u64),
            has_refresh_token: bool_field(&a, "has_refresh_token"),
            reauth: bool_field(&a, "reauth"),
        })
        .collect();
    Ok(accounts)
}

/// Dismisses an exited session.
pub async fn dismiss_session(id: String) -> Result<(), ApiFailure> {
    call("dismiss_session", &object_with("id", &id.into()))
        .await
        .map(|_| ())
}
