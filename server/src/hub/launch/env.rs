//! The launch child's environment: validation of user variables and the three-layer
//! precedence of the launch API (user, then system, then credentials), plus the list of the
//! mux's own variables a child must never inherit (docs/security.md, "Agents inside sessions").

use std::collections::BTreeMap;

/// Keys the launch API reserves: user values for them are silently dropped (matched ignoring case,
/// so `Coop_Mux_Url` is dropped too).
pub const RESERVED_KEYS: [&str; 12] = [
    "COOP_MUX_URL",
    "COOP_MUX_TOKEN",
    "COOP_URL",
    "COOP_SESSION_ID",
    "POD_NAME",
    "POD_NAMESPACE",
    "POD_IP",
    "POD_UID",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
];

/// The variable naming the session id a launch registers as. Not reserved (as in coop): a
/// caller's value is kept and tracked, else the mux chooses one ([`session_id`]).
pub const SESSION_ID_KEY: &str = "COOP_MUX_SESSION_ID";

/// Credential keys a child never inherits from the mux's own environment; credentials reach
/// it only through the broker's layer.
const INHERITED_SECRETS: [&str; 5] = [
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "COOP_BROKER_TOKEN",
];

/// Why a user variable was refused (answered as 400 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The name is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid environment variable name {0:?}: names must match [A-Za-z_][A-Za-z0-9_]*")]
    InvalidName(String),
    /// The value holds a NUL byte, which no process environment can carry.
    #[error("environment variable {0} has a NUL byte in its value")]
    NulValue(String),
    /// A variable that would run code in the launch shell or a tool the agent runs, or
    /// redirect its traffic, its certificate trust or its injected key ([`super::refused`]).
    #[error("environment variable {0} is not allowed: it can run code in the agent's shell or tools, or redirect its traffic or credentials")]
    Dangerous(String),
    /// A variable the mux sets itself (`COOP_*`, the Kubernetes identity).
    #[error("environment variable {0} is reserved for the mux")]
    Reserved(String),
    /// `COOP_MUX_SESSION_ID` holds something no session could register as.
    #[error("COOP_MUX_SESSION_ID {0:?} cannot be used: {1}")]
    InvalidSessionId(String, String),
}

/// One credential the broker hands to a launch (`env_key` = `value`).
#[derive(Clone, PartialEq, Eq)]
pub struct LaunchCredential {
    /// Variable name, e.g. `ANTHROPIC_API_KEY`.
    pub env_key: String,
    /// The secret itself.
    pub value: String,
}

impl std::fmt::Debug for LaunchCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchCredential")
            .field("env_key", &self.env_key)
            .finish_non_exhaustive()
    }
}

/// Where launches get their credentials: the highest layer of the launch environment.
///
/// The hub hands the credential broker to [`super::Launcher`]; [`NoCredentials`] serves
/// launchers built without one. An implementation must resolve duplicates itself (one value
/// per `env_key`, chosen deterministically, not in hash-map order).
pub trait CredentialSource: Send + Sync + std::fmt::Debug {
    /// Credentials to inject into the launch whose session will register as `session_id`
    /// (healthy accounts only); the source may reserve an account for that session.
    fn launch_credentials(&self, session_id: &str) -> Vec<LaunchCredential>;
}

/// A source without a broker: no credentials.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCredentials;

impl CredentialSource for NoCredentials {
    fn launch_credentials(&self, _session_id: &str) -> Vec<LaunchCredential> {
        Vec::new()
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_reserved(name: &str) -> bool {
    RESERVED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

fn is_dangerous(name: &str) -> bool {
    super::refused::is_refused(name)
}

/// The user layer: refuses unsafe variables, then silently drops reserved ones.
pub fn user_layer(env: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, EnvError> {
    let mut kept = BTreeMap::new();
    for (name, value) in env {
        if !is_valid_name(name) {
            return Err(EnvError::InvalidName(name.clone()));
        }
        if value.contains('\0') {
            return Err(EnvError::NulValue(name.clone()));
        }
        if is_dangerous(name) {
            return Err(EnvError::Dangerous(name.clone()));
        }
        if is_reserved(name) {
            tracing::debug!(variable = %name, "dropping reserved launch variable");
            continue;
        }
        kept.insert(name.clone(), value.clone());
    }
    Ok(kept)
}

/// The session id of a launch: the caller's `COOP_MUX_SESSION_ID` (a pod's host name, say)
/// when it set a non-empty one, which must be a valid session id; else a new UUID.
pub fn session_id(user: &BTreeMap<String, String>) -> Result<String, EnvError> {
    match user.get(SESSION_ID_KEY).filter(|id| !id.is_empty()) {
        Some(id) => crate::hub::registry::ids::validate(id)
            .map(|()| id.clone())
            .map_err(|why| EnvError::InvalidSessionId(id.clone(), why)),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// Checks a credential's `env_key`: the name grammar, no loader or shell hook, and none of the
/// mux's own variables (`COOP_*`, `POD_*`), so a pushed "credential" can never become a loader
/// or routing override. The credential variables themselves (`ANTHROPIC_API_KEY`, …) pass.
pub fn check_credential_key(name: &str) -> Result<(), EnvError> {
    if !is_valid_name(name) {
        return Err(EnvError::InvalidName(name.to_owned()));
    }
    if is_dangerous(name) {
        return Err(EnvError::Dangerous(name.to_owned()));
    }
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("COOP_") || upper.starts_with("POD_") {
        return Err(EnvError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Whether a variable of the mux's own environment must not reach a launch child: the mux's
/// configuration (`COOP_MUX_*`, which holds its auth token), inherited session identity
/// (`COOP_URL`, `COOP_SESSION_ID`) and credentials.
pub fn is_withheld(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("COOP_MUX_")
        || upper == "COOP_URL"
        || upper == "COOP_SESSION_ID"
        || INHERITED_SECRETS.contains(&upper.as_str())
}

/// System variables the mux sets for every launch.
#[derive(Debug, Clone)]
pub struct SystemVars {
    /// `COOP_MUX_URL`: an address the child can reach.
    pub mux_url: String,
    /// `COOP_MUX_TOKEN`: the launch's own registration token, only when the mux has a token.
    pub mux_token: Option<String>,
    /// `COOP_MUX_SESSION_ID`: the caller's or the one the mux chose ([`session_id`]).
    pub session_id: String,
}

/// The variables written on top of the (filtered) inherited environment, in precedence order:
/// later entries win. `user` must come from [`user_layer`].
pub fn layered(
    user: BTreeMap<String, String>,
    system: &SystemVars,
    credentials: Vec<LaunchCredential>,
) -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = user;
    vars.insert("COOP_MUX_URL".to_owned(), system.mux_url.clone());
    if let Some(token) = &system.mux_token {
        vars.insert("COOP_MUX_TOKEN".to_owned(), token.clone());
    }
    vars.insert(SESSION_ID_KEY.to_owned(), system.session_id.clone());
    for credential in credentials {
        vars.insert(credential.env_key, credential.value);
    }
    vars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reserved_keys_are_dropped_ignoring_case() {
        let kept = user_layer(&env(&[
            ("Coop_Mux_Url", "x"),
            ("COOP_MUX_URL", "x"),
            ("pod_ip", "x"),
            ("COOP_MUX_SESSION_ID", "pod-7"),
            ("GIT_REPO", "r"),
        ]))
        .unwrap();
        assert_eq!(
            kept,
            env(&[("COOP_MUX_SESSION_ID", "pod-7"), ("GIT_REPO", "r")])
        );
    }

    #[test]
    fn the_callers_session_id_is_kept_when_valid() {
        assert_eq!(
            session_id(&env(&[("COOP_MUX_SESSION_ID", "pod-7.ns")])).unwrap(),
            "pod-7.ns"
        );
        let chosen = session_id(&env(&[("COOP_MUX_SESSION_ID", "")])).unwrap();
        assert!(uuid::Uuid::parse_str(&chosen).is_ok(), "{chosen}");
        for bad in ["a/b", "mux", &"x".repeat(200)] {
            let err = session_id(&env(&[("COOP_MUX_SESSION_ID", bad)])).unwrap_err();
            assert!(err.to_string().contains("COOP_MUX_SESSION_ID"), "{err}");
        }
    }

    #[test]
    fn unsafe_variables_are_refused_with_their_name() {
        for (name, value) in [
            ("LD_PRELOAD", "x"),
            ("ld_library_path", "x"),
            ("DYLD_INSERT_LIBRARIES", "x"),
            ("Path", "x"),
            ("BASH_ENV", "x"),
            ("env", "x"),
            ("IFS", "x"),
            ("A=B", "x"),
            ("A B", "x"),
            ("", "x"),
            ("1A", "x"),
            ("OK", "a\0b"),
        ] {
            let err = user_layer(&env(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{err} should name {name:?}");
        }
    }

    #[test]
    fn precedence_is_user_then_system_then_credentials() {
        let user = user_layer(&env(&[("A", "user"), ("GEMINI_API_KEY", "user")])).unwrap();
        let system = SystemVars {
            mux_url: "http://127.0.0.1:1".to_owned(),
            mux_token: None,
            session_id: "s".to_owned(),
        };
        let vars: BTreeMap<_, _> = layered(
            user,
            &system,
            vec![LaunchCredential {
                env_key: "GEMINI_API_KEY".to_owned(),
                value: "broker".to_owned(),
            }],
        )
        .into_iter()
        .collect();
        assert_eq!(vars["A"], "user");
        assert_eq!(vars["GEMINI_API_KEY"], "broker");
        assert_eq!(vars["COOP_MUX_URL"], "http://127.0.0.1:1");
        assert_eq!(vars["COOP_MUX_SESSION_ID"], "s");
        assert!(!vars.contains_key("COOP_MUX_TOKEN"));
    }

    #[test]
    fn mux_secrets_are_withheld() {
        for name in [
            "COOP_MUX_AUTH_TOKEN",
            "ANTHROPIC_API_KEY",
            "coop_url",
            "COOP_BROKER_TOKEN",
        ] {
            assert!(is_withheld(name), "{name}");
        }
        assert!(!is_withheld("HOME"));
    }
}
