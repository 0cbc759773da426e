//! Running the hub: bind, serve, shut down gracefully on SIGINT/SIGTERM.

use crate::{
    cli::ServeArgs,
    edge::bind_host::BindHost,
    edge::guard::Guard,
    hub::audit::Audit,
    hub::auth::{self, Auth},
    hub::credentials::{BrokerSettings, Credentials},
    hub::fleet::Fleet,
    hub::inbox::{
        claims::Claims,
        notify::{Notifier, NotifySettings},
        Inbox,
    },
    hub::launch::{LaunchLinks, LaunchSettings, Launcher},
    hub::metrics::Metrics,
    hub::registry::{Alone, Mirror, Registry, Settings},
    hub::replication::Replication,
    hub::routes,
    hub::state::{AppState, Hub},
    hub::upstream::Upstream,
    hub::web,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;

/// How long connections may take to finish after a shutdown signal before the hub exits
/// anyway (a shutdown must finish within a few seconds).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Errors that stop the hub from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// A non-loopback address without a token (docs/security.md, "Flags").
    #[error("refusing to listen on {0} without --auth-token; set a token, or pass --insecure-no-auth to accept anyone who can reach it")]
    InsecureBind(std::net::IpAddr),
    /// A flag has an unusable value.
    #[error("{0}")]
    Config(String),
    /// The credential config or key file cannot be used.
    #[error("{0}")]
    Credentials(#[from] crate::hub::credentials::CredentialError),
}

/// A hub bound to a socket, ready to serve.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    state: AppState,
    cors: Option<CorsLayer>,
}

impl Bound {
    /// Binds `args.host:args.port` (a host name is resolved first) and builds the hub's state.
    /// Background tasks (health checker, prewarm) start here too.
    pub async fn bind(args: ServeArgs) -> Result<Self, ServeError> {
        let addrs =
            args.host.resolve(args.port).await.map_err(|e| {
                ServeError::Config(format!("cannot resolve --host {}: {e}", args.host))
            })?;
        // Every address the name stands for is checked before anything is bound.
        for addr in &addrs {
            check_exposure(&args, addr.ip())?;
        }
        let cors = auth::cors_layer(&args.allowed_origins).map_err(ServeError::Config)?;
        let listener = BindHost::bind(&addrs)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addrs[0],
                source,
            })?;
        let local = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::default());
        let settings = registry_settings(&args);
        // NATS (docs/scaling.md): the link, the replication driver and the fleet's tables
        // exist before the registry, which tells the fleet every change from its first one.
        let nats = crate::hub::nats::Settings::from_args(&args.nats);
        let link = nats.as_ref().map(|n| n.connect(&shutdown));
        let replication = nats.as_ref().zip(link.clone()).map(|(n, link)| {
            let settings = crate::hub::replication::Settings {
                bucket_prefix: n.bucket_prefix.clone(),
                tombstone_ttl: n.tombstone_ttl,
            };
            Replication::new(link, settings, shutdown.clone())
        });
        let fleet = replication.as_deref().map(Fleet::new);
        let mirror: Arc<dyn Mirror> = match &fleet {
            Some(fleet) => fleet.clone(),
            None => Arc::new(Alone),
        };
        let upstream = Upstream::new(settings.health_check, link.clone());
        let registry = Arc::new(Registry::new(
            settings,
            upstream,
            metrics.clone(),
            shutdown.clone(),
            mirror,
        ));
        registry.spawn_background();
        if let Some(fleet) = &fleet {
            fleet.start(&registry);
        }
        if let (Some(nats), Some(link)) = (nats, link) {
            // Subscribed to the mux feed before the first request, so no event is missed.
            nats.publish_credential_events(link.clone(), registry.subscribe(), &shutdown);
            tokio::spawn(crate::hub::discovery::run(
                link,
                nats,
                registry.clone(),
                shutdown.clone(),
            ));
        }
        let credentials = Arc::new(Credentials::open(
            BrokerSettings::from_args(&args),
            registry.clone(),
            shutdown.clone(),
        )?);
        if let Some(replication) = &replication {
            credentials.share(replication);
        }
        // Subscribed before the first request, so no registration misses its profiles.
        credentials.start();
        let links = fleet.clone().map(|f| f as Arc<dyn LaunchLinks>);
        let launcher = Arc::new(
            Launcher::new(
                LaunchSettings::from_args(&args, local),
                registry.clone(),
                metrics.clone(),
            )
            .with_credentials(credentials.clone())
            .with_links(links),
        );
        // Subscribed before the first request, so no launch's registration is missed.
        launcher.spawn_linker(shutdown.clone());
        let claims = match &replication {
            Some(replication) => Claims::shared(replication),
            None => Claims::local(),
        };
        let notify = NotifySettings {
            urls: args.notify_urls.clone(),
            secret: (args.notify_secret.as_ref())
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
            hub_url: crate::hub::launch::child_mux_url(args.advertise_url.as_deref(), local),
        };
        notify.check().map_err(ServeError::Config)?;
        let notifier = Notifier::start(notify, claims.clone(), shutdown.clone());
        let inbox = Inbox::new(registry.clone(), claims, notifier);
        inbox.start(&shutdown);
        let state_dir = crate::hub::credentials::store::default_dir(args.state_dir.as_deref());
        let mut audit = Audit::open(&state_dir);
        if let Some(replication) = &replication {
            audit = audit.with_stream(replication.link().clone(), args.nats.kv_prefix.trim());
        }
        let token = (args.auth_token.as_ref())
            .map(|t| t.expose().to_owned())
            .filter(|t| !t.is_empty());
        let guard = Guard::new(
            token.is_some(),
            &allowed_hosts(&args, token.is_some()),
            &args.allowed_origins,
        );
        let hub = Hub {
            auth: Arc::new(Auth::new(token.clone(), guard, registry.tokens().clone())),
            config: args,
            registry,
            metrics,
            shutdown,
            launcher,
            bridges: Arc::default(),
            event_feeds: Arc::default(),
            credentials,
            replication,
            fleet,
            inbox,
            audit: Arc::new(audit),
        };
        let state = AppState {
            hub: Arc::new(hub),
            leptos: web::leptos_options(local),
        };
        Ok(Self {
            listener,
            state,
            cors,
        })
    }

    /// The hub's shared state (registry, metrics, event feed), e.g. for tests and embedding.
    pub fn hub(&self) -> Arc<Hub> {
        self.state.hub.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Token that stops the hub when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.hub.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled.
    /// Connections still open [`SHUTDOWN_GRACE`] after the token is cancelled are dropped.
    pub async fn serve(self) -> Result<(), ServeError> {
        let token = self.state.hub.shutdown.clone();
        let hub = self.state.hub.clone();
        let app = routes::router(self.state, self.cors);
        let config = &hub.config;
        let limits = crate::edge::listener::Limits::from_ms(
            config.max_connections,
            config.header_read_timeout_ms,
            config.body_read_timeout_ms,
            config.idle_timeout_ms,
        );
        let server = crate::edge::listener::serve(
            self.listener,
            app,
            limits,
            token.clone().cancelled_owned(),
        );
        tokio::select! {
            () = server => {},
            () = async {
                token.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("connections still open after the shutdown grace period; closing"),
        }
        // The credential state is on disk before the process exits.
        hub.credentials.flush().await;
        Ok(())
    }
}

/// The registry's intervals and limits of these flags. Zero intervals are raised to 1 ms
/// (tokio refuses zero).
pub fn registry_settings(args: &ServeArgs) -> Settings {
    let ms = |v: u64| Duration::from_millis(v.max(1));
    Settings {
        screen_poll: ms(args.screen_poll_ms),
        status_poll: ms(args.status_poll_ms),
        health_check: ms(args.health_check_ms),
        max_health_failures: args.max_health_failures,
        prewarm_capacity: args.prewarm_capacity,
        prewarm_poll: ms(args.prewarm_poll_ms),
        max_sessions: args.max_sessions,
    }
}

/// Refuses to listen on `ip`, when it is not loopback, without a token unless
/// `--insecure-no-auth` (docs/security.md, "The default install").
pub fn check_exposure(args: &ServeArgs, ip: std::net::IpAddr) -> Result<(), ServeError> {
    let has_token = args
        .auth_token
        .as_ref()
        .is_some_and(|t| !t.expose().is_empty());
    if !ip.is_loopback() && !has_token && !args.insecure_no_auth {
        return Err(ServeError::InsecureBind(ip));
    }
    Ok(())
}

/// The Host allow-list: `--allowed-host`, plus the `--host` name when there is no token (the
/// operator named it, so browsers may use it). With a token the name is not added, since any
/// entry turns the check on (docs/security.md, "Web pages").
fn allowed_hosts(args: &ServeArgs, token_set: bool) -> Vec<String> {
    let mut hosts = args.allowed_hosts.clone();
    if let Some(name) = args.host.name().filter(|_| !token_set) {
        hosts.push(name.to_owned());
    }
    hosts
}

/// Runs the hub until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let bound = Bound::bind(args).await?;
    tracing::info!("coopmux listening on http://{}/mux", bound.local_addr());
    let token = bound.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    bound.serve().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
