//! Authentication (docs/security.md): the `--auth-token` bearer, the dashboard's login
//! credential, the login page, WebSocket origin checks and CORS.
//!
//! The token protects every route except `GET /api/v1/health`, static assets, the dashboard's
//! page shell (which carries no fleet data with a token) and the login endpoints. Browsers log
//! in once and get a random login credential that the page keeps in its origin's storage and
//! sends itself, so the token never sits in a URL and nothing the browser sends on its own
//! (cookies reach every port of the host) authenticates.

pub mod login;

use crate::edge::headers::{bearer, login_credential, query_token};
pub use crate::edge::headers::{LOGIN_HEADER, LOGIN_PROTOCOL_PREFIX, WS_PROTOCOL};

use crate::edge::error::ApiError;
use crate::edge::guard::Guard;
use crate::hub::registry::RegistrationTokens;
use axum::{
    extract::{Request, State},
    http::{
        header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN},
        HeaderMap, HeaderValue, Method,
    },
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Login sessions kept at once (count); the oldest is forgotten beyond that, which only
/// means that browser has to log in again.
const MAX_LOGIN_SESSIONS: usize = 256;

/// The configured token and the live login sessions. No `Debug` derive: it holds secrets.
pub struct Auth {
    token: Option<String>,
    sessions: Mutex<VecDeque<String>>,
    guard: Guard,
    registrations: Arc<RegistrationTokens>,
}

/// Who made a request, as the audit log names it: `bearer`, `login:<digest>`,
/// `launch:<session>` or `anonymous` (docs/security.md, "Audit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

/// A request authenticated by a per-launch registration token (not the hub's): its handler
/// must check that the token covers the session id it names.
#[derive(Debug, Clone)]
pub struct RegistrationScope(pub String);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.enabled())
            .field("guard", &self.guard)
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
    /// Auth with this token (`None` = open hub), the listener's [`Guard`] and the per-launch
    /// registration tokens the launcher hands out.
    pub fn new(
        token: Option<String>,
        guard: Guard,
        registrations: Arc<RegistrationTokens>,
    ) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()),
            sessions: Mutex::new(VecDeque::new()),
            guard,
            registrations,
        }
    }

    /// A registration token allowed on this route (register, or deregister one session).
    fn registration_scope(&self, req: &Request) -> Option<RegistrationScope> {
        let path = req.uri().path();
        let register = req.method() == Method::POST && path == "/api/v1/sessions";
        let deregister = req.method() == Method::DELETE
            && path
                .strip_prefix("/api/v1/sessions/")
                .is_some_and(|id| !id.contains('/'));
        let token = bearer(req.headers()).filter(|_| register || deregister)?;
        self.registrations
            .is_known(&token)
            .then_some(RegistrationScope(token))
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

    /// Whether the request carries valid credentials: bearer header, the dashboard's login
    /// credential (only from the hub's own origin, or without an `Origin`), or (WebSocket
    /// paths only, for coop compatibility) `?token=`.
    pub fn authorized(&self, headers: &HeaderMap, path: &str, query: Option<&str>) -> bool {
        self.principal(headers, path, query).is_some()
    }

    /// Who the credentials of a request name, when they are valid.
    fn principal(&self, headers: &HeaderMap, path: &str, query: Option<&str>) -> Option<Principal> {
        if let Some(bearer) = bearer(headers) {
            if self.token_matches(&bearer) {
                return Some(Principal("bearer".to_owned()));
            }
        }
        if let Some(login) = login_credential(headers) {
            // An allowed origin brings the token itself; the login is the hub's own page's.
            let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
            let host = headers.get(HOST).and_then(|v| v.to_str().ok());
            if origin.is_none_or(|o| crate::edge::guard::same_origin(o, host))
                && self.login_valid(&login)
            {
                // Names the login without anything that could authenticate.
                let digest = crate::hub::registry::tokens::token_hash(&login);
                return Some(Principal(format!("login:{}", &digest[..12])));
            }
        }
        if path.starts_with("/ws/") {
            if let Some(token) = query_token(query) {
                return self
                    .token_matches(&token)
                    .then(|| Principal("bearer".to_owned()));
            }
        }
        None
    }
}

/// Paths anyone may reach. The page shell (`/mux`) is among them: a navigation cannot carry
/// the login credential, and with a token the page is rendered without fleet data (its
/// script sends a visitor without a stored login to `/mux/login`).
fn is_public(method: &Method, path: &str) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    path.starts_with("/pkg/")
        || path.starts_with("/vendor/")
        // The symbols font: a stylesheet's font fetch carries no login header.
        || path.starts_with("/fonts/")
        || matches!(
            path,
            "/favicon.ico" | "/mux/login" | "/api/v1/auth/login" | "/api/v1/auth/logout"
        )
        || (read && matches!(path, "/api/v1/health" | "/" | "/mux"))
}

/// The middleware: the [`Guard`] (Host, same-origin), then credentials when a token is set.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let mut req = req;
    let path = req.uri().path().to_owned();
    if let Err(refusal) = auth.guard.check(req.method(), &path, req.headers()) {
        tracing::warn!(path, "request refused: {refusal}");
        return ApiError::Forbidden(refusal.to_string()).into_response();
    }
    if !auth.enabled() {
        req.extensions_mut()
            .insert(Principal("anonymous".to_owned()));
        return next.run(req).await;
    }
    if is_public(req.method(), &path) {
        return next.run(req).await;
    }
    if let Some(principal) = auth.principal(req.headers(), &path, req.uri().query()) {
        req.extensions_mut().insert(principal);
        return next.run(req).await;
    }
    if let Some(scope) = auth.registration_scope(&req) {
        let session = path.rsplit('/').next().unwrap_or("").to_owned();
        req.extensions_mut()
            .insert(Principal(format!("launch:{session}")));
        req.extensions_mut().insert(scope);
        return next.run(req).await;
    }
    if req.method() == Method::GET && path.starts_with("/mux/") {
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
}
