//! Per-launch registration credentials (docs/security.md, "Agents inside sessions").
//!
//! A launched child gets its own token as `COOP_MUX_TOKEN` instead of the hub's: it may
//! register, heartbeat and deregister one session id (the first it registers) and nothing else,
//! so an agent that reads its environment cannot list, read or drive other sessions. A token
//! is revoked when its session is deregistered; an eviction keeps it, so the session's next
//! heartbeat can bring it back.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Tokens kept at once; the oldest is forgotten beyond that (its session can no longer
/// re-register without the hub token, which only a runaway launcher would reach).
pub const MAX_REGISTRATION_TOKENS: usize = 32_768;

#[derive(Debug, Default)]
struct Tokens {
    /// Token → the session id it is bound to (`None` until its first registration).
    scopes: HashMap<String, Option<String>>,
    /// Issue order, for the bound above.
    order: VecDeque<String>,
}

/// The registration tokens handed to launches. No `Debug` of the values: they are secrets.
#[derive(Default)]
pub struct RegistrationTokens {
    inner: Mutex<Tokens>,
}

impl std::fmt::Debug for RegistrationTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationTokens")
            .field("count", &self.lock().scopes.len())
            .finish()
    }
}

impl RegistrationTokens {
    fn lock(&self) -> MutexGuard<'_, Tokens> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new token, not yet bound to a session.
    pub fn issue(&self) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut tokens = self.lock();
        if tokens.order.len() >= MAX_REGISTRATION_TOKENS {
            if let Some(oldest) = tokens.order.pop_front() {
                tokens.scopes.remove(&oldest);
            }
        }
        tokens.scopes.insert(token.clone(), None);
        tokens.order.push_back(token.clone());
        token
    }

    /// Whether `token` is a registration token at all.
    pub fn is_known(&self, token: &str) -> bool {
        self.lock().scopes.contains_key(token)
    }

    /// Whether `token` may act for `session_id`; an unbound token becomes bound to it.
    pub fn permits(&self, token: &str, session_id: &str) -> bool {
        match self.lock().scopes.get_mut(token) {
            Some(Some(bound)) => bound == session_id,
            Some(scope @ None) => {
                *scope = Some(session_id.to_owned());
                true
            }
            None => false,
        }
    }

    /// Whether `token` is already bound to `session_id` (never binds: for deregistration).
    pub fn covers(&self, token: &str, session_id: &str) -> bool {
        matches!(self.lock().scopes.get(token), Some(Some(bound)) if bound == session_id)
    }

    /// Revokes every token bound to `session_id`.
    pub fn revoke_session(&self, session_id: &str) {
        let mut tokens = self.lock();
        tokens
            .scopes
            .retain(|_, bound| bound.as_deref() != Some(session_id));
        let Tokens { scopes, order } = &mut *tokens;
        order.retain(|t| scopes.contains_key(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_binds_to_its_first_session_and_dies_with_it() {
        let tokens = RegistrationTokens::default();
        let t = tokens.issue();
        assert!(tokens.is_known(&t) && !tokens.is_known("nope"));
        assert!(
            !tokens.covers(&t, "a"),
            "an unbound token deregisters nothing"
        );
        assert!(tokens.permits(&t, "a"));
        assert!(tokens.permits(&t, "a"), "heartbeat");
        assert!(!tokens.permits(&t, "b"), "another session");
        assert!(tokens.covers(&t, "a") && !tokens.covers(&t, "b"));
        tokens.revoke_session("a");
        assert!(!tokens.permits(&t, "a") && !tokens.is_known(&t));
    }
}
