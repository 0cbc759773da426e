//! Credential broker shapes: `/api/v1/credentials/*` requests and replies.
//!
//! Requests that carry a secret print `[redacted]` in their `Debug` output, so a logged request
//! never leaks a key. Responses never carry a secret.

use serde::{Deserialize, Serialize};

/// Where an account stands (snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    /// Has a usable key.
    Healthy,
    /// Never had a key.
    Missing,
    /// An OAuth refresh is in flight.
    Refreshing,
    /// The key expired or a refresh failed; reauth is needed.
    Expired,
}

impl CredentialStatus {
    /// The wire name, e.g. `"healthy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Missing => "missing",
            Self::Refreshing => "refreshing",
            Self::Expired => "expired",
        }
    }
}

/// One element of `GET /api/v1/credentials/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountStatus {
    /// Account name.
    pub name: String,
    /// Provider, e.g. `claude`.
    pub provider: String,
    /// Current status.
    pub status: CredentialStatus,
    /// Whether a key is stored.
    pub has_api_key: bool,
    /// Seconds until the key expires; left out for keys that do not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// Whether a refresh token is stored.
    #[serde(default)]
    pub has_refresh_token: bool,
    /// Whether the account may be reauthorised through OAuth.
    #[serde(default)]
    pub reauth: bool,
}

/// A string that is a secret: serialised as itself, `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct SecretString(pub String);

impl SecretString {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Body of `POST /api/v1/credentials/new`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAccountRequest {
    /// Unique, non-empty account name.
    pub name: String,
    /// Provider (`claude`, `anthropic`, `openai`, `gemini`, `google`, or anything else).
    pub provider: String,
    /// Variable the key is handed out as; defaults by provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_key: Option<String>,
    /// OAuth token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// OAuth client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth authorization endpoint (PKCE flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    /// OAuth device authorization endpoint (device flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_auth_url: Option<String>,
    /// The key, if known now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretString>,
    /// OAuth refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Lifetime of `token`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Whether OAuth reauth is allowed (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth: Option<bool>,
}

/// Answer of `POST /api/v1/credentials/new`: `{"added":true,"account"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountAdded {
    /// Always true.
    pub added: bool,
    /// The new account's name.
    pub account: String,
}

/// Body of `POST /api/v1/credentials/set` (and its alias `seed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetTokenRequest {
    /// Account name.
    pub account: String,
    /// The key.
    pub token: SecretString,
    /// OAuth refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Lifetime of `token`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// `{"ok":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ok {
    /// Always true.
    pub ok: bool,
}

/// Body of `POST /api/v1/credentials/reauth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReauthRequest {
    /// Account; the first configured one when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Answer of `POST /api/v1/credentials/reauth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReauthResponse {
    /// Account being reauthorised.
    pub account: String,
    /// Where the user authorises: the verification URI (device flow) or the authorization URL.
    pub auth_url: String,
    /// Code to type at `auth_url` (device flow), else null.
    pub user_code: Option<String>,
    /// State to hand back with the pasted code (PKCE flow), else null.
    pub state: Option<String>,
}

/// Body of `POST /api/v1/credentials/exchange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeRequest {
    /// The `state` from the reauth answer.
    pub state: String,
    /// The authorization code the user pasted.
    pub code: SecretString,
}

/// `{"completed":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeResponse {
    /// Always true.
    pub completed: bool,
}

/// Body of `POST /api/v1/credentials/distribute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DistributeRequest {
    /// Account to push.
    pub account: String,
    /// Whether sessions assigned to it should switch to it too.
    #[serde(default)]
    pub switch: bool,
}

/// Answer of `POST /api/v1/credentials/distribute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DistributeResponse {
    /// Always true once distribution finished.
    pub distributed: bool,
    /// The account pushed.
    pub account: String,
}

/// One account in `GET /api/v1/credentials/pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolAccount {
    /// Account name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Current status.
    pub status: CredentialStatus,
    /// Registered sessions assigned to it.
    pub session_count: usize,
    /// Whether a key is stored.
    pub has_api_key: bool,
    /// Seconds until the key expires; left out for keys that do not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// Whether a refresh token is stored.
    #[serde(default)]
    pub has_refresh_token: bool,
}

/// `GET /api/v1/credentials/pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolResponse {
    /// Every account with its load.
    pub accounts: Vec<PoolAccount>,
    /// Sessions assigned to some account.
    pub total_sessions: usize,
    /// Accounts whose status is healthy.
    pub healthy_accounts: usize,
    /// All accounts.
    pub total_accounts: usize,
}

/// Body of `POST /api/v1/credentials/pool/rebalance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RebalanceRequest {
    /// Move only sessions assigned to this account; all sessions when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_account: Option<String>,
}

/// Answer of `POST /api/v1/credentials/pool/rebalance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RebalanceResponse {
    /// Sessions moved to another account.
    pub rebalanced: usize,
    /// Sessions whose switch failed (their assignment stays).
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_but_serialised_plainly() {
        let req = SetTokenRequest {
            account: "a".into(),
            token: "sk-live-123".into(),
            refresh_token: Some("rt-456".into()),
            expires_in: None,
        };
        let debug = format!("{req:?}");
        assert!(
            !debug.contains("sk-live-123") && !debug.contains("rt-456"),
            "{debug}"
        );
        assert!(debug.contains("[redacted]"));
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains("\"token\":\"sk-live-123\""), "{json}");
    }

    #[test]
    fn status_round_trips_in_snake_case() {
        let s: AccountStatus = serde_json::from_str(
            r#"{"name":"a","provider":"claude","status":"refreshing","has_api_key":true}"#,
        )
        .unwrap();
        assert_eq!(s.status, CredentialStatus::Refreshing);
        assert_eq!(s.expires_in_secs, None);
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["status"], "refreshing");
        assert!(back.get("expires_in_secs").is_none());
    }
}
