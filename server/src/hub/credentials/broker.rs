//! Account state: the accounts of the config file and of `new`, their keys, refresh tokens,
//! expiry and status (`healthy`, `missing`, `refreshing`, `expired`). One `RwLock` guards the
//! map and is never held
//! across an `.await`: status answers at once whatever a refresh or a save is doing.

use super::config::{self, AccountConfig, Endpoints};
use super::flows::Reauth;
use super::oauth::{OAuthClient, TokenGrant};
use super::shared::Shared;
use super::store::{Loaded, Store, StoredAccount, StoredState};
use super::{now_secs, BrokerSettings, BrokerTimings, CredentialError};
use crate::hub::metrics::Metrics;
use crate::hub::registry::Registry;
use protocol::credentials::{AccountStatus, CredentialStatus, NewAccountRequest, SecretString};
use protocol::mux::MuxEvent;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// One account.
#[derive(Debug)]
pub struct Account {
    /// Its definition.
    pub config: AccountConfig,
    /// Position: config file order first, then creation order (the "first" account).
    pub order: u64,
    /// Current status.
    pub status: CredentialStatus,
    /// The key.
    pub api_key: Option<SecretString>,
    /// The OAuth refresh token.
    pub refresh_token: Option<SecretString>,
    /// Expiry in epoch seconds; `None` never expires.
    pub expires_at: Option<u64>,
    /// Wakes the account's refresh task after a change.
    pub wake: Arc<Notify>,
}

impl Account {
    /// The secrets as the state file and the shared bucket hold them.
    pub fn stored(&self) -> StoredAccount {
        StoredAccount {
            access_token: self.api_key.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// What a refresh needs, taken out of the lock.
#[derive(Debug, Clone)]
pub struct RefreshJob {
    /// Endpoints after defaults.
    pub endpoints: Endpoints,
    /// The refresh token.
    pub refresh_token: SecretString,
}

/// The broker.
#[derive(Debug)]
pub struct Broker {
    accounts: RwLock<BTreeMap<String, Account>>,
    store: Arc<Store>,
    save_lock: tokio::sync::Mutex<()>,
    events: broadcast::Sender<MuxEvent>,
    /// Timings (tests shorten them).
    pub timings: BrokerTimings,
    /// The OAuth client.
    pub oauth: OAuthClient,
    /// Pending reauth flows.
    pub reauth: Reauth,
    /// Stored secrets of accounts no definition names (a file written by an older hub): kept
    /// in the file as they are, never dropped.
    orphans: BTreeMap<String, StoredAccount>,
    metrics: Arc<Metrics>,
    /// Cancelled on shutdown; refresh tasks and device pollers stop.
    pub shutdown: CancellationToken,
    /// The shared bucket and refresh lease, once NATS is configured (docs/scaling.md).
    shared: OnceLock<Arc<Shared>>,
}

pub(super) fn status_of(key: bool, expires_at: Option<u64>, refresh: bool) -> CredentialStatus {
    match (key, expires_at) {
        (true, None) => CredentialStatus::Healthy,
        (true, Some(at)) if at > now_secs() => CredentialStatus::Healthy,
        (true, Some(_)) => CredentialStatus::Expired,
        (false, _) if refresh => CredentialStatus::Expired,
        (false, _) => CredentialStatus::Missing,
    }
}

impl Broker {
    /// Reads the config, the key file and the state file (see [`super::Credentials::open`]).
    pub fn open(
        settings: &BrokerSettings,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, CredentialError> {
        let configured = match &settings.config {
            Some(path) => config::load(path)?,
            None => Vec::new(),
        };
        let key_file = match &settings.api_key_file {
            Some(path) => {
                let key = config::read_key_file(path)?;
                let first = configured.first().ok_or_else(|| CredentialError::Config {
                    path: path.display().to_string(),
                    problem: "--api-key-file needs at least one account in --credential-config"
                        .into(),
                })?;
                Some((first.name.clone(), key))
            }
            None => None,
        };
        let store = Store::open(settings.state_dir.clone())?;
        // A file that exists but cannot be read is an error: starting without it would
        // replace it with an empty state at the first save.
        let stored = match store.load()? {
            Loaded::State(state) => state,
            Loaded::Missing => StoredState::default(),
            Loaded::Corrupt { moved_to, problem } => {
                tracing::error!(
                    "credential state file is corrupt ({problem}); moved it to {} and starting without it",
                    moved_to.display()
                );
                StoredState::default()
            }
        };
        let mut accounts = BTreeMap::new();
        let mut order = 0;
        let mut insert = |config: AccountConfig| {
            if accounts.contains_key(&config.name) {
                return;
            }
            let name = config.name.clone();
            accounts.insert(
                name,
                Account {
                    config,
                    order,
                    status: CredentialStatus::Missing,
                    api_key: None,
                    refresh_token: None,
                    expires_at: None,
                    wake: Arc::new(Notify::new()),
                },
            );
            order += 1;
        };
        for account in configured {
            insert(account);
        }
        for account in stored.dynamic_accounts {
            match account.validated() {
                Ok(account) => insert(account),
                Err(e) => tracing::error!("ignoring a stored runtime account: {e}"),
            }
        }
        let mut orphans = BTreeMap::new();
        for (name, secrets) in stored.accounts {
            if let Some(account) = accounts.get_mut(&name) {
                account.api_key = secrets.access_token;
                account.refresh_token = secrets.refresh_token;
                account.expires_at = secrets.expires_at;
            } else {
                tracing::warn!(account = %name, "stored credential has no account definition; keeping it in the state file");
                orphans.insert(name, secrets);
            }
        }
        if let Some((name, key)) = key_file {
            if let Some(account) = accounts.get_mut(&name) {
                // The key file is the operator's word at startup: it wins over a stored key.
                account.api_key = Some(SecretString(key));
                account.expires_at = None;
            }
        }
        for account in accounts.values_mut() {
            account.status = status_of(
                account.api_key.is_some(),
                account.expires_at,
                account.refresh_token.is_some(),
            );
        }
        tracing::info!(accounts = accounts.len(), state = %store.path().display(), "credential broker ready");
        let oauth = OAuthClient::new()
            .map_err(|e| CredentialError::Store(format!("cannot build the OAuth client: {e}")))?;
        Ok(Arc::new(Self {
            accounts: RwLock::new(accounts),
            store: Arc::new(store),
            save_lock: tokio::sync::Mutex::new(()),
            events: registry.event_sender(),
            timings: settings.timings.clone(),
            oauth,
            reauth: Reauth::default(),
            orphans,
            metrics: registry.metrics().clone(),
            shutdown,
            shared: OnceLock::new(),
        }))
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Account>> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Account>> {
        self.accounts.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches the shared bucket (once, at startup).
    pub fn set_shared(&self, shared: Arc<Shared>) {
        let _ = self.shared.set(shared);
    }

    /// The shared bucket and lease, when NATS is configured.
    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared.get()
    }

    /// Sends a credential event into the mux feed (no secret in any of them).
    pub fn emit(&self, event: MuxEvent) {
        let _ = self.events.send(event);
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `GET /credentials/status`, ordered by name.
    pub fn status(&self) -> Vec<AccountStatus> {
        let now = now_secs();
        self.read()
            .values()
            .map(|a| AccountStatus {
                name: a.config.name.clone(),
                provider: a.config.provider.clone(),
                status: a.status,
                has_api_key: a.api_key.is_some(),
                expires_in_secs: a.expires_at.map(|at| at.saturating_sub(now)),
                has_refresh_token: a.refresh_token.is_some(),
                reauth: a.config.reauth,
            })
            .collect()
    }

    /// Names of every account, by name.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The first account: config file order, then creation order.
    pub fn first_account(&self) -> Option<String> {
        self.read()
            .values()
            .min_by_key(|a| a.order)
            .map(|a| a.config.name.clone())
    }

    /// The definition of an account.
    pub fn config_of(&self, name: &str) -> Option<AccountConfig> {
        self.read().get(name).map(|a| a.config.clone())
    }

    /// Healthy accounts with their `env_key` and key, by name.
    pub fn healthy(&self) -> Vec<(String, String, SecretString)> {
        self.read()
            .values()
            .filter(|a| a.status == CredentialStatus::Healthy)
            .filter_map(|a| {
                let key = a.api_key.clone()?;
                Some((a.config.name.clone(), a.config.env_key(), key))
            })
            .collect()
    }

    /// `{env_key, key}` of an account that has a key.
    pub fn credential(&self, name: &str) -> Option<(String, SecretString)> {
        let accounts = self.read();
        let account = accounts.get(name)?;
        Some((account.config.env_key(), account.api_key.clone()?))
    }

    /// The refresh task's wake-up of an account (`None` once it is gone).
    pub fn wake_of(&self, name: &str) -> Option<Arc<Notify>> {
        self.read().get(name).map(|a| a.wake.clone())
    }

    /// `POST /credentials/new`. `on_added` runs once the account is in place, before it is
    /// saved (the caller starts its refresh task there, so a status read right after this
    /// returns already sees a due refresh running).
    pub async fn add_account(
        self: &Arc<Self>,
        request: NewAccountRequest,
        on_added: impl FnOnce(&Arc<Self>, &str),
    ) -> Result<(), CredentialError> {
        let config = AccountConfig {
            name: request.name,
            provider: request.provider,
            env_key: request.env_key,
            token_url: request.token_url,
            client_id: request.client_id,
            auth_url: request.auth_url,
            device_auth_url: request.device_auth_url,
            reauth: request.reauth.unwrap_or(true),
        }
        .validated()?;
        let name = config.name.clone();
        let token = request.token.filter(|t| !t.expose().is_empty());
        let refresh = request.refresh_token.filter(|t| !t.expose().is_empty());
        let has_token = token.is_some();
        {
            let mut accounts = self.write();
            if accounts.contains_key(&name) {
                return Err(CredentialError::Duplicate(name));
            }
            let order = accounts.values().map(|a| a.order + 1).max().unwrap_or(0);
            let expires_at = request
                .expires_in
                .filter(|_| has_token)
                .map(|s| now_secs().saturating_add(s));
            accounts.insert(
                name.clone(),
                Account {
                    status: status_of(has_token, expires_at, refresh.is_some()),
                    config,
                    order,
                    api_key: token,
                    refresh_token: refresh,
                    expires_at,
                    wake: Arc::new(Notify::new()),
                },
            );
            self.share(&accounts, &name);
        }
        tracing::info!(account = %name, "credential account added");
        on_added(self, &name);
        self.persist_logged().await;
        if has_token {
            self.emit(MuxEvent::CredentialRefreshed { account: name });
        }
        Ok(())
    }

    /// `POST /credentials/set`: stores a key; `expires_in` and `refresh_token` replace the
    /// stored ones (absent means a key that does not expire and no refresh).
    pub async fn set_token(
        &self,
        name: &str,
        token: SecretString,
        refresh_token: Option<SecretString>,
        expires_in: Option<u64>,
    ) -> Result<(), CredentialError> {
        if token.expose().trim().is_empty() {
            return Err(CredentialError::Invalid("token must not be empty".into()));
        }
        self.store_grant(
            name,
            TokenGrant {
                access_token: token,
                refresh_token: refresh_token.filter(|t| !t.expose().is_empty()),
                expires_in,
            },
            true,
        )
        .await
    }

    /// Stores a new key (from `set`, a refresh or a reauth), marks the account healthy,
    /// persists, wakes its refresh task and emits `credential:refreshed`. With
    /// `replace_refresh` false a grant without a refresh token keeps the stored one
    /// (RFC 6749 §6: the server may not rotate it).
    pub async fn store_grant(
        &self,
        name: &str,
        grant: TokenGrant,
        replace_refresh: bool,
    ) -> Result<(), CredentialError> {
        {
            let mut accounts = self.write();
            let account = accounts
                .get_mut(name)
                .ok_or_else(|| CredentialError::UnknownAccount(name.to_owned()))?;
            account.api_key = Some(grant.access_token);
            if replace_refresh || grant.refresh_token.is_some() {
                account.refresh_token = grant.refresh_token;
            }
            account.expires_at = grant.expires_in.map(|s| now_secs().saturating_add(s));
            account.status = CredentialStatus::Healthy;
            account.wake.notify_one();
            self.share(&accounts, name);
        }
        self.persist_logged().await;
        self.emit(MuxEvent::CredentialRefreshed {
            account: name.to_owned(),
        });
        Ok(())
    }

    /// Sets an account's status (refresh task); `false` when the account is gone.
    pub fn set_status(&self, name: &str, status: CredentialStatus) -> bool {
        match self.write().get_mut(name) {
            Some(account) => {
                account.status = status;
                true
            }
            None => false,
        }
    }

    /// When the account's key should be refreshed (epoch seconds) and what the refresh needs;
    /// `None` when it cannot be refreshed (no refresh token, no token URL, reauth off).
    pub fn refresh_plan(&self, name: &str) -> Option<(u64, RefreshJob)> {
        let accounts = self.read();
        let account = accounts.get(name)?;
        if !account.config.reauth {
            return None;
        }
        let refresh_token = account.refresh_token.clone()?;
        let endpoints = account.config.endpoints();
        endpoints.token_url.as_ref()?;
        let due = match (account.api_key.is_some(), account.expires_at) {
            (false, _) => 0,
            (true, None) => return None,
            (true, Some(at)) => at.saturating_sub(self.timings.refresh_margin.as_secs()),
        };
        Some((
            due,
            RefreshJob {
                endpoints,
                refresh_token,
            },
        ))
    }

    /// Forgets a refresh token the endpoint refused, and persists.
    pub async fn drop_refresh_token(&self, name: &str) {
        {
            let mut accounts = self.write();
            if let Some(account) = accounts.get_mut(name) {
                account.refresh_token = None;
            }
            self.share(&accounts, name);
        }
        self.persist_logged().await;
    }

    /// Tells the other replicas of a change of `name` made here; called under the write lock,
    /// so changes reach them in the order they were made.
    fn share(&self, accounts: &BTreeMap<String, Account>, name: &str) {
        if let (Some(shared), Some(account)) = (self.shared.get(), accounts.get(name)) {
            shared.put(account);
        }
    }

    /// Writes the state file now, logging a failure.
    pub async fn persist_logged(&self) {
        if let Err(e) = self.persist().await {
            tracing::error!("cannot save the credential state: {e}");
        }
    }

    /// Writes the state file now. Saves are serialised and each takes its snapshot after
    /// the previous save finished, so the file always ends with the newest state.
    pub async fn persist(&self) -> Result<(), CredentialError> {
        let _serial = self.save_lock.lock().await;
        let snapshot = {
            let accounts = self.read();
            let held = accounts
                .iter()
                .filter(|(_, a)| a.api_key.is_some() || a.refresh_token.is_some())
                .map(|(name, a)| (name.clone(), a.stored()));
            let mut definitions: Vec<_> = accounts.values().collect();
            definitions.sort_by_key(|a| a.order);
            StoredState {
                accounts: self.orphans.clone().into_iter().chain(held).collect(),
                dynamic_accounts: definitions.into_iter().map(|a| a.config.clone()).collect(),
            }
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.save(&snapshot))
            .await
            .map_err(|e| CredentialError::Store(format!("save task failed: {e}")))?
    }
}
