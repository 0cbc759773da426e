//! Credentials shared by hub replicas (docs/scaling.md, "Credentials across replicas"): the
//! accounts table of the replication driver holds one value per account, its definition and
//! its secrets. This module is its domain: the broker puts every change made here
//! ([`Shared::put`]), and a newer value from another replica replaces the account here
//! ([`Accounts::apply`]). Without NATS or JetStream the broker works alone, as with one hub.
//!
//! The bucket holds keys and refresh tokens: docs/security.md says who may read it.

use super::broker::{status_of, Account, Broker};
use super::config::AccountConfig;
use super::distribute::Distributor;
use super::store::StoredAccount;
use crate::hub::replication::{Domain, Incoming, Options, Replication, State, Table, OP_TIMEOUT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Name of the bucket of accounts and their secrets, after the `--nats-kv-prefix`.
pub const ACCOUNTS_BUCKET: &str = "credentials";
/// Name of the bucket of refresh leases (its `max_age` is the lease's lifetime), after the
/// `--nats-kv-prefix`.
pub const LEASES_BUCKET: &str = "credential-leases";

/// The value of an account's key in the accounts bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedAccount {
    /// Its definition.
    pub config: AccountConfig,
    /// Key, refresh token and expiry.
    pub secrets: StoredAccount,
}

/// The broker's part in the replicas' sharing: the accounts table and the lease bucket.
#[derive(Debug)]
pub struct Shared {
    /// This replica's name in lease values.
    pub(super) replica: String,
    /// Lifetime of a refresh lease.
    pub(super) lease_ttl: Duration,
    pub(super) accounts: Table<SharedAccount>,
    pub(super) replication: Arc<Replication>,
    /// The lease bucket, once opened.
    pub(super) leases: tokio::sync::Mutex<Option<async_nats::jetstream::kv::Store>>,
}

/// Starts sharing the broker's accounts through `replication`: the accounts it holds with
/// secrets are offered to the bucket (which keeps any value it has), then the bucket is
/// followed. Call before the refresh tasks start, so their first refresh asks for the lease.
pub fn start(
    replication: &Arc<Replication>,
    broker: &Arc<Broker>,
    distributor: &Arc<Distributor>,
) -> Arc<Shared> {
    let accounts = replication.table::<SharedAccount>(
        ACCOUNTS_BUCKET,
        Options {
            watch: true,
            keep_confirmed: true,
        },
    );
    let shared = Arc::new(Shared {
        replica: replication.replica().to_owned(),
        lease_ttl: broker.timings.lease_ttl,
        accounts: accounts.clone(),
        replication: replication.clone(),
        leases: tokio::sync::Mutex::new(None),
    });
    {
        let held = broker.read();
        for account in held.values() {
            if account.api_key.is_some() || account.refresh_token.is_some() {
                drop(accounts.seed(&account.config.name, snapshot(account)));
            }
        }
    }
    broker.set_shared(shared.clone());
    accounts.start(Arc::new(Accounts {
        broker: Arc::downgrade(broker),
        distributor: Arc::downgrade(distributor),
    }));
    shared
}

impl Shared {
    /// Where sharing stands.
    pub fn state(&self) -> State {
        self.accounts.state()
    }

    /// Waits (at most [`OP_TIMEOUT`]) until the first opening decided whether the bucket can
    /// be used.
    pub(super) async fn settled(&self) -> State {
        self.accounts.settled(OP_TIMEOUT).await
    }

    /// A change of `account` made here (called under the broker's lock, in order).
    pub(super) fn put(&self, account: &Account) {
        drop(self.accounts.put(&account.config.name, snapshot(account)));
    }

    /// Waits (at most [`OP_TIMEOUT`]) until the bucket holds this replica's state of `name`
    /// (a refresh does, before releasing its lease).
    pub(super) async fn written(&self, name: &str) {
        if self.accounts.is_shared() {
            self.accounts.receipt(name).within(OP_TIMEOUT).await;
        }
    }
}

/// The shared value of an account.
pub(super) fn snapshot(account: &Account) -> SharedAccount {
    SharedAccount {
        config: account.config.clone(),
        secrets: account.stored(),
    }
}

/// The accounts bucket's domain callbacks.
struct Accounts {
    broker: Weak<Broker>,
    distributor: Weak<Distributor>,
}

impl Domain<SharedAccount> for Accounts {
    fn apply(&self, incoming: Incoming<SharedAccount>) {
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        let name = incoming.id().to_owned();
        let applied = {
            let mut accounts = broker.write();
            // Accounts are never deleted; a value of another name under this key is no
            // account's.
            let Some(Some(value)) = incoming.accept() else {
                return;
            };
            let config = match value.config.validated() {
                Ok(config) if config.name == name => config,
                Ok(_) => {
                    tracing::warn!(account = %name, "ignoring a shared account filed under another name");
                    return;
                }
                Err(e) => {
                    tracing::warn!(account = %name, "ignoring a shared account: {e}");
                    return;
                }
            };
            apply(&mut accounts, config, value.secrets)
        };
        if applied == Applied::Unchanged {
            return;
        }
        tracing::info!(account = %name, "credential changed by another replica");
        let distributor = self.distributor.clone();
        tokio::spawn(async move {
            broker.persist_logged().await;
            if applied == Applied::Added {
                super::refresh::spawn(broker.clone(), name.clone());
            }
            let healthy = broker.healthy().iter().any(|(n, _, _)| *n == name);
            if applied != Applied::SecretsOnly && healthy {
                if let Some(distributor) = distributor.upgrade() {
                    let _ = distributor.distribute(&name, true).await;
                }
            }
        });
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Applied {
    Unchanged,
    Added,
    /// The key or the definition changed: sessions get the new profile.
    Changed,
    SecretsOnly,
}

/// Puts a shared value into the broker's accounts: the newest value of an account is its
/// definition and its secrets on every replica.
fn apply(
    accounts: &mut BTreeMap<String, Account>,
    config: AccountConfig,
    secrets: StoredAccount,
) -> Applied {
    if let Some(account) = accounts.get_mut(&config.name) {
        if account.stored() == secrets && account.config == config {
            return Applied::Unchanged;
        }
        let changed = account.api_key != secrets.access_token || account.config != config;
        account.config = config;
        account.api_key = secrets.access_token;
        account.refresh_token = secrets.refresh_token;
        account.expires_at = secrets.expires_at;
        account.status = status_of(
            account.api_key.is_some(),
            account.expires_at,
            account.refresh_token.is_some(),
        );
        account.wake.notify_one();
        return if changed {
            Applied::Changed
        } else {
            Applied::SecretsOnly
        };
    }
    let order = accounts.values().map(|a| a.order + 1).max().unwrap_or(0);
    let name = config.name.clone();
    accounts.insert(
        name,
        Account {
            status: status_of(
                secrets.access_token.is_some(),
                secrets.expires_at,
                secrets.refresh_token.is_some(),
            ),
            config,
            order,
            api_key: secrets.access_token,
            refresh_token: secrets.refresh_token,
            expires_at: secrets.expires_at,
            wake: Arc::new(Notify::new()),
        },
    );
    Applied::Added
}
