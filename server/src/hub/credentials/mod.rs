//! The credential broker: accounts and their keys, OAuth refresh and reauth, persistence,
//! session assignment and profile distribution. Its threat model is in docs/security.md.
//!
//! `config` reads the accounts file and knows provider defaults, `store` persists every key
//! and refresh token, `broker` holds account state, `oauth` speaks the token endpoint
//! (refresh, device code, PKCE), `refresh` runs one refresh task per account, `reauth` the
//! pending reauth flows, `pool` assigns sessions to accounts, `distribute` pushes profiles to
//! sessions and switches them, `api` serves `/api/v1/credentials/*`.
//!
//! Events go into the registry's mux feed (`credential:*`), which the distributor also
//! consumes: one bounded channel for everything, and no secret ever travels on it.

pub mod api;
pub mod broker;
pub mod config;
pub mod distribute;
pub mod flows;
pub mod lease;
pub mod oauth;
pub mod pool;
pub mod reauth;
pub mod refresh;
pub mod shared;
pub mod store;

use crate::cli::ServeArgs;
use crate::edge::backoff;
use crate::hub::launch::env::{CredentialSource, LaunchCredential};
use crate::hub::registry::Registry;
use broker::Broker;
use distribute::Distributor;
use pool::Pool;
use protocol::credentials::{
    AccountAdded, DistributeRequest, DistributeResponse, ExchangeRequest, NewAccountRequest,
    ReauthRequest, ReauthResponse, SetTokenRequest,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a broker operation failed. Mapped to HTTP once, in [`api`]: 500 for the state file,
/// 400 with the message for everything else. No variant ever carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The accounts file or the key file cannot be used (stops the mux at startup).
    #[error("cannot use {path}: {problem}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A definition or request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// No account with that name.
    #[error("unknown account: {0}")]
    UnknownAccount(String),
    /// `new` with a name already in use.
    #[error("account already exists: {0}")]
    Duplicate(String),
    /// Reauth without an account while none exists.
    #[error("no accounts configured")]
    NoAccounts,
    /// Distribution of an account without a key.
    #[error("no credentials available for account: {0}")]
    NoCredentials(String),
    /// Reauth of an account whose definition has `reauth: false`.
    #[error("reauth is disabled for account: {0}")]
    ReauthDisabled(String),
    /// Reauth of an account with neither a device nor an authorisation endpoint.
    #[error("account {0} has no OAuth endpoints for reauth (set device_auth_url or auth_url and token_url)")]
    NoReauthFlow(String),
    /// Exchange with a state that is unknown or whose flow expired.
    #[error("unknown or expired auth state")]
    UnknownState,
    /// The token endpoint refused or could not be reached.
    #[error("OAuth error: {0}")]
    OAuth(#[from] oauth::OAuthError),
    /// The state file could not be read or written.
    #[error("credential state: {0}")]
    Store(String),
}

/// Timings of the broker; tests shorten them.
#[derive(Debug, Clone)]
pub struct BrokerTimings {
    /// Refresh this long before a key expires.
    pub refresh_margin: Duration,
    /// Retries of one refresh before it counts as failed (`--refresh-backoff-ms` sets the
    /// first delay).
    pub refresh_backoff: backoff::Policy,
    /// Wait before trying again after a refresh failed for good (not `invalid_grant`).
    pub failed_retry: Duration,
    /// How long a pending reauth flow (PKCE state) stays valid.
    pub pending_flow_ttl: Duration,
    /// Lifetime of a refresh lease in the shared bucket (`--credential-lease-ms`).
    pub lease_ttl: Duration,
}

/// Wait after a refresh failed for good before the next try.
const FAILED_RETRY_SECS: u64 = 60; // 1 min
/// Lifetime of a pending PKCE flow.
const PENDING_FLOW_TTL_SECS: u64 = 600; // 10 min

impl BrokerTimings {
    /// Timings of these flags.
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            refresh_margin: Duration::from_secs(args.refresh_margin_secs),
            refresh_backoff: backoff::Policy {
                first: Duration::from_millis(args.refresh_backoff_ms.max(1)),
                ..backoff::TOKEN_REFRESH
            },
            failed_retry: Duration::from_secs(FAILED_RETRY_SECS),
            pending_flow_ttl: Duration::from_secs(PENDING_FLOW_TTL_SECS),
            lease_ttl: Duration::from_millis(args.credential_lease_ms.max(100)),
        }
    }
}

/// Where the broker's configuration comes from.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `--credential-config`.
    pub config: Option<PathBuf>,
    /// `--api-key-file`.
    pub api_key_file: Option<PathBuf>,
    /// State directory (already resolved).
    pub state_dir: PathBuf,
    /// Timings.
    pub timings: BrokerTimings,
}

impl BrokerSettings {
    /// Settings of these flags.
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            config: args.credential_config.clone(),
            api_key_file: args.api_key_file.clone(),
            state_dir: store::default_dir(args.state_dir.as_deref()),
            timings: BrokerTimings::from_args(args),
        }
    }
}

/// The broker, the pool and the distributor together: what the hub holds.
#[derive(Debug)]
pub struct Credentials {
    /// Accounts, keys, refresh and reauth.
    pub broker: Arc<Broker>,
    /// Session-to-account assignments.
    pub pool: Arc<Pool>,
    /// Profile pushes and switches.
    pub distributor: Arc<Distributor>,
}

impl Credentials {
    /// Loads the config and the state file. A config that cannot be used is an error; a
    /// corrupt state file is moved aside and reported, and the broker starts without it.
    pub fn open(
        settings: BrokerSettings,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) -> Result<Self, CredentialError> {
        let broker = Broker::open(&settings, registry.clone(), shutdown.clone())?;
        let pool = Arc::new(Pool::new(registry.clone()));
        let distributor = Arc::new(Distributor::new(
            registry,
            broker.clone(),
            pool.clone(),
            shutdown,
        ));
        Ok(Self {
            broker,
            pool,
            distributor,
        })
    }

    /// Shares accounts and keys with the other replicas through `replication`
    /// (docs/scaling.md). Call before [`Credentials::start`], so the first refresh already
    /// asks for the lease.
    pub fn share(&self, replication: &Arc<crate::hub::replication::Replication>) {
        shared::start(replication, &self.broker, &self.distributor);
    }

    /// `credentials` of `/api/v1/health` (a replication state word); `None` without NATS.
    pub fn sharing(&self) -> Option<&'static str> {
        self.broker.shared().map(|s| s.state().as_str())
    }

    /// Starts the refresh tasks and the distributor. The distributor subscribes to the feed
    /// before this returns, so no registration after it is missed.
    pub fn start(&self) {
        self.distributor.start();
        refresh::spawn_all(&self.broker);
    }

    /// `POST /credentials/new` (REST and the dashboard's server function).
    pub async fn add(&self, req: NewAccountRequest) -> Result<AccountAdded, CredentialError> {
        let account = req.name.clone();
        let start_refresh = |broker: &Arc<Broker>, name: &str| {
            refresh::spawn(broker.clone(), name.to_owned());
        };
        self.broker.add_account(req, start_refresh).await?;
        Ok(AccountAdded {
            added: true,
            account,
        })
    }

    /// `POST /credentials/set` and its alias `seed`.
    pub async fn set(&self, req: SetTokenRequest) -> Result<(), CredentialError> {
        self.broker
            .set_token(&req.account, req.token, req.refresh_token, req.expires_in)
            .await
    }

    /// `POST /credentials/reauth`: the device flow, else PKCE.
    pub async fn reauth(&self, req: ReauthRequest) -> Result<ReauthResponse, CredentialError> {
        reauth::start(&self.broker, req.account).await
    }

    /// `POST /credentials/exchange`: finishes a PKCE reauth.
    pub async fn exchange(&self, req: ExchangeRequest) -> Result<(), CredentialError> {
        reauth::exchange(&self.broker, &req.state, &req.code).await
    }

    /// `POST /credentials/distribute`: pushes an account now and waits until done.
    pub async fn distribute(
        &self,
        req: DistributeRequest,
    ) -> Result<DistributeResponse, CredentialError> {
        self.distributor
            .distribute(&req.account, req.switch)
            .await?;
        Ok(DistributeResponse {
            distributed: true,
            account: req.account,
        })
    }

    /// Writes the state file now (graceful shutdown).
    pub async fn flush(&self) {
        if let Err(e) = self.broker.persist().await {
            tracing::error!("cannot flush the credential state: {e}");
        }
    }
}

impl CredentialSource for Credentials {
    fn launch_credentials(&self, session_id: &str) -> Vec<LaunchCredential> {
        self.pool.launch_credentials(&self.broker, session_id)
    }
}

/// Current time in epoch seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
