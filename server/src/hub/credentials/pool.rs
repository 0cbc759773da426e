//! Session-to-account assignments: each session is assigned the healthy account with the
//! fewest sessions. Counts are derived from the
//! registry every time (an assignment whose session is gone does not count), so they never
//! drift. A launch reserves its account before its session registers; the reservation counts
//! as load until the session registers or [`LAUNCH_RESERVATION_SECS`] pass.

use super::broker::Broker;
use crate::hub::launch::env::LaunchCredential;
use crate::hub::registry::{Registry, Session};
use protocol::credentials::{CredentialStatus, PoolAccount, PoolResponse};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Whether `metadata.profiles_needed` lets a session hold `account`: absent, not an array or
/// empty means any; else `"*"` or the name, ignoring case.
pub fn eligible(metadata: &Value, account: &str) -> bool {
    let Some(needed) = metadata.get("profiles_needed").and_then(Value::as_array) else {
        return true;
    };
    needed.is_empty()
        || needed
            .iter()
            .filter_map(Value::as_str)
            .any(|n| n == "*" || n.eq_ignore_ascii_case(account))
}

/// How long a launch's reservation waits for its session to register.
const LAUNCH_RESERVATION_SECS: u64 = 600; // 10 min

#[derive(Debug, Default)]
struct Assignments {
    /// Registered sessions' accounts, by session id.
    sessions: HashMap<String, String>,
    /// Launches not yet registered: session id → (account, when reserved).
    launches: HashMap<String, (String, Instant)>,
}

/// The account [`Pool::ensure_assigned`] found for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The account's name.
    pub account: String,
    /// The session was launched with this account's key in its environment (its launch
    /// reservation), so it needs no switch to use it.
    pub launched_with_key: bool,
}

/// The pool.
#[derive(Debug)]
pub struct Pool {
    registry: Arc<Registry>,
    inner: Mutex<Assignments>,
}

impl Pool {
    /// An empty pool over the registry's sessions.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            inner: Mutex::new(Assignments::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Assignments> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sessions per account: registered sessions' assignments plus live launch reservations.
    /// `except` leaves one session out (to ask where it would go if it moved).
    fn counts(&self, except: Option<&str>) -> HashMap<String, usize> {
        // Looks up the assigned ids rather than listing the fleet: this runs on every
        // registration, and a sorted copy of ten thousand sessions per registration was most
        // of the registration cost (docs/architecture.md, "What a session costs"). The
        // registry's lock is taken inside the pool's; the registry never calls the pool.
        let registered = |id: &str| self.registry.get(id).is_ok();
        let mut inner = self.lock();
        let ttl = Duration::from_secs(LAUNCH_RESERVATION_SECS);
        inner.launches.retain(|_, (_, at)| at.elapsed() < ttl);
        let mut counts = HashMap::new();
        for (id, account) in &inner.sessions {
            if Some(id.as_str()) != except && registered(id) {
                *counts.entry(account.clone()).or_default() += 1;
            }
        }
        for (id, (account, _)) in &inner.launches {
            if Some(id.as_str()) != except && !registered(id) {
                *counts.entry(account.clone()).or_default() += 1;
            }
        }
        counts
    }

    /// The least-loaded of `candidates` (ties by name: candidates come sorted).
    fn least_loaded(&self, candidates: &[String], except: Option<&str>) -> Option<String> {
        let counts = self.counts(except);
        candidates
            .iter()
            .min_by_key(|name| counts.get(*name).copied().unwrap_or(0))
            .cloned()
    }

    /// Healthy accounts `session` may hold, by name.
    pub fn candidates(broker: &Broker, session: &Session) -> Vec<String> {
        let metadata = session.connection().metadata;
        broker
            .healthy()
            .into_iter()
            .map(|(name, _, _)| name)
            .filter(|name| eligible(&metadata, name))
            .collect()
    }

    /// The account `session` is assigned to.
    pub fn assigned(&self, session_id: &str) -> Option<String> {
        self.lock().sessions.get(session_id).cloned()
    }

    /// Records an assignment.
    pub fn set(&self, session_id: &str, account: &str) {
        self.lock()
            .sessions
            .insert(session_id.to_owned(), account.to_owned());
    }

    /// Forgets a removed session.
    pub fn forget(&self, session_id: &str) {
        let mut inner = self.lock();
        inner.sessions.remove(session_id);
        inner.launches.remove(session_id);
    }

    /// Makes sure a registered session has an account: its current one, else its launch
    /// reservation if that account is still a candidate, else the least-loaded candidate.
    /// `None` without candidates.
    pub fn ensure_assigned(&self, broker: &Broker, session: &Session) -> Option<Assigned> {
        let candidates = Self::candidates(broker, session);
        let (current, reserved) = {
            let mut inner = self.lock();
            let reserved = inner.launches.remove(&session.id).map(|(a, _)| a);
            (inner.sessions.get(&session.id).cloned(), reserved)
        };
        if let Some(account) = current {
            return Some(Assigned {
                account,
                launched_with_key: false,
            });
        }
        let launched = reserved.filter(|r| candidates.contains(r));
        let launched_with_key = launched.is_some();
        let account = launched.or_else(|| self.least_loaded(&candidates, Some(&session.id)))?;
        self.set(&session.id, &account);
        tracing::info!(session = %session.id, account = %account, "session assigned to account");
        Some(Assigned {
            account,
            launched_with_key,
        })
    }

    /// Where `session` would be better off: the least-loaded candidate other than `avoid`,
    /// counting without the session itself; `None` when that is its current account.
    pub fn better_account(
        &self,
        broker: &Broker,
        session: &Session,
        avoid: Option<&str>,
    ) -> Option<String> {
        let candidates: Vec<String> = Self::candidates(broker, session)
            .into_iter()
            .filter(|c| Some(c.as_str()) != avoid)
            .collect();
        let target = self.least_loaded(&candidates, Some(&session.id))?;
        (self.assigned(&session.id).as_deref() != Some(target.as_str())).then_some(target)
    }

    /// The launch layer of the environment: the launch reserves the least-loaded healthy
    /// account and gets its key; for every other `env_key` among healthy accounts it gets the
    /// least-loaded account holding that key (ties by name). One value per `env_key`.
    pub fn launch_credentials(&self, broker: &Broker, session_id: &str) -> Vec<LaunchCredential> {
        let healthy = broker.healthy();
        let names: Vec<String> = healthy.iter().map(|(n, _, _)| n.clone()).collect();
        let Some(assigned) = self.least_loaded(&names, None) else {
            return Vec::new();
        };
        self.lock()
            .launches
            .insert(session_id.to_owned(), (assigned.clone(), Instant::now()));
        let counts = self.counts(None);
        let mut by_key: BTreeMap<String, (bool, usize, String, String)> = BTreeMap::new();
        for (name, env_key, key) in healthy {
            let rank = (
                name != assigned,
                counts.get(&name).copied().unwrap_or(0),
                name.clone(),
                key.expose().to_owned(),
            );
            let best = by_key.entry(env_key).or_insert_with(|| rank.clone());
            if rank < *best {
                *best = rank;
            }
        }
        by_key
            .into_iter()
            .map(|(env_key, (_, _, _, value))| LaunchCredential { env_key, value })
            .collect()
    }

    /// `GET /credentials/pool`.
    pub fn response(&self, broker: &Broker) -> PoolResponse {
        let counts = self.counts(None);
        let registered: Vec<String> = self
            .registry
            .sessions()
            .into_iter()
            .map(|s| s.id.clone())
            .collect();
        let total_sessions = {
            let inner = self.lock();
            registered
                .iter()
                .filter(|id| inner.sessions.contains_key(*id))
                .count()
        };
        let accounts: Vec<PoolAccount> = broker
            .status()
            .into_iter()
            .map(|a| PoolAccount {
                session_count: counts.get(&a.name).copied().unwrap_or(0),
                name: a.name,
                provider: a.provider,
                status: a.status,
                has_api_key: a.has_api_key,
                expires_in_secs: a.expires_in_secs,
                has_refresh_token: a.has_refresh_token,
            })
            .collect();
        PoolResponse {
            total_sessions,
            healthy_accounts: accounts
                .iter()
                .filter(|a| a.status == CredentialStatus::Healthy)
                .count(),
            total_accounts: accounts.len(),
            accounts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::eligible;
    use serde_json::json;

    #[test]
    fn profiles_needed_filters_ignoring_case() {
        assert!(eligible(&json!(null), "a"));
        assert!(eligible(&json!({"profiles_needed": []}), "a"));
        assert!(eligible(&json!({"profiles_needed": ["*"]}), "a"));
        assert!(eligible(&json!({"profiles_needed": "x"}), "a"));
        assert!(eligible(&json!({"profiles_needed": ["B", "A"]}), "a"));
        assert!(!eligible(&json!({"profiles_needed": ["b"]}), "a"));
    }
}
