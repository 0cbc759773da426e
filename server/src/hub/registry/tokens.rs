//! Per-launch registration credentials (docs/security.md, "Agents inside sessions").
//!
//! A launched child gets its own token as `COOP_MUX_TOKEN` instead of the hub's: it may
//! register, heartbeat and deregister one session id (the first it registers) and nothing else,
//! so an agent that reads its environment cannot list, read or drive other sessions. A token
//! is revoked when its session is deregistered; an eviction keeps it, so the session's next
//! heartbeat can bring it back.
//!
//! Tokens are kept by their SHA-256 only, so that replicas can share them (the registry's
//! [`Mirror`]; docs/scaling.md) without any shared store ever holding a usable token.

use super::Mirror;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Tokens kept at once; the oldest is forgotten beyond that (its session can no longer
/// re-register without the hub token, which only a runaway launcher would reach).
pub const MAX_REGISTRATION_TOKENS: usize = 32_768;

#[derive(Debug, Default)]
struct Tokens {
    /// Token hash → the session id it is bound to (`None` until its first registration).
    scopes: HashMap<String, Option<String>>,
    /// Token hash → the session id its launch was given, for tokens issued here (not
    /// replicated: through another replica the token may still take an id no session holds).
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

/// Another replica's change of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteToken {
    /// Issued, and bound to this session once it registered one.
    Issued(Option<String>),
    /// Revoked (its session was deregistered).
    Revoked,
}

/// How [`RegistrationTokens::permits`] decided.
enum Permit {
    /// Already bound to that session.
    Bound,
    /// Was unbound: now bound to that session here; the replicas' decision is on its way.
    NewlyBound(futures_util::future::BoxFuture<'static, ()>),
    /// Unknown, or bound to another session.
    Refused,
}

/// The registration tokens handed to launches. No `Debug` of the values: they are secrets.
pub struct RegistrationTokens {
    inner: Mutex<Tokens>,
    mirror: Arc<dyn Mirror>,
}

impl Default for RegistrationTokens {
    fn default() -> Self {
        Self::new(Arc::new(super::Alone))
    }
}

impl std::fmt::Debug for RegistrationTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationTokens")
            .field("count", &self.lock().scopes.len())
            .finish()
    }
}

impl RegistrationTokens {
    /// Tokens whose changes are told to `mirror` (the other replicas).
    pub fn new(mirror: Arc<dyn Mirror>) -> Self {
        Self {
            inner: Mutex::default(),
            mirror,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tokens> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut tokens = self.lock();
        tokens.learn(&hash, None);
        tokens
            .launches
            .insert(hash.clone(), launch_session.to_owned());
        self.mirror.token_issued(&hash);
        token
    }

    /// Applies another replica's change of the token with this hash, if `decide` (called
    /// under the lock, so no local change comes in between) says it is the newer.
    pub fn apply_remote(&self, hash: &str, decide: impl FnOnce() -> Option<RemoteToken>) {
        let mut tokens = self.lock();
        match decide() {
            None => {}
            Some(RemoteToken::Issued(session)) => tokens.learn(hash, session),
            Some(RemoteToken::Revoked) => tokens.forget(hash),
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
        !matches!(self.permit(&token_hash(token), session_id), Permit::Refused)
    }

    fn permit(&self, hash: &str, session_id: &str) -> Permit {
        let mut tokens = self.lock();
        match tokens.scopes.get_mut(hash) {
            Some(Some(bound)) if bound == session_id => Permit::Bound,
            Some(Some(_)) | None => Permit::Refused,
            Some(scope @ None) => {
                *scope = Some(session_id.to_owned());
                Permit::NewlyBound(self.mirror.token_bound(hash, session_id))
            }
        }
    }

    /// [`RegistrationTokens::permits`], and for a token it binds now the same question to the
    /// other replicas: a token bound through another replica first belongs to that session
    /// (the first binding the replicas agree on wins; docs/scaling.md).
    pub async fn permits_shared(&self, token: &str, session_id: &str) -> bool {
        let hash = token_hash(token);
        match self.permit(&hash, session_id) {
            Permit::Refused => false,
            Permit::Bound => true,
            Permit::NewlyBound(decided) => {
                decided.await;
                self.covers(token, session_id)
            }
        }
    }

    /// Whether `token` is already bound to `session_id` (never binds: for deregistration).
    pub fn covers(&self, token: &str, session_id: &str) -> bool {
        matches!(self.lock().scopes.get(&token_hash(token)), Some(Some(bound)) if bound == session_id)
    }

    /// Revokes every token bound to `session_id`, on every replica.
    pub fn revoke_session(&self, session_id: &str) {
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
            self.mirror.token_revoked(hash);
        }
        order.retain(|t| scopes.contains_key(t));
    }
}

impl Tokens {
    /// Forgets `hash`.
    fn forget(&mut self, hash: &str) {
        self.launches.remove(hash);
        if self.scopes.remove(hash).is_some() {
            self.order.retain(|h| h != hash);
        }
    }

    /// Knows `hash` (bound to `session`, if any); the oldest is forgotten beyond the bound.
    /// A binding is never undone by an unbound record.
    fn learn(&mut self, hash: &str, session: Option<String>) {
        if let Some(scope) = self.scopes.get_mut(hash) {
            if session.is_some() {
                *scope = session;
            }
            return;
        }
        if self.order.len() >= MAX_REGISTRATION_TOKENS {
            if let Some(oldest) = self.order.pop_front() {
                self.scopes.remove(&oldest);
                self.launches.remove(&oldest);
            }
        }
        self.scopes.insert(hash.to_owned(), session);
        self.order.push_back(hash.to_owned());
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
