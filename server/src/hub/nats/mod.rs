//! NATS itself (docs/scaling.md): one [`Link`] to the server, its settings, and the
//! credential events published on it. Off unless `--nats-url` (or `--nats-relay-url`) is
//! given. What uses the link lives with what it serves: `discovery` (sessions announcing
//! themselves), `upstream` (input relayed to url-less sessions), `replication` (what replicas
//! share). This module imports none of them.

pub mod credentials;

pub use crate::edge::nats::{Link, LinkState, NatsAuth, NatsError};

use crate::cli::NatsArgs;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// NATS settings of the hub, from its flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server URL.
    pub url: String,
    /// Credentials.
    pub auth: NatsAuth,
    /// Prefixes whose `{prefix}.session.>` subjects are followed.
    pub discovery_prefixes: Vec<String>,
    /// Prefix of `{prefix}.events.credential`.
    pub events_prefix: String,
    /// A NATS session without an announce for this long is removed.
    pub announce_timeout: Duration,
    /// Prefix of the JetStream key-value buckets replicas share (docs/scaling.md).
    pub bucket_prefix: String,
    /// How long a delete stays in the buckets as a tombstone.
    pub tombstone_ttl: Duration,
}

impl Settings {
    /// The settings of these flags; `None` when NATS is off.
    pub fn from_args(args: &NatsArgs) -> Option<Self> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let url = nonempty(&args.url).or_else(|| nonempty(&args.relay_url))?;
        let secret = |s: &Option<crate::edge::secret::Secret>| {
            s.as_ref()
                .map(|s| s.expose().to_owned())
                .filter(|s| !s.is_empty())
        };
        let auth = if let Some(path) = &args.creds {
            NatsAuth::Creds(path.clone())
        } else if let (Some(user), Some(password)) = (nonempty(&args.user), secret(&args.password))
        {
            NatsAuth::UserPassword(user, password)
        } else if let Some(token) = secret(&args.token).or_else(|| secret(&args.relay_token)) {
            NatsAuth::Token(token)
        } else {
            NatsAuth::None
        };
        let mut discovery_prefixes: Vec<String> = Vec::new();
        for prefix in &args.relay_prefixes {
            let prefix = prefix.trim().trim_end_matches('.').to_owned();
            if !prefix.is_empty() && !discovery_prefixes.contains(&prefix) {
                discovery_prefixes.push(prefix);
            }
        }
        Some(Self {
            url,
            auth,
            discovery_prefixes,
            events_prefix: args.prefix.trim().trim_end_matches('.').to_owned(),
            announce_timeout: Duration::from_millis(args.announce_timeout_ms.max(1)),
            bucket_prefix: args.kv_prefix.trim().to_owned(),
            tombstone_ttl: Duration::from_millis(args.tombstone_ms.max(1)),
        })
    }
}

impl Settings {
    /// The link of these settings, connecting in the background (retried until it succeeds)
    /// and probed while the hub runs.
    pub fn connect(&self, shutdown: &CancellationToken) -> Arc<Link> {
        let link = Link::new(self.url.clone(), self.auth.clone());
        link.spawn(shutdown.clone());
        link.probe(shutdown.clone());
        link
    }

    /// Publishes the credential events of `events` on `link` until shutdown.
    pub fn publish_credential_events(
        &self,
        link: Arc<Link>,
        events: broadcast::Receiver<protocol::mux::MuxEvent>,
        shutdown: &CancellationToken,
    ) {
        tokio::spawn(credentials::run(
            link,
            self.events_prefix.clone(),
            events,
            shutdown.clone(),
        ));
    }
}

/// The NATS lines of `/metrics`: `coopmux_nats_connected` (1 connected and answering, 0 not).
pub fn render_metrics(link: &Link) -> String {
    let connected = u8::from(link.is_up());
    format!(
        "# HELP coopmux_nats_connected Whether the NATS connection is up (1) or not (0).\n\
         # TYPE coopmux_nats_connected gauge\n\
         coopmux_nats_connected {connected}\n"
    )
}
