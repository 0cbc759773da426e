//! The token endpoint's grants: refresh (RFC 6749 §6), device code (RFC 8628) and
//! authorisation code with PKCE S256 (RFC 7636). Every grant is a form POST, as
//! RFC 6749 §4.1.3/§6 require. Error messages carry the endpoint's `error` code and
//! description only, never a token.

use super::config::Endpoints;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use protocol::credentials::SecretString;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

/// Timeout of one call to an OAuth endpoint.
const OAUTH_TIMEOUT_SECS: u64 = 30;
/// Device flow: the default polling interval when the endpoint gives none (RFC 8628 §3.2).
const DEFAULT_DEVICE_INTERVAL_SECS: u64 = 5;

/// Why a grant failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// No endpoint configured for this grant.
    #[error("no {0} configured")]
    NotConfigured(&'static str),
    /// The endpoint could not be reached or did not answer in time.
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    /// The endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[error("{code} (HTTP {status}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Grant {
        /// HTTP status.
        status: u16,
        /// The `error` code, e.g. `invalid_grant`.
        code: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The endpoint answered something that is not a token response.
    #[error("invalid answer from the token endpoint (HTTP {0})")]
    Invalid(u16),
}

impl OAuthError {
    /// The OAuth error code, if the endpoint sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Grant { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the refresh token itself was refused: retrying cannot help.
    pub fn is_invalid_grant(&self) -> bool {
        self.code() == Some("invalid_grant")
    }

    /// Whether a retry may succeed (network trouble, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Grant { status, .. } | Self::Invalid(status) => *status >= 500 || *status == 429,
            Self::NotConfigured(_) => false,
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The new key.
    pub access_token: SecretString,
    /// A rotated refresh token, if the endpoint sent one.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the key in seconds.
    pub expires_in: Option<u64>,
}

/// The device authorisation response (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    /// Code the poller sends back.
    pub device_code: SecretString,
    /// Code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// Lifetime of the codes in seconds.
    pub expires_in: u64,
    /// Polling interval in seconds.
    pub interval: u64,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: SecretString,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct DeviceBody {
    device_code: SecretString,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
}

/// The OAuth HTTP client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
}

impl OAuthClient {
    /// Builds the client.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(OAUTH_TIMEOUT_SECS))
            .user_agent(concat!("coopmux/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, bytes::Bytes), OAuthError> {
        let reply = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
        let status = reply.status().as_u16();
        let body = reply
            .bytes()
            .await
            .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
        Ok((status, body))
    }

    async fn token_request(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, OAuthError> {
        let (status, body) = self.post_form(url, form).await?;
        if (200..300).contains(&status) {
            let token: TokenBody =
                serde_json::from_slice(&body).map_err(|_| OAuthError::Invalid(status))?;
            return Ok(TokenGrant {
                access_token: token.access_token,
                refresh_token: token.refresh_token.filter(|t| !t.expose().is_empty()),
                expires_in: token.expires_in,
            });
        }
        Err(grant_error(status, &body))
    }

    /// The refresh grant.
    pub async fn refresh(
        &self,
        endpoints: &Endpoints,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, OAuthError> {
        self.token_request(
            token_url(endpoints)?,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &endpoints.client_id),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// Starts a device authorisation.
    pub async fn device_start(&self, endpoints: &Endpoints) -> Result<DeviceAuth, OAuthError> {
        let url = endpoints
            .device_auth_url
            .as_deref()
            .ok_or(OAuthError::NotConfigured("device_auth_url"))?;
        let (status, body) = self
            .post_form(
                url,
                &[
                    ("client_id", &endpoints.client_id),
                    ("scope", &endpoints.scope),
                ],
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(grant_error(status, &body));
        }
        let device: DeviceBody =
            serde_json::from_slice(&body).map_err(|_| OAuthError::Invalid(status))?;
        Ok(DeviceAuth {
            device_code: device.device_code,
            user_code: device.user_code,
            verification_uri: device.verification_uri,
            expires_in: device.expires_in.unwrap_or(super::PENDING_FLOW_TTL_SECS),
            interval: device.interval.unwrap_or(DEFAULT_DEVICE_INTERVAL_SECS),
        })
    }

    /// One poll of the device grant; `authorization_pending` and `slow_down` come back as
    /// [`OAuthError::Grant`] with that code.
    pub async fn device_poll(
        &self,
        endpoints: &Endpoints,
        device_code: &SecretString,
    ) -> Result<TokenGrant, OAuthError> {
        self.token_request(
            token_url(endpoints)?,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &endpoints.client_id),
                ("device_code", device_code.expose()),
            ],
        )
        .await
    }

    /// The authorisation code grant with the PKCE verifier.
    pub async fn exchange(
        &self,
        endpoints: &Endpoints,
        code: &SecretString,
        verifier: &SecretString,
        state: &str,
    ) -> Result<TokenGrant, OAuthError> {
        let url = token_url(endpoints)?;
        self.token_request(
            url,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", &endpoints.redirect_uri),
                ("client_id", &endpoints.client_id),
                ("code_verifier", verifier.expose()),
                ("state", state),
            ],
        )
        .await
    }
}

fn grant_error(status: u16, body: &[u8]) -> OAuthError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => OAuthError::Grant {
            status,
            // Codes are short ASCII words; anything else is not echoed.
            code: if e.error.len() <= 64 && e.error.chars().all(|c| c.is_ascii_graphic()) {
                e.error
            } else {
                "invalid_response".into()
            },
            description: e.error_description.map(|d| d.chars().take(200).collect()),
        },
        Err(_) => OAuthError::Invalid(status),
    }
}

pub use crate::edge::secret::random_token;

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorisation URL of a PKCE flow, parameters in coop's order (docs/coop-protocol.md).
pub fn authorize_url(
    endpoints: &Endpoints,
    challenge: &str,
    state: &str,
) -> Result<String, OAuthError> {
    let base = endpoints
        .auth_url
        .as_deref()
        .ok_or(OAuthError::NotConfigured("auth_url"))?;
    let mut url = reqwest::Url::parse(base).map_err(|_| OAuthError::NotConfigured("auth_url"))?;
    url.query_pairs_mut()
        .append_pair("code", "true")
        .append_pair("client_id", &endpoints.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &endpoints.redirect_uri)
        .append_pair("scope", &endpoints.scope)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state);
    Ok(url.into())
}

/// The token endpoint, which every grant needs.
fn token_url(endpoints: &Endpoints) -> Result<&str, OAuthError> {
    endpoints
        .token_url
        .as_deref()
        .ok_or(OAuthError::NotConfigured("token_url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn authorize_url_has_the_parameters_in_order() {
        let endpoints = Endpoints {
            token_url: None,
            client_id: "cid".into(),
            auth_url: Some("https://auth.example/authorize".into()),
            device_auth_url: None,
            redirect_uri: "https://cb.example/cb".into(),
            scope: "a:b c".into(),
        };
        let url = authorize_url(&endpoints, "ch", "st").unwrap();
        assert_eq!(
            url,
            "https://auth.example/authorize?code=true&client_id=cid&response_type=code&redirect_uri=https%3A%2F%2Fcb.example%2Fcb&scope=a%3Ab+c&code_challenge=ch&code_challenge_method=S256&state=st"
        );
    }

    #[test]
    fn errors_name_the_code_and_classify() {
        let e = grant_error(
            400,
            br#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        assert!(e.is_invalid_grant() && !e.is_transient());
        assert_eq!(e.to_string(), "invalid_grant (HTTP 400): used");
        assert!(grant_error(503, b"oops").is_transient());
    }
}
