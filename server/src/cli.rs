//! The hub's flags and their `COOP_MUX_*` variables (the security flags are described in
//! docs/security.md, "Flags"). The subcommands that wrap them are in [`crate::commands`].

use crate::edge::bind_host::BindHost;
use clap::{Args, Parser, ValueEnum};
use std::path::PathBuf;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of the hub itself.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address or host name to bind (a name binds its first IPv4 address, else IPv6).
    #[arg(long, env = "COOP_MUX_HOST", default_value = "127.0.0.1")]
    pub host: BindHost,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "COOP_MUX_PORT", default_value_t = 9800)]
    pub port: u16,
    /// Bearer token protecting the hub's API; unset means no auth.
    #[arg(long, env = "COOP_MUX_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<crate::edge::secret::Secret>,
    /// Shell command (run with `sh -c`) that the launch API uses to start a session.
    #[arg(long, env = "COOP_MUX_LAUNCH")]
    pub launch: Option<String>,
    /// URL launched sessions use to reach the mux (`COOP_MUX_URL` of the child); default
    /// `http://127.0.0.1:{port}` for a wildcard bind, else the bind address.
    #[arg(long, env = "COOP_MUX_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Launches allowed to wait for their session's registration at once (more get 429).
    #[arg(long, env = "COOP_MUX_MAX_PENDING_LAUNCHES", default_value_t = 16)]
    pub max_pending_launches: usize,
    /// How long a launch may take to register before it shows as "not registered yet", in
    /// milliseconds; it is still watched (and never stopped) after that.
    #[arg(long, env = "COOP_MUX_LAUNCH_TIMEOUT_MS", default_value_t = 60_000)]
    pub launch_timeout_ms: u64,
    /// Interval of the per-watched-session screen poller, in milliseconds.
    #[arg(long, env = "COOP_MUX_SCREEN_POLL_MS", default_value_t = 1000)]
    pub screen_poll_ms: u64,
    /// Interval of the per-watched-session status poller, in milliseconds.
    #[arg(long, env = "COOP_MUX_STATUS_POLL_MS", default_value_t = 2000)]
    pub status_poll_ms: u64,
    /// Interval of the global health checker, in milliseconds.
    #[arg(long, env = "COOP_MUX_HEALTH_CHECK_MS", default_value_t = 10000)]
    pub health_check_ms: u64,
    /// Consecutive failed health checks before a session is evicted.
    #[arg(long, env = "COOP_MUX_MAX_HEALTH_FAILURES", default_value_t = 3)]
    pub max_health_failures: u32,
    /// Number of unwatched sessions whose screen and status are kept warm.
    #[arg(long, env = "COOP_MUX_PREWARM_CAPACITY", default_value_t = 64)]
    pub prewarm_capacity: usize,
    /// Interval of the prewarm cycle, in milliseconds.
    #[arg(long, env = "COOP_MUX_PREWARM_POLL_MS", default_value_t = 15000)]
    pub prewarm_poll_ms: u64,
    /// Origin allowed for CORS and WebSocket upgrades besides the mux's own (repeatable).
    /// CORS stays off when none is given.
    #[arg(
        long = "allowed-origin",
        env = "COOP_MUX_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Host name the hub may be reached as, besides `localhost` and IP addresses (repeatable).
    /// Without a token this is the DNS-rebinding allow-list; with a token, giving any turns
    /// the check on.
    #[arg(
        long = "allowed-host",
        env = "COOP_MUX_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Connections open at once; accepting waits beyond it.
    #[arg(long, env = "COOP_MUX_MAX_CONNECTIONS", default_value_t = crate::edge::listener::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's headers, and its first request.
    #[arg(
        long,
        env = "COOP_MUX_HEADER_READ_TIMEOUT_MS",
        default_value_t = crate::edge::listener::HEADER_READ_TIMEOUT.as_millis() as u64,
        hide = true
    )]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a request has to deliver its whole body.
    #[arg(
        long,
        env = "COOP_MUX_BODY_READ_TIMEOUT_MS",
        default_value_t = crate::edge::listener::BODY_READ_TIMEOUT.as_millis() as u64,
        hide = true
    )]
    pub body_read_timeout_ms: u64,
    /// Milliseconds a kept-alive connection may stay open with nothing in flight.
    #[arg(
        long,
        env = "COOP_MUX_IDLE_TIMEOUT_MS",
        default_value_t = crate::edge::listener::IDLE_TIMEOUT.as_millis() as u64,
        hide = true
    )]
    pub idle_timeout_ms: u64,
    /// Sessions registered at once; a new registration beyond it answers 503.
    #[arg(long, env = "COOP_MUX_MAX_SESSIONS", default_value_t = 16_384)]
    pub max_sessions: usize,
    /// Allow binding a non-loopback address without `--auth-token`.
    #[arg(long, env = "COOP_MUX_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Credential accounts file (`{"accounts":[{"name","provider",…}]}`).
    #[arg(long, env = "COOP_MUX_CREDENTIAL_CONFIG")]
    pub credential_config: Option<PathBuf>,
    /// File whose trimmed contents become the key of the first account of the config file.
    #[arg(long, env = "COOP_MUX_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Directory of `credentials.json`; default `$XDG_STATE_HOME/coop/mux`, then
    /// `~/.local/state/coop/mux`.
    #[arg(long, env = "COOP_MUX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Refresh OAuth keys this many seconds before they expire.
    #[arg(long, env = "COOP_MUX_REFRESH_MARGIN_SECS", default_value_t = 900)]
    pub refresh_margin_secs: u64,
    /// First retry delay of a failed OAuth refresh, in milliseconds (doubles up to 60 s).
    /// Hidden: tests shorten it.
    #[arg(
        long,
        env = "COOP_MUX_REFRESH_BACKOFF_MS",
        default_value_t = 1000,
        hide = true
    )]
    pub refresh_backoff_ms: u64,
    /// Lifetime of a refresh lease shared by replicas through NATS, in milliseconds
    /// (docs/scaling.md). Hidden: tests shorten it.
    #[arg(
        long,
        env = "COOP_MUX_CREDENTIAL_LEASE_MS",
        default_value_t = 30_000,
        hide = true
    )]
    pub credential_lease_ms: u64,
    /// URL that receives a signed JSON POST for each new inbox item (repeatable).
    #[arg(
        long = "notify-url",
        env = "COOP_MUX_NOTIFY_URL",
        value_delimiter = ','
    )]
    pub notify_urls: Vec<String>,
    /// Key of the HMAC-SHA256 that signs each notification (`X-Coopmux-Signature`).
    #[arg(long, env = "COOP_MUX_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<crate::edge::secret::Secret>,
    /// NATS connection and discovery (docs/scaling.md).
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// NATS flags: discovery of sessions that announce themselves on NATS, input relayed to them
/// and credential events published (docs/scaling.md). Off unless a URL is given.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL (`nats://host:4222`); turns discovery over NATS on.
    #[arg(long = "nats-url", env = "COOP_MUX_NATS_URL")]
    pub url: Option<String>,
    /// Token for the NATS server.
    #[arg(
        long = "nats-token",
        env = "COOP_MUX_NATS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<crate::edge::secret::Secret>,
    /// User name for the NATS server (with `--nats-password`).
    #[arg(long = "nats-user", env = "COOP_MUX_NATS_USER")]
    pub user: Option<String>,
    /// Password for the NATS server.
    #[arg(
        long = "nats-password",
        env = "COOP_MUX_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<crate::edge::secret::Secret>,
    /// NATS `.creds` file (JWT and NKey seed).
    #[arg(long = "nats-creds", env = "COOP_MUX_NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// Prefix of published credential events (`{prefix}.events.credential`).
    #[arg(
        long = "nats-prefix",
        env = "COOP_MUX_NATS_PREFIX",
        default_value = "coop"
    )]
    pub prefix: String,
    /// The reference mux's relay URL; used when `--nats-url` is not given.
    #[arg(long = "nats-relay-url", env = "COOP_MUX_NATS_RELAY_URL")]
    pub relay_url: Option<String>,
    /// The reference mux's relay token; used when `--nats-token` is not given.
    #[arg(
        long = "nats-relay-token",
        env = "COOP_MUX_NATS_RELAY_TOKEN",
        hide_env_values = true
    )]
    pub relay_token: Option<crate::edge::secret::Secret>,
    /// Prefixes whose `{prefix}.session.>` announces are followed (repeatable); by default
    /// coop's `coop.events` and the reference mux's `coop.mux`.
    #[arg(
        long = "nats-relay-prefix",
        env = "COOP_MUX_NATS_RELAY_PREFIX",
        value_delimiter = ',',
        default_values_t = [protocol::nats::COOP_PREFIX.to_owned(), protocol::nats::REFERENCE_MUX_PREFIX.to_owned()]
    )]
    pub relay_prefixes: Vec<String>,
    /// A session discovered over NATS without an announce for this long is removed, in
    /// milliseconds (coop announces every 30 s).
    #[arg(
        long = "nats-announce-timeout-ms",
        env = "COOP_MUX_NATS_ANNOUNCE_TIMEOUT_MS",
        default_value_t = 90_000
    )]
    pub announce_timeout_ms: u64,
    /// Prefix of the JetStream key-value buckets the replicas share through
    /// (`{prefix}-sessions`, `-tokens`, `-launches`, `-credentials`, `-credential-leases`;
    /// docs/scaling.md).
    #[arg(
        long = "nats-kv-prefix",
        env = "COOP_MUX_NATS_KV_PREFIX",
        default_value = "coopmux",
        value_parser = bucket_prefix
    )]
    pub kv_prefix: String,
    /// How long a delete stays in the shared buckets as a tombstone, in milliseconds (a
    /// replica cut off for longer may bring back what was deleted meanwhile; docs/scaling.md).
    /// Hidden: tests shorten it.
    #[arg(
        long = "nats-tombstone-ms",
        env = "COOP_MUX_NATS_TOMBSTONE_MS",
        default_value_t = 86_400_000,
        hide = true
    )]
    pub tombstone_ms: u64,
}

/// A bucket prefix: letters, digits, `-` and `_` (JetStream's bucket name rules).
fn bucket_prefix(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    ok.then(|| raw.to_owned())
        .ok_or_else(|| "use letters, digits, - and _ only".to_owned())
}

impl ServeArgs {
    /// Defaults of every flag, bound to `127.0.0.1:0` (handy for tests and embedding).
    pub fn loopback_ephemeral() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut args = Defaults::parse_from(["coopmux"]).serve;
        args.host = BindHost::default();
        args.port = 0;
        args
    }
}

/// Arguments of `coopmux open`.
#[derive(Debug, Clone, Args)]
pub struct OpenArgs {
    /// Base URL of the mux; defaults to `COOP_MUX_URL`, then `http://{--host}:{--port}`.
    #[arg(env = "COOP_MUX_URL")]
    pub url: Option<String>,
}
