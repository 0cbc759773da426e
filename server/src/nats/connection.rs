//! One NATS connection: its options (URL and auth), the first connect retried with
//! [`crate::backoff`] for ever, and its state for `/api/v1/health` and `/metrics`.
//!
//! Everything NATS-backed (discovery, relayed input, credential events, and later a JetStream
//! key-value registry, docs/scaling.md) hangs off a [`Link`]: it waits for
//! [`Link::client`] and works on the returned client, which reconnects by itself after the
//! first success.

use crate::backoff::{Backoff, Policy};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Connecting to NATS: quick at first (a server starting next to us), then every 10 s.
pub const NATS_CONNECT: Policy = Policy {
    first: Duration::from_millis(200),
    max: Duration::from_secs(10),
    attempts: None,
};

/// How the client proves who it is.
#[derive(Clone, Default)]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A server token.
    Token(String),
    /// User and password.
    UserPassword(String, String),
    /// A `.creds` file (JWT and NKey seed).
    Creds(PathBuf),
}

impl std::fmt::Debug for NatsAuth {
    // Hand-written so that no secret reaches a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::UserPassword(user, _) => write!(f, "UserPassword({user}, <redacted>)"),
            Self::Creds(path) => write!(f, "Creds({})", path.display()),
        }
    }
}

/// Where the link stands, as `/api/v1/health` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not connected yet (the first connect is being retried).
    Connecting = 1,
    /// Connected.
    Connected = 2,
    /// Was connected; the client is reconnecting.
    Disconnected = 3,
}

impl LinkState {
    /// The word `/api/v1/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            2 => Self::Connected,
            3 => Self::Disconnected,
            _ => Self::Connecting,
        }
    }
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The `.creds` file cannot be read or parsed.
    #[error("cannot use NATS credentials file {path}: {source}")]
    Creds {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server refused us or is not there.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
}

/// A NATS connection shared by everything NATS-backed.
#[derive(Debug)]
pub struct Link {
    url: String,
    auth: NatsAuth,
    state: AtomicU8,
    /// The server accepted us without asking for credentials (docs/security.md, "Replicas
    /// and the NATS account").
    open_server: AtomicBool,
    client: OnceLock<async_nats::Client>,
    connected: Notify,
}

/// Why an unauthenticated NATS server is a risk, for the log and `/api/v1/health`.
pub const OPEN_SERVER_WARNING: &str = "the NATS server requires no authentication: any client of it can read the credentials and sessions buckets and inject sessions and tokens; give the hubs a NATS account of their own (docs/security.md)";

impl Link {
    /// A link that is not connected yet; [`Link::spawn`] starts connecting.
    pub fn new(url: String, auth: NatsAuth) -> Arc<Self> {
        Arc::new(Self {
            url,
            auth,
            state: AtomicU8::new(LinkState::Connecting as u8),
            open_server: AtomicBool::new(false),
            client: OnceLock::new(),
            connected: Notify::new(),
        })
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the link stands.
    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// A warning when the server asked for no credentials (any client can read what the hub
    /// keeps there).
    pub fn warning(&self) -> Option<&'static str> {
        self.open_server
            .load(Ordering::Relaxed)
            .then_some(OPEN_SERVER_WARNING)
    }

    fn set_state(&self, state: LinkState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// The client once the first connect succeeded (it reconnects by itself afterwards).
    pub fn try_client(&self) -> Option<&async_nats::Client> {
        self.client.get()
    }

    /// Waits for the first successful connect; `None` at shutdown.
    pub async fn client(&self, cancel: &CancellationToken) -> Option<async_nats::Client> {
        loop {
            let notified = self.connected.notified();
            if let Some(client) = self.client.get() {
                return Some(client.clone());
            }
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = notified => {}
            }
        }
    }

    /// Connects in the background, retrying with [`NATS_CONNECT`] until it succeeds or
    /// `cancel` fires; the client then reconnects by itself.
    pub fn spawn(self: &Arc<Self>, cancel: CancellationToken) {
        let link = self.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(NATS_CONNECT);
            loop {
                match link.connect_once().await {
                    Ok(client) => {
                        tracing::info!(url = %link.url, "connected to NATS");
                        if !client.server_info().auth_required {
                            tracing::warn!(url = %link.url, "{OPEN_SERVER_WARNING}");
                            link.open_server.store(true, Ordering::Relaxed);
                        }
                        link.set_state(LinkState::Connected);
                        let _ = link.client.set(client);
                        link.connected.notify_waiters();
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(%err, failures = backoff.failures() + 1, "NATS connect failed; retrying");
                        if !backoff.wait(&cancel).await {
                            return;
                        }
                    }
                }
            }
        });
    }

    async fn connect_once(self: &Arc<Self>) -> Result<async_nats::Client, NatsError> {
        let mut options = match &self.auth {
            NatsAuth::None => async_nats::ConnectOptions::new(),
            NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
            NatsAuth::UserPassword(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Creds(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| NatsError::Creds {
                    path: path.clone(),
                    source,
                })?,
        };
        let weak = Arc::downgrade(self);
        options = options
            .connection_timeout(Duration::from_secs(5))
            // After the first success the client reconnects on its own, on our policy's delays.
            .reconnect_delay_callback(|attempts| {
                let mut backoff = Backoff::new(NATS_CONNECT);
                (0..attempts.max(1))
                    .filter_map(|_| backoff.next_delay())
                    .last()
                    .unwrap_or(NATS_CONNECT.first)
            })
            .event_callback(move |event| {
                let weak = weak.clone();
                async move {
                    let Some(link) = weak.upgrade() else { return };
                    match event {
                        async_nats::Event::Connected => link.set_state(LinkState::Connected),
                        async_nats::Event::Disconnected => {
                            tracing::warn!(url = %link.url, "NATS connection lost; reconnecting");
                            link.set_state(LinkState::Disconnected);
                        }
                        _ => {}
                    }
                }
            });
        options
            .connect(self.url.as_str())
            .await
            .map_err(|source| NatsError::Connect {
                url: self.url.clone(),
                source,
            })
    }
}
