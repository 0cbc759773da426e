//! The dashboard's login credential, kept by the login page in this origin's `localStorage`
//! (scheme, host and port: no other server on the host can read it) and sent by the page
//! itself: as `X-Coopmux-Login` on fetches and server functions, as a `coopmux.login.…`
//! WebSocket subprotocol on `/ws/mux` and `/ws/{id}` (docs/security.md, "The dashboard's
//! login"). No cookie: the browser would send a cookie to every port of the host.

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The `localStorage` key (the server's login page writes it: `auth::login::STORAGE_KEY`).
const STORAGE_KEY: &str = "coopmux.login";
/// Header carrying the credential (the server's `auth::LOGIN_HEADER`).
pub const HEADER: &str = "x-coopmux-login";
/// The subprotocol the hub selects (`auth::WS_PROTOCOL`).
const WS_PROTOCOL: &str = "coopmux";
/// Prefix of the subprotocol value carrying the credential (`auth::LOGIN_PROTOCOL_PREFIX`).
const PROTOCOL_PREFIX: &str = "coopmux.login.";

fn storage() -> Option<JsValue> {
    let window = web_sys::window()?;
    Reflect::get(&window, &"localStorage".into())
        .ok()
        .filter(|s| s.is_object())
}

fn call(storage: &JsValue, method: &str, args: &Array) -> Option<JsValue> {
    let f = Reflect::get(storage, &method.into())
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    f.apply(storage, args).ok()
}

/// The stored credential, if the page has logged in.
pub fn credential() -> Option<String> {
    let storage = storage()?;
    call(&storage, "getItem", &Array::of1(&STORAGE_KEY.into()))?
        .as_string()
        .filter(|c| !c.is_empty())
}

/// The subprotocols to open a hub WebSocket with: none without a login.
pub fn ws_protocols() -> Option<Array> {
    let mut value = String::from(PROTOCOL_PREFIX);
    value.push_str(&credential()?);
    Some(Array::of2(&WS_PROTOCOL.into(), &value.into()))
}

/// The hub refused the credential (401): forget it and log in again.
pub fn expired() {
    if let Some(storage) = storage() {
        let _ = call(&storage, "removeItem", &Array::of1(&STORAGE_KEY.into()));
    }
    if let Some(window) = web_sys::window() {
        let _ = window.location().replace("/mux/login");
    }
}

/// Opens a WebSocket to the hub at `url`, with the login when there is one.
pub fn open_socket(url: &str) -> Result<web_sys::WebSocket, JsValue> {
    match ws_protocols() {
        Some(protocols) => web_sys::WebSocket::new_with_str_sequence(url, &protocols),
        None => web_sys::WebSocket::new(url),
    }
}
