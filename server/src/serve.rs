//! Running the hub: bind, serve, shut down gracefully on SIGINT/SIGTERM.

use crate::{
    cli::ServeArgs,
    registry::Registry,
    routes,
    state::{AppState, Hub},
    web,
};
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
}

/// A hub bound to a socket, ready to serve.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    state: AppState,
}

impl Bound {
    /// Binds `args.host:args.port` and builds the hub's state.
    pub async fn bind(args: ServeArgs) -> Result<Self, ServeError> {
        let addr = SocketAddr::new(args.host, args.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        let hub = Hub {
            config: args,
            registry: Registry::default(),
            shutdown: CancellationToken::new(),
        };
        let state = AppState {
            hub: Arc::new(hub),
            leptos: web::leptos_options(local),
        };
        Ok(Self { listener, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Token that stops the hub when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.hub.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled.
    pub async fn serve(self) -> Result<(), ServeError> {
        let token = self.state.hub.shutdown.clone();
        let app = routes::router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await?;
        Ok(())
    }
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
