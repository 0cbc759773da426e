//! Credentials carried by a request: the bearer header, the dashboard's login credential and
//! the `?token=` query of coop-style WebSocket clients. Parsed with `headers` and
//! `form_urlencoded`, never by hand; shared by the mux and the session host.
//!
//! The dashboard's login is never a cookie: a cookie for `127.0.0.1` reaches every port of that
//! host, so a development server the operator opens would receive it. The page keeps the
//! login in its origin's `localStorage` and sends it itself: as [`LOGIN_HEADER`] on fetches and
//! server functions, and as a [`LOGIN_PROTOCOL_PREFIX`] value of `Sec-WebSocket-Protocol` on
//! WebSockets (which carry no custom headers), beside [`WS_PROTOCOL`] (docs/security.md, "The
//! dashboard's login").

use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::http::HeaderMap;
use axum_extra::headers::{authorization::Bearer, Authorization, ContentType, HeaderMapExt};

/// Header carrying the dashboard's login credential on fetches and server functions.
pub const LOGIN_HEADER: &str = "x-coopmux-login";
/// `Sec-WebSocket-Protocol` value prefix carrying the login credential on the dashboard's
/// WebSockets.
pub const LOGIN_PROTOCOL_PREFIX: &str = "coopmux.login.";
/// The subprotocol the hub selects when a client offers it (a browser that offers
/// subprotocols refuses a handshake that selects none).
pub const WS_PROTOCOL: &str = "coopmux";

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(mime) = headers.typed_get::<ContentType>().map(mime::Mime::from) else {
        return false;
    };
    mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// The token of an `Authorization: Bearer …` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.typed_get::<Authorization<Bearer>>()?;
    Some(auth.token().trim().to_owned())
}

/// The dashboard's login credential: the [`LOGIN_HEADER`], or a `Sec-WebSocket-Protocol`
/// value starting with [`LOGIN_PROTOCOL_PREFIX`].
pub fn login_credential(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(LOGIN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_owned());
    }
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(LOGIN_PROTOCOL_PREFIX))
        .map(str::to_owned)
}

/// The `token` parameter of a query string, percent-decoded.
pub fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
    use axum::http::HeaderValue;

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(query_token(Some("a=1&token=x%2By")), Some("x+y".to_owned()));
        assert_eq!(query_token(Some("token=a+b")), Some("a b".to_owned()));
        assert_eq!(query_token(Some("subscribe=pty")), None);
    }

    #[test]
    fn bearer_and_login_credentials_are_found() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert_eq!(bearer(&headers).as_deref(), Some("tok"));
        assert_eq!(login_credential(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dG9rOng="));
        assert_eq!(bearer(&headers), None);
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("coopmux, coopmux.login.abc"),
        );
        assert_eq!(login_credential(&headers).as_deref(), Some("abc"));
        headers.insert(LOGIN_HEADER, HeaderValue::from_static("def"));
        assert_eq!(login_credential(&headers).as_deref(), Some("def"));
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, expected) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), expected, "{value}");
        }
    }
}
