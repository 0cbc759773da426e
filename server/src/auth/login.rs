//! Login and logout: the JSON endpoints the dashboard uses, and a plain server-rendered login
//! form at `/mux/login` (a Leptos page can replace it later). Both trade the token for a
//! random session value in an HttpOnly, SameSite=Strict cookie.

use super::headers::{login_cookie, logout_cookie, session_cookie};
use super::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::{
    extract::{rejection::FormRejection, State},
    http::{header::SET_COOKIE, HeaderMap, StatusCode},
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

/// Reply of login and logout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    /// True on success.
    pub ok: bool,
}

/// Trade the token for a session cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse, description = "sets the HttpOnly session cookie"),
        (status = 401, body = protocol::mux::ErrorEnvelope),
    ),
    security(())
)]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if !auth.enabled() {
        return Ok(Json(AuthResponse { ok: true }).into_response());
    }
    if !auth.token_matches(&body.token) {
        tracing::warn!("login refused: wrong token");
        return Err(ApiError::Unauthorized);
    }
    let cookie = login_cookie(&auth.new_login());
    Ok(([(SET_COOKIE, cookie)], Json(AuthResponse { ok: true })).into_response())
}

/// Forget the session cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, body = AuthResponse, description = "clears the session cookie")),
    security(())
)]
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(value) = session_cookie(&headers) {
        auth.logout(&value);
    }
    (
        [(SET_COOKIE, logout_cookie())],
        Json(AuthResponse { ok: true }),
    )
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

/// `GET /mux/login`: the login form (or straight to the dashboard when not needed).
pub async fn login_form(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    let logged_in = session_cookie(&headers).is_some_and(|c| auth.login_valid(&c));
    if !auth.enabled() || logged_in {
        return Redirect::to("/mux").into_response();
    }
    login_page(None).into_response()
}

/// `POST /mux/login`: form login; on success a cookie and a redirect to the dashboard.
pub async fn login_submit(
    State(auth): State<Arc<Auth>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !auth.enabled() {
        return Redirect::to("/mux").into_response();
    }
    match form {
        Ok(Form(form)) if auth.token_matches(&form.token) => {
            let cookie = login_cookie(&auth.new_login());
            ([(SET_COOKIE, cookie)], Redirect::to("/mux")).into_response()
        }
        _ => {
            tracing::warn!("login refused: wrong token");
            (StatusCode::UNAUTHORIZED, login_page(Some("Wrong token."))).into_response()
        }
    }
}
