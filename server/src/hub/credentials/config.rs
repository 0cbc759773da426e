//! The accounts file of `--credential-config` (`{"accounts":[{"name","provider",…}]}`),
//! provider defaults (`env_key` and Claude's OAuth endpoints) and the validation of account
//! definitions.

use super::CredentialError;
use crate::hub::launch::env::check_credential_key;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Longest provider name, in bytes; beyond it a name is junk, not a provider.
pub const MAX_PROVIDER_BYTES: usize = 64;

/// Claude's device authorisation endpoint (RFC 8628).
const CLAUDE_DEVICE_AUTH_URL: &str = "https://console.anthropic.com/v1/oauth/device/code";
/// Claude's token endpoint (refresh, device and PKCE grants).
const CLAUDE_TOKEN_URL: &str = "https://platform.claude.com/v1/oauth/token";
/// Claude's PKCE authorisation endpoint.
const CLAUDE_AUTH_URL: &str = "https://claude.ai/oauth/authorize";
/// Claude Code's public OAuth client id.
const CLAUDE_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// Where Claude's PKCE flow sends the user with the code to paste.
pub const CLAUDE_REDIRECT_URI: &str = "https://platform.claude.com/oauth/code/callback";
/// Scopes asked for in Claude's reauth flows.
pub const CLAUDE_SCOPES: &str =
    "user:profile user:inference user:sessions:claude_code user:mcp_servers";

/// One account as the config file, `POST /credentials/new` and the state file describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConfig {
    /// Unique, non-empty name.
    pub name: String,
    /// Provider, stored trimmed and in lower case. Any name is accepted (as coop does):
    /// `claude`/`anthropic`, `openai` and `gemini`/`google` have defaults of their own
    /// ([`AccountConfig::env_key`], [`AccountConfig::endpoints`]); every other name behaves
    /// like `other`.
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
    /// OAuth authorisation endpoint (PKCE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    /// OAuth device authorisation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_auth_url: Option<String>,
    /// Whether OAuth refresh and reauth are allowed.
    #[serde(default = "yes")]
    pub reauth: bool,
}

fn yes() -> bool {
    true
}

/// The accounts file.
#[derive(Debug, Deserialize)]
struct ConfigFile {
    accounts: Vec<AccountConfig>,
}

/// The OAuth endpoints an account uses, after provider defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Token endpoint.
    pub token_url: Option<String>,
    /// Client id (empty when none is known).
    pub client_id: String,
    /// PKCE authorisation endpoint.
    pub auth_url: Option<String>,
    /// Device authorisation endpoint.
    pub device_auth_url: Option<String>,
    /// Redirect URI of the PKCE flow.
    pub redirect_uri: String,
    /// Scopes of the reauth flows.
    pub scope: String,
}

impl AccountConfig {
    /// Checks the name, provider and `env_key`, and stores the provider in lower case.
    /// A definition that passes is usable as it is.
    pub fn validated(mut self) -> Result<Self, CredentialError> {
        if self.name.trim().is_empty() {
            return Err(CredentialError::Invalid(
                "account name must not be empty".into(),
            ));
        }
        if self.name.chars().any(char::is_control) || self.name.len() > 128 {
            return Err(CredentialError::Invalid(format!(
                "account name {:?} is invalid: at most 128 characters, no control characters",
                self.name
            )));
        }
        self.provider = checked_provider(&self.provider).map_err(|problem| {
            CredentialError::Invalid(format!(
                "invalid provider {:?} for account {}: {problem}",
                self.provider, self.name
            ))
        })?;
        if let Some(key) = &self.env_key {
            check_credential_key(key).map_err(|e| {
                CredentialError::Invalid(format!("invalid env_key for account {}: {e}", self.name))
            })?;
        }
        for url in [&self.token_url, &self.auth_url, &self.device_auth_url]
            .into_iter()
            .flatten()
        {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(CredentialError::Invalid(format!(
                    "invalid OAuth URL {url:?} for account {}: expected an http(s) URL",
                    self.name
                )));
            }
        }
        Ok(self)
    }

    /// The variable the key is handed out as.
    pub fn env_key(&self) -> String {
        if let Some(key) = &self.env_key {
            return key.clone();
        }
        match self.provider.as_str() {
            "claude" | "anthropic" => "CLAUDE_CODE_OAUTH_TOKEN",
            "openai" => "OPENAI_API_KEY",
            "gemini" | "google" => "GEMINI_API_KEY",
            _ => "API_KEY",
        }
        .to_owned()
    }

    /// The OAuth endpoints after provider defaults (only Claude has defaults).
    pub fn endpoints(&self) -> Endpoints {
        let claude = matches!(self.provider.as_str(), "claude" | "anthropic");
        let default = |value: &Option<String>, fallback: &str| {
            value
                .clone()
                .or_else(|| claude.then(|| fallback.to_owned()))
        };
        Endpoints {
            token_url: default(&self.token_url, CLAUDE_TOKEN_URL),
            client_id: default(&self.client_id, CLAUDE_CLIENT_ID).unwrap_or_default(),
            auth_url: default(&self.auth_url, CLAUDE_AUTH_URL),
            device_auth_url: default(&self.device_auth_url, CLAUDE_DEVICE_AUTH_URL),
            redirect_uri: CLAUDE_REDIRECT_URI.to_owned(),
            scope: CLAUDE_SCOPES.to_owned(),
        }
    }
}

/// A provider name as stored: trimmed and in lower case. Any name is a provider except an
/// empty one, one with control characters, or one longer than [`MAX_PROVIDER_BYTES`].
fn checked_provider(provider: &str) -> Result<String, String> {
    let provider = provider.trim();
    if provider.is_empty() {
        return Err("the provider must not be empty".into());
    }
    if provider.chars().any(char::is_control) {
        return Err("the provider must not contain control characters".into());
    }
    if provider.len() > MAX_PROVIDER_BYTES {
        return Err(format!(
            "the provider must be at most {MAX_PROVIDER_BYTES} bytes"
        ));
    }
    Ok(provider.to_lowercase())
}

/// Reads and validates the accounts file, in file order. Two accounts with one name are an
/// error, not the later one silently kept (docs/coop-protocol.md).
pub fn load(path: &Path) -> Result<Vec<AccountConfig>, CredentialError> {
    let fail = |problem: String| CredentialError::Config {
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let file: ConfigFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let mut accounts: Vec<AccountConfig> = Vec::with_capacity(file.accounts.len());
    for account in file.accounts {
        let account = account.validated().map_err(|e| fail(e.to_string()))?;
        if accounts.iter().any(|a| a.name == account.name) {
            return Err(fail(format!("account {} is defined twice", account.name)));
        }
        accounts.push(account);
    }
    Ok(accounts)
}

/// Reads `--api-key-file`: its trimmed contents.
pub fn read_key_file(path: &Path) -> Result<String, CredentialError> {
    let fail = |problem: String| CredentialError::Config {
        path: path.display().to_string(),
        problem,
    };
    let key = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(fail("the key file is empty".into()));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(provider: &str) -> AccountConfig {
        serde_json::from_value(serde_json::json!({"name":"a","provider":provider})).unwrap()
    }

    #[test]
    fn providers_default_their_env_key_and_any_name_is_a_provider() {
        for (provider, key) in [
            ("Claude", "CLAUDE_CODE_OAUTH_TOKEN"),
            ("anthropic", "CLAUDE_CODE_OAUTH_TOKEN"),
            ("openai", "OPENAI_API_KEY"),
            ("GOOGLE", "GEMINI_API_KEY"),
            ("other", "API_KEY"),
            (" Mistral ", "API_KEY"),
            ("custom", "API_KEY"),
        ] {
            let a = account(provider).validated().unwrap();
            assert_eq!(a.env_key(), key, "{provider}");
            assert!(a.reauth);
        }
        assert_eq!(
            account(" Mistral ").validated().unwrap().provider,
            "mistral"
        );
        let long = "p".repeat(MAX_PROVIDER_BYTES + 1);
        for hostile in ["", "  ", "a\nb", "\u{1b}[31m", long.as_str()] {
            let err = account(hostile).validated().unwrap_err().to_string();
            assert!(err.contains("invalid provider"), "{hostile:?}: {err}");
        }
    }

    #[test]
    fn bad_names_and_env_keys_are_refused() {
        let mut a = account("openai");
        a.name = " ".into();
        assert!(a.validated().is_err());
        let mut a = account("openai");
        a.env_key = Some("1BAD".into());
        assert!(a.validated().unwrap_err().to_string().contains("1BAD"));
        for hostile in [
            "LD_PRELOAD",
            "COOP_MUX_URL",
            "coop_mux_token",
            "BASH_FUNC_x%%",
            "PATH",
        ] {
            let mut a = account("openai");
            a.env_key = Some(hostile.into());
            let err = a.validated().unwrap_err().to_string();
            assert!(err.contains(hostile), "{hostile}: {err}");
        }
        let mut a = account("openai");
        a.env_key = Some("OPENAI_API_KEY".into());
        assert!(a.validated().is_ok());
    }

    #[test]
    fn only_claude_has_oauth_defaults() {
        let claude = account("claude").validated().unwrap().endpoints();
        assert_eq!(claude.token_url.as_deref(), Some(CLAUDE_TOKEN_URL));
        assert!(claude.device_auth_url.is_some());
        for provider in ["openai", "custom"] {
            let other = account(provider).validated().unwrap().endpoints();
            assert_eq!(other.token_url, None);
            assert_eq!(other.auth_url, None);
        }
    }
}
