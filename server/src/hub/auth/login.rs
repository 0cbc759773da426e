//! Login and logout: the JSON endpoints, and the server-rendered login form at `/mux/login`
//! the dashboard uses. Both trade the token for a random login credential that the page keeps
//! in its own origin's storage and sends itself (never a cookie, which every port of the host
//! would receive; see [`super::headers`] and docs/security.md, "The dashboard's login").

use super::Auth;
use crate::edge::error::ApiError;
use crate::edge::headers::login_credential;
use crate::hub::extract::ApiJson;
use axum::{
    extract::{rejection::FormRejection, State},
    http::{header::CACHE_CONTROL, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Form, Json,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// `POST /api/v1/auth/login` body. No `Debug`: it is the token.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The mux's `--auth-token`.
    pub token: String,
}

/// Reply of login and logout. No `Debug`: it may carry a login credential.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    /// True on success.
    pub ok: bool,
    /// Login: the credential to send as `X-Coopmux-Login` (or as a `coopmux.login.…`
    /// WebSocket subprotocol); absent on a hub without a token, and on logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

/// The answers that carry a credential are never stored by a cache.
const NO_STORE: (axum::http::HeaderName, &str) = (CACHE_CONTROL, "no-store");

/// Trade the token for a login credential.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse, description = "the login credential"),
        (status = 401, body = protocol::ErrorEnvelope),
    ),
    security(())
)]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if !auth.enabled() {
        return Ok(Json(AuthResponse {
            ok: true,
            login: None,
        })
        .into_response());
    }
    if !auth.token_matches(&body.token) {
        tracing::warn!("login refused: wrong token");
        return Err(ApiError::Unauthorized);
    }
    let reply = AuthResponse {
        ok: true,
        login: Some(auth.new_login()),
    };
    Ok(([NO_STORE], Json(reply)).into_response())
}

/// Forget the login credential the request carries.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, body = AuthResponse, description = "the credential no longer works")),
    security(())
)]
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(value) = login_credential(&headers) {
        auth.logout(&value);
    }
    Json(AuthResponse {
        ok: true,
        login: None,
    })
    .into_response()
}

/// Form field of the login page.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// The login page's own style (the dashboard's colours; the stylesheet itself needs a login).
const LOGIN_STYLE: &str = "\
:root{color-scheme:dark;font-family:system-ui,-apple-system,'Segoe UI',sans-serif}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
background:#0f1115;color:#d7dae0;font-size:14px}\
main{width:min(360px,90vw);padding:1.5rem 1.75rem;background:#171a21;\
border:1px solid #2a2f3a;border-radius:8px}\
h1{margin:0 0 1rem;font-size:1.3rem}\
form{display:flex;flex-direction:column;gap:.75rem}\
label{display:flex;flex-direction:column;gap:.3rem;color:#8a91a0}\
input{background:#0f1115;color:#d7dae0;border:1px solid #2a2f3a;border-radius:4px;\
padding:.45rem .5rem;font:inherit}\
input:focus{outline:none;border-color:#6cb6ff}\
button{background:#1f6feb;border:1px solid #1f6feb;color:#fff;border-radius:4px;\
padding:.45rem;font:inherit;cursor:pointer}\
.error{color:#f85149;margin:0 0 .75rem}";

fn login_page(error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{e}</p>"))
        .unwrap_or_default();
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>coopmux login</title><link rel=\"icon\" href=\"/favicon.ico\">\
         <style>{LOGIN_STYLE}</style></head><body><main>\
         <h1>coopmux</h1>{error}\
         <form method=\"post\" action=\"/mux/login\">\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus required></label> \
         <button type=\"submit\">Log in</button></form></main></body></html>"
    ))
}

/// Where the page keeps the login credential (`localStorage`, scoped to the hub's origin:
/// scheme, host and port). The dashboard reads it under the same key (`app/src/login.rs`).
pub const STORAGE_KEY: &str = "coopmux.login";

/// The page a successful form login answers with: it stores the credential in the origin's
/// storage and opens the dashboard, so the credential never appears in a URL or a cookie.
fn logged_in_page(login: &str) -> Html<String> {
    // The credential is hex: nothing in it can end the string or the script.
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>coopmux login</title></head><body><script>\
         localStorage.setItem(\"{STORAGE_KEY}\", \"{login}\");location.replace(\"/mux\");\
         </script></body></html>"
    ))
}

/// `GET /mux/login`: the login form (or straight to the dashboard when not needed).
pub async fn login_form(State(auth): State<Arc<Auth>>) -> Response {
    if !auth.enabled() {
        return Redirect::to("/mux").into_response();
    }
    login_page(None).into_response()
}

/// `POST /mux/login`: form login; on success a page that keeps the credential and opens the
/// dashboard.
pub async fn login_submit(
    State(auth): State<Arc<Auth>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !auth.enabled() {
        return Redirect::to("/mux").into_response();
    }
    match form {
        Ok(Form(form)) if auth.token_matches(&form.token) => {
            ([NO_STORE], logged_in_page(&auth.new_login())).into_response()
        }
        _ => {
            tracing::warn!("login refused: wrong token");
            (StatusCode::UNAUTHORIZED, login_page(Some("Wrong token."))).into_response()
        }
    }
}
