//! Credentials carried by a request: the bearer header, the dashboard's session cookie and the
//! `?token=` query of coop-style WebSocket clients. Parsed with `headers`, `cookie` and
//! `form_urlencoded`, never by hand; shared by the mux and the session host.

use axum::http::{HeaderMap, HeaderValue};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use axum_extra::headers::{authorization::Bearer, Authorization, HeaderMapExt};

/// Name of the dashboard's session cookie.
pub const COOKIE_NAME: &str = "coopmux_session";

/// The token of an `Authorization: Bearer …` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.typed_get::<Authorization<Bearer>>()?;
    Some(auth.token().trim().to_owned())
}

/// The value of the dashboard's session cookie, if the request carries it.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(COOKIE_NAME)
        .map(|c| c.value().to_owned())
}

/// The `token` parameter of a query string, percent-decoded.
pub fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// `Set-Cookie` for a login session: HttpOnly (no script reads it), SameSite=Strict (no other
/// site's page sends it), for the whole hub.
pub fn login_cookie(value: &str) -> HeaderValue {
    let cookie = Cookie::build((COOKIE_NAME, value.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    header_value(&cookie)
}

/// `Set-Cookie` that makes the browser forget its login session.
pub fn logout_cookie() -> HeaderValue {
    let mut cookie = Cookie::build((COOKIE_NAME, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    cookie.make_removal();
    header_value(&cookie)
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Our values are hex and fixed names, always valid header text.
    HeaderValue::from_str(&cookie.encoded().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::{AUTHORIZATION, COOKIE};

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
        assert_eq!(session_cookie(&headers).as_deref(), Some("xyz"));
        assert_eq!(bearer(&headers).as_deref(), Some("tok"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dG9rOng="));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn login_and_logout_cookies() {
        let login = login_cookie("abc");
        let text = login.to_str().unwrap();
        assert!(text.starts_with("coopmux_session=abc"), "{text}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(text.contains(attr), "{text} lacks {attr}");
        }
        let logout = logout_cookie();
        assert!(logout.to_str().unwrap().contains("Max-Age=0"));
    }
}
