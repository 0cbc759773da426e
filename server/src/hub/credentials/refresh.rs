//! One refresh task per account: sleeps until `--refresh-margin-secs` before expiry, then runs
//! the refresh grant with exponential backoff (1 s doubling to 60 s, 5 attempts). The network
//! call runs with no lock held; the broker's state changes around it are short critical
//! sections, so status answers at once during a refresh.

use super::broker::{Broker, RefreshJob};
use super::lease::Acquired;
use super::now_secs;
use crate::edge::backoff::Backoff;
use protocol::credentials::CredentialStatus;
use protocol::mux::MuxEvent;
use std::sync::Arc;
use std::time::Duration;

/// How a refresh ended.
enum Outcome {
    /// A new key is stored.
    Refreshed,
    /// Failed for good; try again after the failure delay.
    Failed,
    /// The refresh token was refused; only a new grant (set, reauth) helps.
    Refused,
    /// The account was removed or the mux is stopping.
    Gone,
}

/// Starts one refresh task per account.
pub fn spawn_all(broker: &Arc<Broker>) {
    for name in broker.names() {
        spawn(broker.clone(), name);
    }
}

/// Starts the refresh task of `name`; it ends with the mux.
pub fn spawn(broker: Arc<Broker>, name: String) {
    tokio::spawn(run(broker, name));
}

async fn run(broker: Arc<Broker>, name: String) {
    let Some(wake) = broker.wake_of(&name) else {
        return;
    };
    let shutdown = broker.shutdown.clone();
    loop {
        let wait = match broker.refresh_plan(&name) {
            None => None,
            Some((due, job)) => {
                let now = now_secs();
                if due > now {
                    Some(Duration::from_secs(due - now))
                } else {
                    match refresh_due(&broker, &name, job).await {
                        Next::Plan => continue,
                        Next::Wait(wait) => wait,
                        Next::Stop => return,
                    }
                }
            }
        };
        // Sleeps until due (or for ever when there is nothing to refresh); a change of the
        // account (set, new grant) wakes the task to plan again.
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = sleep => {}
        }
    }
}

/// What the task does after a due refresh.
enum Next {
    /// Plan again at once.
    Plan,
    /// Sleep this long (`None`: until woken).
    Wait(Option<Duration>),
    /// The account is gone or the mux is stopping.
    Stop,
}

/// A due refresh. With a shared bucket only the holder of the account's lease refreshes
/// (docs/scaling.md): another replica's new key reaches this one through the watch, which
/// wakes the task.
async fn refresh_due(broker: &Arc<Broker>, name: &str, job: RefreshJob) -> Next {
    let lease = match broker.shared() {
        None => None,
        Some(shared) => match shared.acquire(name).await {
            Acquired::Held(lease) => Some(*lease),
            Acquired::Busy => return Next::Wait(Some(shared.lease_retry())),
            Acquired::Local => None,
        },
    };
    let job = match &lease {
        None => job,
        // The entry was read again under the lease: another replica may have just refreshed.
        Some(_) => match broker.refresh_plan(name) {
            Some((due, job)) if due <= now_secs() => job,
            _ => {
                if let Some(lease) = lease {
                    lease.release().await;
                }
                return Next::Plan;
            }
        },
    };
    let outcome = refresh(broker, name, job).await;
    if let (Some(lease), Some(shared)) = (lease, broker.shared()) {
        if !matches!(outcome, Outcome::Gone) {
            // The new key (or the dropped refresh token) is in the bucket before anyone else
            // can take the lease.
            shared.written(name).await;
        }
        // After a failure the lease lapses by itself, so the replicas do not retry at once.
        if !matches!(outcome, Outcome::Failed) {
            lease.release().await;
        }
    }
    match outcome {
        Outcome::Refreshed => Next::Plan,
        Outcome::Failed => Next::Wait(Some(broker.timings.failed_retry)),
        Outcome::Refused => Next::Wait(None),
        Outcome::Gone => Next::Stop,
    }
}

async fn refresh(broker: &Arc<Broker>, name: &str, job: RefreshJob) -> Outcome {
    if !broker.set_status(name, CredentialStatus::Refreshing) {
        return Outcome::Gone;
    }
    tracing::info!(account = %name, "refreshing credential");
    let mut backoff = Backoff::new(broker.timings.refresh_backoff);
    loop {
        let attempt = backoff.failures() + 1;
        let result = broker
            .oauth
            .refresh(&job.endpoints, &job.refresh_token)
            .await;
        match result {
            Ok(grant) => {
                broker.metrics().credential_refresh(true);
                return match broker.store_grant(name, grant, false).await {
                    Ok(()) => {
                        tracing::info!(account = %name, attempt, "credential refreshed");
                        Outcome::Refreshed
                    }
                    Err(_) => Outcome::Gone,
                };
            }
            Err(e) if e.is_transient() && !backoff.is_last_attempt() => {
                tracing::warn!(account = %name, attempt, "credential refresh failed, retrying: {e}");
                if !backoff.wait(&broker.shutdown).await {
                    return Outcome::Gone;
                }
            }
            Err(e) => {
                broker.metrics().credential_refresh(false);
                tracing::warn!(account = %name, attempt, "credential refresh failed: {e}");
                broker.set_status(name, CredentialStatus::Expired);
                broker.emit(MuxEvent::CredentialRefreshFailed {
                    account: name.to_owned(),
                    error: e.to_string(),
                });
                if !e.is_invalid_grant() {
                    return Outcome::Failed;
                }
                // RFC 6749 §5.2: the refresh token is dead; keep no useless secret and ask a
                // person to authorise again.
                broker.drop_refresh_token(name).await;
                if let Err(err) = super::reauth::start(broker, Some(name.to_owned())).await {
                    tracing::warn!(account = %name, "cannot start reauth: {err}");
                }
                return Outcome::Refused;
            }
        }
    }
}
