//! NATS on the hub side (docs/scaling.md): one [`Link`] to the server, the discovery of
//! sessions that announce themselves there, input relayed to url-less sessions and the
//! credential events published. Off unless `--nats-url` (or `--nats-relay-url`) is given.

pub mod connection;
pub mod credentials;
pub mod discovery;
pub mod kv;
pub mod relay;

pub use connection::{Link, LinkState, NatsAuth, NatsError};

use crate::cli::NatsArgs;
use crate::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
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
    /// Prefix of the fleet's JetStream key-value buckets (docs/scaling.md).
    pub bucket_prefix: String,
}

impl Settings {
    /// The settings of these flags; `None` when NATS is off.
    pub fn from_args(args: &NatsArgs) -> Option<Self> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let url = nonempty(&args.url).or_else(|| nonempty(&args.relay_url))?;
        let secret = |s: &Option<crate::secret::Secret>| {
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
        })
    }
}

/// Connects (retrying in the background), attaches the link to the registry and starts
/// discovery and the credential-event publisher. Returns at once.
pub fn start(settings: Settings, registry: &Arc<Registry>, shutdown: &CancellationToken) {
    let link = Link::new(settings.url.clone(), settings.auth.clone());
    link.spawn(shutdown.clone());
    registry.set_nats(link.clone());
    let fleet = crate::fleet::Fleet::new(link.clone(), &settings.bucket_prefix);
    registry.set_fleet(fleet.clone());
    fleet.start(registry.clone(), shutdown.clone());
    let settings = Arc::new(settings);
    // Subscribed to the mux feed before the first request, so no credential event is missed.
    let credential_events = registry.subscribe();
    tokio::spawn(credentials::run(
        link.clone(),
        settings.events_prefix.clone(),
        credential_events,
        shutdown.clone(),
    ));
    tokio::spawn(discovery::run(
        link,
        settings,
        registry.clone(),
        shutdown.clone(),
    ));
}

/// The NATS lines of `/metrics`: `coopmux_nats_connected` (1 connected, 0 not).
pub fn render_metrics(link: &Link) -> String {
    let connected = u8::from(link.state() == LinkState::Connected);
    format!(
        "# HELP coopmux_nats_connected Whether the NATS connection is up (1) or not (0).\n\
         # TYPE coopmux_nats_connected gauge\n\
         coopmux_nats_connected {connected}\n"
    )
}
