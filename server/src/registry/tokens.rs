//! Per-launch registration credentials (docs/security.md, "Agents inside sessions").
//!
//! A launched child gets its own token as `COOP_MUX_TOKEN` instead of the hub's: it may
//! register, heartbeat and deregister one session id (the first it registers) and nothing else,
//! so an agent that reads its environment cannot list, read or drive other sessions. A token
//! is revoked when its session is deregistered; an eviction keeps it, so the session's next
//! heartbeat can bring it back.
//!
//! Tokens are kept by their SHA-256 only, so that replicas can share them through the fleet's
//! tokens bucket (docs/scaling.md) without the bucket ever holding a usable token.

use crate::fleet::Fleet;
use protocol::fleet::TokenRecord;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Tokens kept at once; the oldest is forgotten beyond that (its session can no longer
/// re-register without the hub token, which only a runaway launcher would reach).
pub const MAX_REGISTRATION_TOKENS: usize = 32_768;

#[derive(Debug, Default)]
struct Tokens {
    /// Token hash → the session id it is bound to (`None` until its first registration).
    scopes: HashMap<String, Option<String>>,
    /// Token hash → the session id its launch was given, for tokens issued here.
    launches: HashMap<String, String>,
    /// Issue order of the hashes, for the bound above.
    order: VecDeque<String>,
}

/// The hex SHA-256 of a token: how it is kept here and named in the tokens bucket.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The registration tokens handed to launches. No `Debug` of the values: they are secrets.
#[derive(Default)]
pub struct RegistrationTokens {
    inner: Mutex<Tokens>,
    fleet: OnceLock<Arc<Fleet>>,
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

    /// Shares tokens with the other replicas from now on.
    pub fn attach(&self, fleet: Arc<Fleet>) {
        let _ = self.fleet.set(fleet);
    }

    /// A new token for the launch given session id `launch_session`, not yet bound to a
    /// session.
    pub fn issue(&self, launch_session: &str) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let hash = token_hash(&token);
        self.learn_hash(&hash, None);
        self.lock()
            .launches
            .insert(hash.clone(), launch_session.to_owned());
        if let Some(fleet) = self.fleet.get() {
            fleet.put_token(&hash, TokenRecord::default());
        }
        token
    }

    /// A token (by hash) issued or bound by another replica; a binding is never undone by
    /// an older unbound record.
    pub fn learn_hash(&self, hash: &str, session: Option<String>) {
        let mut tokens = self.lock();
        if let Some(scope) = tokens.scopes.get_mut(hash) {
            if session.is_some() {
                *scope = session;
            }
            return;
        }
        if tokens.order.len() >= MAX_REGISTRATION_TOKENS {
            if let Some(oldest) = tokens.order.pop_front() {
                tokens.scopes.remove(&oldest);
                tokens.launches.remove(&oldest);
            }
        }
        tokens.scopes.insert(hash.to_owned(), session);
        tokens.order.push_back(hash.to_owned());
    }

    /// A token (by hash) revoked by another replica.
    pub fn forget_hash(&self, hash: &str) {
        let mut tokens = self.lock();
        tokens.launches.remove(hash);
        if tokens.scopes.remove(hash).is_some() {
            tokens.order.retain(|h| h != hash);
        }
    }

    /// Whether `token` is a registration token at all.
    pub fn is_known(&self, token: &str) -> bool {
        self.lock().scopes.contains_key(&token_hash(token))
    }

    /// Whether `token` was issued here for a launch given `session_id`.
    pub fn launched_as(&self, token: &str, session_id: &str) -> bool {
        let hash = token_hash(token);
        self.lock()
            .launches
            .get(&hash)
            .is_some_and(|id| id == session_id)
    }

    /// Whether `token` may act for `session_id`; an unbound token becomes bound to it.
    pub fn permits(&self, token: &str, session_id: &str) -> bool {
        match self.lock().scopes.get_mut(&token_hash(token)) {
            Some(Some(bound)) => bound == session_id,
            Some(scope @ None) => {
                *scope = Some(session_id.to_owned());
                true
            }
            None => false,
        }
    }

    /// [`RegistrationTokens::permits`], then the same question to the fleet: a token bound
    /// through another replica first (compare-and-set on its record) belongs to that session.
    pub async fn permits_shared(&self, token: &str, session_id: &str) -> bool {
        if !self.permits(token, session_id) {
            return false;
        }
        let Some(fleet) = self.fleet.get() else {
            return true;
        };
        let hash = token_hash(token);
        match fleet.bind_token(&hash, session_id).await {
            Some(permitted) => permitted,
            None => {
                fleet.put_token(
                    &hash,
                    TokenRecord {
                        session: Some(session_id.to_owned()),
                    },
                );
                true
            }
        }
    }

    /// Whether `token` is already bound to `session_id` (never binds: for deregistration).
    pub fn covers(&self, token: &str, session_id: &str) -> bool {
        matches!(self.lock().scopes.get(&token_hash(token)), Some(Some(bound)) if bound == session_id)
    }

    /// Revokes every token bound to `session_id`, on every replica.
    pub fn revoke_session(&self, session_id: &str) {
        let revoked: Vec<String> = {
            let mut tokens = self.lock();
            let revoked: Vec<String> = (tokens.scopes.iter())
                .filter(|(_, bound)| bound.as_deref() == Some(session_id))
                .map(|(hash, _)| hash.clone())
                .collect();
            let Tokens {
                scopes,
                launches,
                order,
            } = &mut *tokens;
            for hash in &revoked {
                scopes.remove(hash);
                launches.remove(hash);
            }
            order.retain(|t| scopes.contains_key(t));
            revoked
        };
        if let Some(fleet) = self.fleet.get() {
            for hash in &revoked {
                fleet.delete_token(hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_binds_to_its_first_session_and_dies_with_it() {
        let tokens = RegistrationTokens::default();
        let t = tokens.issue("a");
        assert!(tokens.launched_as(&t, "a") && !tokens.launched_as(&t, "b"));
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
