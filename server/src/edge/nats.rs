//! One NATS connection: its options (URL and auth), the first connect retried with
//! [`crate::edge::backoff`] for ever, and its state for `/api/v1/health`, `/metrics` and everything
//! that waits for the server (docs/scaling.md, "When NATS is down").
//!
//! Everything NATS-backed (discovery, relayed input, credential events, what replicas share)
//! hangs off a [`Link`]: it waits for [`Link::client`] and works on the returned client, which
//! reconnects by itself after the first success. The state is a `watch`, so waiting for the
//! link to come back costs nothing; with [`Link::probe`] it also says when a connected server
//! stops answering (a frozen server keeps its socket open), from the server's own replies.

use crate::edge::backoff::{Backoff, Policy};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
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

/// Between two probes of a connected server.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe not answered within this is a server that stopped answering.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The subject probes ask: nobody answers it, so a live server replies "no responders" at once.
const PROBE_SUBJECT: &str = "_COOPMUX.PROBE";

/// Where the link stands, as `/api/v1/health` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet (the first connect is being retried).
    Connecting,
    /// Connected, and the server answers.
    Connected,
    /// Connected, but the server did not answer the last probe within [`PROBE_TIMEOUT`]
    /// (frozen, or cut off without the socket noticing).
    Unresponsive,
    /// Was connected; the client is reconnecting.
    Disconnected,
}

impl LinkState {
    /// The word `/api/v1/health` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Unresponsive => "unresponsive",
            Self::Disconnected => "disconnected",
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
    state: watch::Sender<LinkState>,
    /// The server accepted us without asking for credentials (docs/security.md, "Replicas
    /// and the NATS account").
    open_server: AtomicBool,
    client: OnceLock<async_nats::Client>,
}

/// Why an unauthenticated NATS server is a risk, for the log and `/api/v1/health`.
pub const OPEN_SERVER_WARNING: &str = "the NATS server requires no authentication: any client of it can read the credentials and sessions buckets and inject sessions and tokens; give the hubs a NATS account of their own (docs/security.md)";

impl Link {
    /// A link that is not connected yet; [`Link::spawn`] starts connecting.
    pub fn new(url: String, auth: NatsAuth) -> Arc<Self> {
        Arc::new(Self {
            url,
            auth,
            state: watch::Sender::new(LinkState::Connecting),
            open_server: AtomicBool::new(false),
            client: OnceLock::new(),
        })
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the link stands.
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Whether the server is connected and answers.
    pub fn is_up(&self) -> bool {
        self.state() == LinkState::Connected
    }

    /// A receiver of every change of [`Link::state`].
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    /// A warning when the server asked for no credentials (any client can read what the hub
    /// keeps there).
    pub fn warning(&self) -> Option<&'static str> {
        self.open_server
            .load(Ordering::Relaxed)
            .then_some(OPEN_SERVER_WARNING)
    }

    fn set_state(&self, state: LinkState) {
        self.state
            .send_if_modified(|s| std::mem::replace(s, state) != state);
    }

    /// The client once the first connect succeeded (it reconnects by itself afterwards).
    pub fn try_client(&self) -> Option<&async_nats::Client> {
        self.client.get()
    }

    /// Waits for the first successful connect; `None` at shutdown.
    pub async fn client(&self, cancel: &CancellationToken) -> Option<async_nats::Client> {
        let mut state = self.watch_state();
        tokio::select! {
            () = cancel.cancelled() => None,
            // The client is set before the state leaves `Connecting`.
            _ = state.wait_for(|s| *s != LinkState::Connecting) => self.client.get().cloned(),
        }
    }

    /// Probes the server every [`PROBE_EVERY`] until `cancel` fires: a request nobody
    /// serves, which a live server answers at once ("no responders"). No answer within
    /// [`PROBE_TIMEOUT`] makes a connected link [`LinkState::Unresponsive`] until one comes.
    pub fn probe(self: &Arc<Self>, cancel: CancellationToken) {
        let link = self.clone();
        tokio::spawn(async move {
            let Some(client) = link.client(&cancel).await else {
                return;
            };
            let mut ticks = tokio::time::interval(PROBE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let request = async_nats::Request::new().timeout(Some(PROBE_TIMEOUT));
                let answered = match client.send_request(PROBE_SUBJECT, request).await {
                    Ok(_) => true,
                    Err(err) => err.kind() == async_nats::RequestErrorKind::NoResponders,
                };
                link.probed(answered);
            }
        });
    }

    /// A probe's outcome: only moves between connected and unresponsive (the client's own
    /// events say when the connection itself is lost or back).
    fn probed(&self, answered: bool) {
        self.state.send_if_modified(|state| {
            let next = match (*state, answered) {
                (LinkState::Connected, false) => {
                    tracing::warn!(url = %self.url, "NATS server stopped answering");
                    LinkState::Unresponsive
                }
                (LinkState::Unresponsive, true) => {
                    tracing::info!(url = %self.url, "NATS server answers again");
                    LinkState::Connected
                }
                (other, _) => other,
            };
            std::mem::replace(state, next) != next
        });
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
                        let _ = link.client.set(client);
                        link.set_state(LinkState::Connected);
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
                    // The first connect is announced by `spawn`, once the client is stored.
                    if link.client.get().is_none() {
                        return;
                    }
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
