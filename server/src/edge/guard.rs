//! What a listener accepts before routing, shared by the hub and the session host
//! (docs/security.md, "Web pages"):
//!
//! - **Host allow-list** against DNS rebinding: without a token (the default) only `localhost`,
//!   addresses (a page served from an address has it as its origin: no rebinding) and
//!   `--allowed-host` names; with a token any `Host` unless `--allowed-host` is given (a
//!   rebinding page holds neither the token nor the cookie).
//! - **Same-origin check** for every state-changing request and every WebSocket upgrade: a
//!   request with a bearer token is an API client and passes; a browser's request must come
//!   from our own origin (or an `--allowed-origin`), must not be `Sec-Fetch-Site: cross-site`,
//!   and a POST must carry `application/json`, a type no page can send cross-site without a
//!   CORS preflight (which we never grant unless the origin is allowed).

use crate::edge::headers::bearer;
use crate::edge::headers::is_json;
use axum::http::header::{COOKIE, HOST, ORIGIN, UPGRADE};
use axum::http::{HeaderMap, Method};
use std::net::IpAddr;

/// Browsers' fetch-metadata header (every current engine sends it).
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Paths whose POST bodies must be JSON even from non-browser clients: the dashboard's server
/// functions (their codec would otherwise read any body type).
const JSON_ONLY_PREFIXES: [&str; 1] = ["/api/fn/"];

/// Paths a browser may POST without a JSON body: the login form (it needs the token, so a
/// cross-site post can do nothing with it) and logout (ending a login gives nobody anything).
/// The origin is still checked.
const FORM_PATHS: [&str; 2] = ["/mux/login", "/api/v1/auth/logout"];

/// Why a request was refused (answered as a JSON 403 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `Host` names a host this listener does not serve (DNS rebinding defence).
    #[error("host {0:?} is not allowed; add it with --allowed-host")]
    Host(String),
    /// A browser request from another origin.
    #[error("cross-origin request from {0:?} refused; add the origin with --allowed-origin")]
    Origin(String),
    /// A browser request its fetch metadata marks as cross-site.
    #[error("cross-site request refused")]
    CrossSite,
    /// A state-changing browser request whose body type needs no CORS preflight.
    #[error("this request must be sent with `Content-Type: application/json`")]
    NotJson,
}

/// The checks of one listener.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Hosts accepted in `Host` (lower case, no port); `None` accepts any.
    allowed_hosts: Option<Vec<String>>,
    /// Origins accepted besides our own, exactly as browsers send them.
    allowed_origins: Vec<String>,
}

impl Guard {
    /// The guard of a listener. `token_set`: the listener requires a token.
    pub fn new(token_set: bool, extra_hosts: &[String], allowed_origins: &[String]) -> Self {
        let allowed_hosts = if token_set && extra_hosts.is_empty() {
            None
        } else {
            let extra = extra_hosts
                .iter()
                .map(|h| strip_port(h).to_ascii_lowercase());
            Some(
                std::iter::once("localhost".to_owned())
                    .chain(extra)
                    .collect(),
            )
        };
        Self {
            allowed_hosts,
            allowed_origins: allowed_origins.to_vec(),
        }
    }

    /// Checks one request's method, path and headers.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok());
        if let (Some(allowed), Some(host)) = (&self.allowed_hosts, host) {
            let name = strip_port(host).to_ascii_lowercase();
            // An address is no rebinding: a page served from it has that address as its
            // origin, so the same-origin rules below apply to it as to any other.
            if !allowed.contains(&name) && !is_ip_literal(&name) {
                return Err(Refusal::Host(host.to_owned()));
            }
        }
        // WebSocket paths are checked whether or not this request asks to upgrade.
        let upgrade = headers.contains_key(UPGRADE) || path == "/ws" || path.starts_with("/ws/");
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        // Whoever calls, bearer clients included.
        let json_only = JSON_ONLY_PREFIXES.iter().any(|p| path.starts_with(p));
        if json_only && *method == Method::POST && !is_json(headers) {
            return Err(Refusal::NotJson);
        }
        if !(upgrade || changes_state) || bearer(headers).is_some() {
            return Ok(());
        }
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        let site = headers.get(SEC_FETCH_SITE).and_then(|v| v.to_str().ok());
        let browser = origin.is_some() || site.is_some() || headers.contains_key(COOKIE);
        if !browser {
            return Ok(());
        }
        let allowed_origin = origin.is_some_and(|o| self.allowed_origins.iter().any(|a| a == o));
        if let Some(origin) = origin {
            if !allowed_origin && !same_origin(origin, host) {
                return Err(Refusal::Origin(origin.to_owned()));
            }
        }
        if site == Some("cross-site") && !allowed_origin {
            return Err(Refusal::CrossSite);
        }
        let form_ok = FORM_PATHS.contains(&path);
        if *method == Method::POST && !upgrade && !form_ok && !is_json(headers) {
            return Err(Refusal::NotJson);
        }
        Ok(())
    }
}

/// An origin `scheme://host[:port]` names the host the request was sent to.
pub(crate) fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// `host:port` → `host`, `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// `127.0.0.1`, `[::1]`: a host given as an address, not a name.
fn is_ip_literal(name: &str) -> bool {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::CONTENT_TYPE;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn open_guard() -> Guard {
        Guard::new(false, &[], &[])
    }

    #[test]
    fn host_names_without_a_token() {
        let g = open_guard();
        for ok in [
            "127.0.0.1:9800",
            "localhost:1",
            "LOCALHOST",
            "[::1]:9800",
            "10.1.2.3:80",
        ] {
            let h = headers(&[("host", ok)]);
            assert_eq!(
                g.check(&Method::GET, "/api/v1/sessions", &h),
                Ok(()),
                "{ok}"
            );
        }
        let h = headers(&[("host", "evil.example:9800")]);
        assert!(matches!(
            g.check(&Method::GET, "/api/v1/sessions", &h),
            Err(Refusal::Host(_))
        ));
        let extra = Guard::new(false, &["mux.internal:9800".into()], &[]);
        let h = headers(&[("host", "mux.internal")]);
        assert_eq!(extra.check(&Method::GET, "/", &h), Ok(()));
    }

    #[test]
    fn any_host_with_a_token_unless_listed() {
        let g = Guard::new(true, &[], &[]);
        let h = headers(&[("host", "mux.example.com")]);
        assert_eq!(g.check(&Method::GET, "/", &h), Ok(()));
        let g = Guard::new(true, &["a.example".into()], &[]);
        assert!(g.check(&Method::GET, "/", &h).is_err());
    }

    #[test]
    fn cross_site_browser_posts_are_refused() {
        let g = open_guard();
        let host = ("host", "127.0.0.1:9800");
        let evil = headers(&[
            host,
            ("origin", "https://evil.example"),
            (CONTENT_TYPE.as_str(), "application/json"),
        ]);
        assert!(matches!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &evil),
            Err(Refusal::Origin(_))
        ));
        let text = headers(&[
            host,
            ("origin", "http://127.0.0.1:9800"),
            (CONTENT_TYPE.as_str(), "text/plain"),
        ]);
        assert_eq!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &text),
            Err(Refusal::NotJson)
        );
        let site = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &site),
            Err(Refusal::CrossSite)
        );
        let same = headers(&[
            host,
            ("origin", "http://127.0.0.1:9800"),
            ("sec-fetch-site", "same-origin"),
            (CONTENT_TYPE.as_str(), "application/json"),
        ]);
        assert_eq!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &same),
            Ok(())
        );
    }

    #[test]
    fn scripts_and_bearer_clients_pass() {
        let g = open_guard();
        let script = headers(&[("host", "127.0.0.1:9800")]);
        assert_eq!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &script),
            Ok(())
        );
        let bearer = headers(&[
            ("host", "127.0.0.1:9800"),
            ("authorization", "Bearer t"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(
            g.check(&Method::POST, "/api/v1/sessions/launch", &bearer),
            Ok(())
        );
        // Server functions take JSON only, whoever calls.
        assert_eq!(
            g.check(&Method::POST, "/api/fn/launch", &script),
            Err(Refusal::NotJson)
        );
        assert_eq!(
            g.check(&Method::POST, "/api/fn/launch", &bearer),
            Err(Refusal::NotJson)
        );
    }

    #[test]
    fn websocket_upgrades_check_the_origin() {
        let g = Guard::new(false, &[], &["https://ok.example".into()]);
        let host = ("host", "127.0.0.1:9800");
        let evil = headers(&[
            host,
            ("upgrade", "websocket"),
            ("origin", "http://localhost:9800"),
        ]);
        assert!(g.check(&Method::GET, "/ws/mux", &evil).is_err());
        let ok = headers(&[
            host,
            ("upgrade", "websocket"),
            ("origin", "https://ok.example"),
        ]);
        assert_eq!(g.check(&Method::GET, "/ws/mux", &ok), Ok(()));
        let coop = headers(&[host, ("upgrade", "websocket")]);
        assert_eq!(g.check(&Method::GET, "/ws/mux", &coop), Ok(()));
    }
}
