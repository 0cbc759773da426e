//! Pushing profiles to sessions and switching them (docs/coop-protocol.md, "Switching
//! profiles").
//!
//! Coop replaces its profile list on every `POST /api/v1/session/profiles`, so each push
//! carries every profile the session may hold (healthy accounts its `profiles_needed` allows),
//! its assigned account first (coop makes the first entry active). A session that registers
//! without its account's key (it was not launched with it) and the sessions assigned to a
//! refreshed account are then switched at once: unforced, so the session itself waits until it
//! can restart its agent (coop's contract; the mux never defers a switch while a session is
//! busy), forced only for an agent in `error`. At most [`MAX_PUSHES_IN_FLIGHT`] sessions are
//! handled at once.

use super::broker::Broker;
use super::pool::{eligible, Pool};
use super::CredentialError;
use crate::edge::backoff::{self, Backoff};
use crate::hub::registry::{Registry, Session};
use futures_util::StreamExt as _;
use http::Method;
use protocol::coop::{ProfileInput, ProfilesRegister, SessionSwitch};
use protocol::mux::MuxEvent;
use protocol::AgentState;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Sessions handled at once by one distribution.
pub const MAX_PUSHES_IN_FLIGHT: usize = 8;

/// What one distribution did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Sessions that received their profiles (and the switch, if asked).
    pub ok: usize,
    /// Sessions that could not be reached or refused.
    pub failed: usize,
}

/// The distributor.
#[derive(Debug)]
pub struct Distributor {
    registry: Arc<Registry>,
    broker: Arc<Broker>,
    pool: Arc<Pool>,
    shutdown: CancellationToken,
}

impl Distributor {
    /// A distributor; [`Distributor::start`] runs it.
    pub fn new(
        registry: Arc<Registry>,
        broker: Arc<Broker>,
        pool: Arc<Pool>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            registry,
            broker,
            pool,
            shutdown,
        }
    }

    /// Subscribes to the mux feed (before returning) and reacts to registrations, removals
    /// and credential events.
    pub fn start(self: &Arc<Self>) {
        let mut events = self.registry.subscribe();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = this.shutdown.cancelled() => return,
                    event = events.recv() => event,
                };
                let this2 = this.clone();
                match event {
                    Ok(MuxEvent::SessionOnline { session, .. }) => {
                        tokio::spawn(async move { this2.on_registered(&session).await });
                    }
                    Ok(MuxEvent::SessionOffline { session }) => {
                        this.pool.forget(&session);
                    }
                    Ok(MuxEvent::CredentialRefreshed { account }) => {
                        tokio::spawn(async move {
                            let _ = this2.distribute(&account, true).await;
                        });
                    }
                    Ok(MuxEvent::CredentialRefreshFailed { account, .. }) => {
                        tokio::spawn(async move { this2.rebalance(Some(&account)).await });
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("credential distributor missed {n} events; resynchronising");
                        tokio::spawn(async move { this2.resync().await });
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// The profiles `session` should hold: assigned account first, then by name.
    fn profiles_for(&self, session: &Session) -> Vec<ProfileInput> {
        let metadata = session.connection().metadata;
        let assigned = self.pool.assigned(&session.id);
        let mut profiles: Vec<ProfileInput> = self
            .broker
            .healthy()
            .into_iter()
            .filter(|(name, _, _)| eligible(&metadata, name))
            .map(|(name, env_key, key)| ProfileInput {
                name,
                credentials: BTreeMap::from([(env_key, key.expose().to_owned())]),
            })
            .collect();
        profiles.sort_by_key(|p| Some(&p.name) != assigned.as_ref());
        profiles
    }

    async fn call_with_retries(&self, session: &Session, path: &str, body: Vec<u8>) -> bool {
        let connection = session.connection();
        let upstream = self.registry.upstream();
        let mut backoff = Backoff::new(backoff::SESSION_PUSH);
        loop {
            let reply = upstream
                .call(
                    Method::POST,
                    &connection.url,
                    path,
                    connection.auth_token.as_deref(),
                    Some(body.clone().into()),
                )
                .await;
            match reply {
                Ok(r) if r.status.is_success() => return true,
                // A refusal will not change on retry (unknown profile, bad token).
                Ok(r) if r.status.is_client_error() && r.status.as_u16() != 409 => {
                    tracing::warn!(session = %session.id, path, status = %r.status, "session refused");
                    return false;
                }
                Ok(r) => {
                    tracing::debug!(session = %session.id, path, status = %r.status, "retrying")
                }
                Err(e) => tracing::debug!(session = %session.id, path, "retrying: {e}"),
            }
            if session.cancel.is_cancelled() || !backoff.wait(&session.cancel).await {
                break;
            }
        }
        tracing::warn!(session = %session.id, path, "session unreachable; giving up");
        false
    }

    /// Pushes every profile `session` may hold in one request. `true` when nothing needed
    /// pushing or the push succeeded.
    pub async fn push_profiles(&self, session: &Session) -> bool {
        let profiles = self.profiles_for(session);
        if profiles.is_empty() {
            return true;
        }
        let body = serde_json::to_vec(&ProfilesRegister { profiles }).unwrap_or_default();
        self.call_with_retries(session, "/api/v1/session/profiles", body)
            .await
    }

    /// Asks `session` to switch to `account`.
    pub async fn switch(&self, session: &Session, account: &str, force: bool) -> bool {
        let body = SessionSwitch {
            profile: Some(account.to_owned()),
            credentials: None,
            force,
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.call_with_retries(session, "/api/v1/session/switch", body)
            .await
    }

    /// The session's agent state; `None` when it cannot be read (treated as idle).
    async fn state_of(&self, session: &Session) -> Option<AgentState> {
        let connection = session.connection();
        let status: Value = self
            .registry
            .upstream()
            .get_json(
                &connection.url,
                "/api/v1/status",
                connection.auth_token.as_deref(),
            )
            .await
            .ok()?;
        status.get("state")?.as_str().map(AgentState::parse)
    }

    /// Switches `session` to `account` now. Unforced, so a busy session finishes its work
    /// first (coop waits until it can restart the agent); forced only for an agent in
    /// `error`, which would never get there by itself.
    async fn switch_now(&self, session: &Session, account: &str) -> bool {
        let force = self.state_of(session).await == Some(AgentState::Error);
        self.switch(session, account, force).await
    }

    /// A new registration: assign an account, push the profiles (the assigned one first, so
    /// coop makes it active), and switch to it unless the session was launched with its key
    /// already in its environment (a switch would only restart a fresh agent).
    pub async fn on_registered(&self, id: &str) {
        let Ok(session) = self.registry.get(id) else {
            return;
        };
        let Some(assigned) = self.pool.ensure_assigned(&self.broker, &session) else {
            return;
        };
        if !self.push_profiles(&session).await {
            tracing::warn!(session = %id, "initial profile push failed");
            return;
        }
        if !assigned.launched_with_key && !self.switch_now(&session, &assigned.account).await {
            tracing::warn!(session = %id, account = %assigned.account, "initial switch failed");
        }
    }

    /// Pushes `account` to every eligible session and, with `switch`, switches the sessions
    /// assigned to it. Waits until every session is handled.
    pub async fn distribute(&self, account: &str, switch: bool) -> Result<Report, CredentialError> {
        if self.broker.credential(account).is_none() {
            return Err(CredentialError::NoCredentials(account.to_owned()));
        }
        let sessions: Vec<Arc<Session>> = self
            .registry
            .sessions()
            .into_iter()
            .filter(|s| eligible(&s.connection().metadata, account))
            .collect();
        let results: Vec<bool> = futures_util::stream::iter(sessions)
            .map(|session| async move {
                self.pool.ensure_assigned(&self.broker, &session);
                if !self.push_profiles(&session).await {
                    return false;
                }
                if switch && self.pool.assigned(&session.id).as_deref() == Some(account) {
                    return self.switch_now(&session, account).await;
                }
                true
            })
            .buffer_unordered(MAX_PUSHES_IN_FLIGHT)
            .collect()
            .await;
        let ok = results.iter().filter(|ok| **ok).count();
        let report = Report {
            ok,
            failed: results.len() - ok,
        };
        tracing::info!(
            account,
            ok = report.ok,
            failed = report.failed,
            "credentials distributed"
        );
        Ok(report)
    }

    /// `POST /credentials/pool/rebalance` and the reaction to a failed refresh: moves the
    /// sessions of `from` (all sessions when `None`) to the least-loaded other account. The
    /// session gets the target's profile before the switch, and its assignment moves only
    /// when the switch succeeded. Returns (moved, failed).
    pub async fn rebalance(&self, from: Option<&str>) -> (usize, usize) {
        let (mut moved, mut failed) = (0, 0);
        for session in self.registry.sessions() {
            let current = self.pool.assigned(&session.id);
            if from.is_some() && current.as_deref() != from {
                continue;
            }
            let Some(target) = self.pool.better_account(&self.broker, &session, from) else {
                continue;
            };
            if self.push_profiles(&session).await && self.switch(&session, &target, false).await {
                self.pool.set(&session.id, &target);
                // Re-push so the list leads with the new assignment.
                let _ = self.push_profiles(&session).await;
                tracing::info!(session = %session.id, to = %target, "session rebalanced");
                moved += 1;
            } else {
                failed += 1;
            }
        }
        (moved, failed)
    }

    /// After missed events: every session gets an assignment and its current profiles.
    async fn resync(&self) {
        for session in self.registry.sessions() {
            self.pool.ensure_assigned(&self.broker, &session);
            let _ = self.push_profiles(&session).await;
        }
    }
}
