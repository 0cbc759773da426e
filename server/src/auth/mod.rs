//! Authentication (docs/security.md): the `--auth-token` bearer, the dashboard's session cookie,
//! the login page, WebSocket origin checks and CORS.
//!
//! The token protects every route except `GET /api/v1/health`, static assets and the login
//! endpoints. Browsers log in once and then carry an HttpOnly cookie holding a random session
//! value, so the token never sits in a URL or in script-readable storage.

pub mod login;

use crate::error::ApiError;
use crate::state::AppState;
use axum::{
    extract::{Request, State},
    http::{
        header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, ORIGIN},
        HeaderMap, HeaderValue, Method,
    },
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use std::collections::VecDeque;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Name of the dashboard's session cookie.
pub const COOKIE_NAME: &str = "coopmux_session";
/// Login sessions kept at once (count); the oldest is forgotten beyond that, which only
/// means that browser has to log in again.
const MAX_LOGIN_SESSIONS: usize = 256;

/// The configured token and the live login sessions. No `Debug` derive: it holds secrets.
pub struct Auth {
    token: Option<String>,
    sessions: Mutex<VecDeque<String>>,
    allowed_origins: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.enabled())
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

/// Compares in time that depends only on the length of `secret`, not on where `candidate`
/// differs nor on its length.
fn secret_eq(candidate: &str, secret: &str) -> bool {
    let (a, b) = (candidate.as_bytes(), secret.as_bytes());
    let mut equal = (a.len() as u64).ct_eq(&(b.len() as u64));
    for (i, byte) in b.iter().enumerate() {
        equal &= a.get(i).copied().unwrap_or(0).ct_eq(byte);
    }
    equal.into()
}

impl Auth {
    /// Auth with this token (`None` = open hub) and extra allowed origins.
    pub fn new(token: Option<String>, allowed_origins: Vec<String>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()),
            sessions: Mutex::new(VecDeque::new()),
            allowed_origins,
        }
    }

    /// Whether a token is configured.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `candidate` is the configured token.
    pub fn token_matches(&self, candidate: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|t| secret_eq(candidate, t))
    }

    pub(super) fn new_login(&self) -> String {
        let value = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= MAX_LOGIN_SESSIONS {
            sessions.pop_front();
        }
        sessions.push_back(value.clone());
        value
    }

    pub(super) fn login_valid(&self, value: &str) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // Fold over all entries so the time does not tell which one matched.
        sessions
            .iter()
            .fold(false, |found, s| found | secret_eq(value, s))
    }

    pub(super) fn logout(&self, value: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|s| !secret_eq(value, s));
    }

    /// Whether the request carries valid credentials: bearer header, session cookie, or
    /// (WebSocket paths only, for coop compatibility) `?token=`.
    pub fn authorized(&self, headers: &HeaderMap, path: &str, query: Option<&str>) -> bool {
        if let Some(bearer) = bearer(headers) {
            if self.token_matches(bearer) {
                return true;
            }
        }
        if let Some(cookie) = session_cookie(headers) {
            if self.login_valid(cookie) {
                return true;
            }
        }
        if path.starts_with("/ws/") {
            if let Some(token) = query_token(query) {
                return self.token_matches(&token);
            }
        }
        false
    }

    /// WebSocket upgrades from a browser must come from the mux's own origin or an allowed
    /// one; clients that send no `Origin` (coop, scripts) are not browsers and pass.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        if self.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(super) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded_pairs(query?)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query.split('&').map(move |pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Paths anyone may reach.
fn is_public(method: &Method, path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.starts_with("/vendor/")
        || matches!(
            path,
            "/favicon.ico" | "/mux/login" | "/api/v1/auth/login" | "/api/v1/auth/logout"
        )
        || (path == "/api/v1/health" && (method == Method::GET || method == Method::HEAD))
}

/// The middleware: origin check on WebSockets, then credentials when a token is set.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let auth = &state.hub.auth;
    let path = req.uri().path();
    if path.starts_with("/ws/") && !auth.origin_allowed(req.headers()) {
        return ApiError::Forbidden("origin not allowed".to_owned()).into_response();
    }
    if !auth.enabled()
        || is_public(req.method(), path)
        || auth.authorized(req.headers(), path, req.uri().query())
    {
        return next.run(req).await;
    }
    let page =
        req.method() == Method::GET && (path == "/" || path == "/mux" || path.starts_with("/mux/"));
    if page {
        return Redirect::to("/mux/login").into_response();
    }
    ApiError::Unauthorized.into_response()
}

/// The CORS layer for `--allowed-origin`; `None` (no CORS headers at all) when none is set.
pub fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let values = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| format!("invalid --allowed-origin {o:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abd", "abc"));
        assert!(!secret_eq("ab", "abc"));
        assert!(!secret_eq("abcd", "abc"));
        assert!(!secret_eq("", "abc"));
    }

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(query_token(Some("a=1&token=x%2By")), Some("x+y".to_owned()));
        assert_eq!(query_token(Some("token=a+b")), Some("a b".to_owned()));
        assert_eq!(query_token(Some("subscribe=pty")), None);
    }

    #[test]
    fn cookies_and_bearer_are_found() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=b; coopmux_session=xyz"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert_eq!(session_cookie(&headers), Some("xyz"));
        assert_eq!(bearer(&headers), Some("tok"));
    }

    #[test]
    fn websocket_origins() {
        let auth = Auth::new(None, vec!["https://ok.example".to_owned()]);
        let mut headers = HeaderMap::new();
        assert!(auth.origin_allowed(&headers));
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:9800"));
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:9800"));
        assert!(auth.origin_allowed(&headers));
        headers.insert(ORIGIN, HeaderValue::from_static("https://ok.example"));
        assert!(auth.origin_allowed(&headers));
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!auth.origin_allowed(&headers));
    }
}
