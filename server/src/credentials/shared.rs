//! Credentials shared by hub replicas through a JetStream key-value bucket (docs/scaling.md,
//! "Credentials across replicas"). One key per account holds its definition and its secrets;
//! every replica watches the bucket and applies changes to its broker, and writes the changes
//! made through it (set, new, refresh, a refused refresh token). Without NATS or JetStream the
//! broker works alone, as with one hub.
//!
//! The bucket holds keys and refresh tokens: docs/security.md says who may read it.

use super::broker::{status_of, Account, Broker};
use super::buckets::{key_of, open, Buckets, ACCOUNTS_SUFFIX, OP_TIMEOUT};
use super::config::AccountConfig;
use super::distribute::Distributor;
use super::store::StoredAccount;
use crate::backoff::{Backoff, Policy};
use crate::nats::{Link, LinkState};
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// How often the sync task looks at the connection while watching.
const LINK_CHECK: Duration = Duration::from_millis(500);
/// Retrying a bucket that cannot be opened (no JetStream on the server, NATS down).
const REOPEN: Policy = Policy {
    first: Duration::from_millis(500),
    max: Duration::from_secs(30),
    attempts: None,
};

/// Accounts changed through this replica and not yet written to the bucket.
#[derive(Debug, Default)]
pub struct ChangeLog {
    names: Mutex<BTreeSet<String>>,
    notify: Notify,
}

impl ChangeLog {
    /// Notes a local change of `name` (the sync task writes it).
    pub fn mark(&self, name: &str) {
        self.lock().insert(name.to_owned());
        self.notify.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.lock())
    }

    fn contains(&self, name: &str) -> bool {
        self.lock().contains(name)
    }
}

/// The value of an account's key in the accounts bucket (`{prefix}-`[`ACCOUNTS_SUFFIX`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedAccount {
    /// Its definition (a replica that has its own keeps it; others add the account).
    pub config: AccountConfig,
    /// Key, refresh token and expiry.
    pub secrets: StoredAccount,
}

/// Where sharing stands, as `/api/v1/health` shows it (`credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Not synchronised yet.
    Connecting,
    /// The bucket is watched; writes go to it and refreshes take the lease.
    Shared,
    /// NATS is down or has no JetStream: this replica works alone until it is back.
    Local,
}

impl SyncState {
    /// The word `/api/v1/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Shared => "shared",
            Self::Local => "local",
        }
    }
}

/// The shared bucket of one replica: its view of the bucket's revisions and its lease holder
/// name.
#[derive(Debug)]
pub struct Shared {
    /// This replica's name in lease values.
    pub(super) replica: String,
    /// Lifetime of a refresh lease.
    pub(super) lease_ttl: Duration,
    /// `--nats-kv-prefix`: the buckets are `{bucket_prefix}-…`.
    bucket_prefix: String,
    buckets: RwLock<Option<Buckets>>,
    /// Last bucket revision and value seen per account (applied or written by us).
    known: Mutex<HashMap<String, (u64, SharedAccount)>>,
    state: watch::Sender<SyncState>,
    /// Serialises writes, so a slower write never lands after a newer one.
    push_lock: tokio::sync::Mutex<()>,
    distributor: OnceLock<Weak<Distributor>>,
}

/// Starts sharing the broker's accounts through `link`'s JetStream. Call before the refresh
/// tasks start, so their first refresh already asks for the lease.
pub fn start(
    link: Arc<Link>,
    bucket_prefix: &str,
    broker: &Arc<Broker>,
    distributor: &Arc<Distributor>,
    shutdown: CancellationToken,
) -> Arc<Shared> {
    let (state, _) = watch::channel(SyncState::Connecting);
    let shared = Arc::new(Shared {
        replica: uuid::Uuid::new_v4().to_string(),
        lease_ttl: broker.timings.lease_ttl,
        bucket_prefix: bucket_prefix.to_owned(),
        buckets: RwLock::new(None),
        known: Mutex::new(HashMap::new()),
        state,
        push_lock: tokio::sync::Mutex::new(()),
        distributor: OnceLock::new(),
    });
    let _ = shared.distributor.set(Arc::downgrade(distributor));
    broker.set_shared(shared.clone());
    tokio::spawn(run(shared.clone(), link, broker.clone(), shutdown));
    shared
}

async fn run(
    shared: Arc<Shared>,
    link: Arc<Link>,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(REOPEN);
    loop {
        let Some(client) = link.client(&shutdown).await else {
            return;
        };
        let js = jetstream::new(client);
        match open(&js, &shared.bucket_prefix, shared.lease_ttl).await {
            Ok(buckets) => {
                backoff = Backoff::new(REOPEN);
                *shared.buckets.write().unwrap_or_else(|e| e.into_inner()) = Some(buckets.clone());
                if let Err(e) = shared.sync(&link, &broker, &buckets, &shutdown).await {
                    tracing::warn!("credential sharing interrupted ({e}); credentials are local until it resumes");
                }
                shared.set_state(SyncState::Local);
            }
            Err(e) => {
                if shared.state() != SyncState::Local {
                    tracing::warn!("cannot share credentials through NATS ({e}); this replica keeps its own until it can");
                }
                shared.set_state(SyncState::Local);
            }
        }
        if shutdown.is_cancelled() || !backoff.wait(&shutdown).await {
            return;
        }
    }
}

impl Shared {
    /// Where sharing stands.
    pub fn state(&self) -> SyncState {
        *self.state.borrow()
    }

    fn set_state(&self, state: SyncState) {
        self.state
            .send_if_modified(|s| std::mem::replace(s, state) != state);
    }

    /// Waits (at most [`OP_TIMEOUT`]) until the first synchronisation decided whether the
    /// bucket can be used.
    pub(super) async fn settled(&self) -> SyncState {
        let mut state = self.state.subscribe();
        let decided = state.wait_for(|s| *s != SyncState::Connecting);
        let settled = match tokio::time::timeout(OP_TIMEOUT, decided).await {
            Ok(Ok(s)) => *s,
            _ => self.state(),
        };
        settled
    }

    pub(super) fn buckets(&self) -> Option<Buckets> {
        self.buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records `value` at `revision` unless a later revision is known; whether it was newer.
    fn note(&self, name: &str, revision: u64, value: &SharedAccount) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.get(name).is_some_and(|(seen, _)| revision <= *seen) {
            return false;
        }
        known.insert(name.to_owned(), (revision, value.clone()));
        true
    }

    /// Whether the bucket already holds `value` for `name` (as far as this replica knows).
    fn holds(&self, name: &str, value: &SharedAccount) -> bool {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(name).is_some_and(|(_, v)| v == value)
    }

    /// One synchronisation: writes what changed here (seeding accounts the bucket lacks),
    /// then applies the bucket's values and every later change until the watch or the
    /// connection fails.
    async fn sync(
        &self,
        link: &Link,
        broker: &Arc<Broker>,
        buckets: &Buckets,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        // The bucket may be a new one (a replaced server): its revisions start again.
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.seed(broker, buckets).await?;
        self.push_changes(broker, buckets).await?;
        let mut watch = tokio::time::timeout(OP_TIMEOUT, buckets.accounts.watch_with_history(">"))
            .await
            .map_err(|_| "watch timed out".to_owned())?
            .map_err(|e| format!("cannot watch the {ACCOUNTS_SUFFIX} bucket: {e}"))?;
        self.set_state(SyncState::Shared);
        tracing::info!(prefix = %self.bucket_prefix, "credentials shared through NATS");
        let mut check = tokio::time::interval(LINK_CHECK);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                entry = watch.next() => match entry {
                    Some(Ok(entry)) => self.apply_entry(broker, entry).await,
                    Some(Err(e)) => return Err(format!("watch failed: {e}")),
                    None => return Err("watch ended".into()),
                },
                () = broker.changes.notify.notified() => self.push_changes(broker, buckets).await?,
                _ = check.tick() => {
                    if link.state() != LinkState::Connected {
                        return Err("NATS connection lost".into());
                    }
                }
            }
        }
    }

    /// Creates the key of every local account with secrets that the bucket lacks (an existing
    /// key wins: the watch brings it).
    async fn seed(&self, broker: &Broker, buckets: &Buckets) -> Result<(), String> {
        let local: Vec<SharedAccount> = broker
            .read()
            .values()
            .filter(|a| a.api_key.is_some() || a.refresh_token.is_some())
            .map(snapshot)
            .collect();
        for value in local {
            let name = value.config.name.clone();
            let payload = serde_json::to_vec(&value).unwrap_or_default();
            match tokio::time::timeout(
                OP_TIMEOUT,
                buckets.accounts.create(key_of(&name), payload.into()),
            )
            .await
            {
                Ok(Ok(revision)) => {
                    self.note(&name, revision, &value);
                }
                Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Ok(Err(e)) => return Err(format!("cannot seed account {name}: {e}")),
                Err(_) => return Err("seeding timed out".into()),
            }
        }
        Ok(())
    }

    /// Writes every account changed here; on failure they stay marked for the next sync.
    async fn push_changes(&self, broker: &Broker, buckets: &Buckets) -> Result<(), String> {
        let names = broker.changes.take();
        let mut failed = None;
        for name in &names {
            if failed.is_some() {
                broker.changes.mark(name);
                continue;
            }
            if let Err(e) = self.push_to(broker, buckets, name).await {
                broker.changes.mark(name);
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Writes `name`'s current state now (a refresh does, before releasing its lease).
    pub(super) async fn push(&self, broker: &Broker, name: &str) {
        if self.state() != SyncState::Shared {
            return;
        }
        let Some(buckets) = self.buckets() else {
            return;
        };
        if let Err(e) = self.push_to(broker, &buckets, name).await {
            tracing::warn!(account = %name, "cannot write the credential to NATS: {e}");
            broker.changes.mark(name);
        }
    }

    async fn push_to(&self, broker: &Broker, buckets: &Buckets, name: &str) -> Result<(), String> {
        let _serial = self.push_lock.lock().await;
        let Some(value) = broker.read().get(name).map(snapshot) else {
            return Ok(());
        };
        if self.holds(name, &value) {
            return Ok(());
        }
        let payload = serde_json::to_vec(&value).unwrap_or_default();
        match tokio::time::timeout(
            OP_TIMEOUT,
            buckets.accounts.put(key_of(name), payload.into()),
        )
        .await
        {
            Ok(Ok(revision)) => {
                self.note(name, revision, &value);
                tracing::debug!(account = %name, revision, "credential written to NATS");
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Applies a bucket entry newer than what this replica knows. An account changed here and
    /// not yet written keeps its local value (it is written next and wins).
    pub(super) async fn apply_entry(&self, broker: &Arc<Broker>, entry: kv::Entry) {
        if !matches!(entry.operation, kv::Operation::Put) {
            return;
        }
        let value: SharedAccount = match serde_json::from_slice(&entry.value) {
            Ok(value) => value,
            Err(e) => {
                tracing::warn!(key = %entry.key, "ignoring an unreadable credential entry: {e}");
                return;
            }
        };
        let name = value.config.name.clone();
        if key_of(&name) != entry.key || !self.note(&name, entry.revision, &value) {
            return;
        }
        if broker.changes.contains(&name) {
            return;
        }
        let config = match value.config.clone().validated() {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!(key = %entry.key, "ignoring a shared account: {e}");
                return;
            }
        };
        let applied = apply(broker, config, value.secrets);
        if applied == Applied::Unchanged {
            return;
        }
        tracing::info!(account = %name, revision = entry.revision, "credential changed by another replica");
        broker.persist_logged().await;
        if applied == Applied::Added {
            super::refresh::spawn(broker.clone(), name.clone());
        }
        let healthy = broker.healthy().iter().any(|(n, _, _)| *n == name);
        if applied != Applied::SecretsOnly && healthy {
            if let Some(distributor) = self.distributor.get().and_then(Weak::upgrade) {
                tokio::spawn(async move {
                    let _ = distributor.distribute(&name, true).await;
                });
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Applied {
    Unchanged,
    Added,
    KeyChanged,
    SecretsOnly,
}

fn snapshot(account: &Account) -> SharedAccount {
    SharedAccount {
        config: account.config.clone(),
        secrets: account.stored(),
    }
}

/// Puts a shared value into the broker (a local definition is kept).
fn apply(broker: &Broker, config: AccountConfig, secrets: StoredAccount) -> Applied {
    let mut accounts = broker.write();
    if let Some(account) = accounts.get_mut(&config.name) {
        if account.stored() == secrets {
            return Applied::Unchanged;
        }
        let key_changed = account.api_key != secrets.access_token;
        account.api_key = secrets.access_token;
        account.refresh_token = secrets.refresh_token;
        account.expires_at = secrets.expires_at;
        account.status = status_of(
            account.api_key.is_some(),
            account.expires_at,
            account.refresh_token.is_some(),
        );
        account.wake.notify_one();
        return if key_changed {
            Applied::KeyChanged
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
