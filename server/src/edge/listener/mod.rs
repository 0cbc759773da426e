//! The accept loop of both listeners (the hub and `coopmux session`), with the bounds a
//! public-facing server needs (docs/security.md, "Bounds"): a cap on open connections
//! (accepting waits beyond it), deadlines for the first request, for each request's headers
//! and body and for an idle keep-alive connection ([`deadlines`]), so that no client can hold
//! a connection by sending nothing or trickling, and a graceful shutdown that lets requests in
//! flight finish.

mod deadlines;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use deadlines::{Conn, Timeouts, Tracked};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Connections open at once per listener, by default; the next accept waits for one to close.
pub const MAX_CONNECTIONS: usize = 4096;
/// Time a client has to send a request's headers, and its first request, by default.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request has to deliver its whole body, by default (16 MiB at 280 KB/s).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a kept-alive connection may stay open with nothing in flight, by default.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The bounds of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and its first request after connecting.
    pub header_read_timeout: Duration,
    /// Time a request has to deliver its whole body.
    pub body_read_timeout: Duration,
    /// Time a connection may stay open with nothing in flight after its first request.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// Limits from milliseconds (zero is raised to 1 ms).
    pub fn from_ms(max_connections: usize, header_ms: u64, body_ms: u64, idle_ms: u64) -> Self {
        let ms = |v: u64| Duration::from_millis(v.max(1));
        Self {
            max_connections,
            header_read_timeout: ms(header_ms),
            body_read_timeout: ms(body_ms),
            idle_timeout: ms(idle_ms),
        }
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            first_request: self.header_read_timeout,
            body: self.body_read_timeout,
            idle: self.idle_timeout,
        }
    }
}
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` completes, then waits for open connections to
/// finish (callers bound that wait). WebSocket upgrades work as with `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let tcp = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // No Nagle: a keystroke's reply and its echo are two small frames, and the second
        // would otherwise wait for a delayed ACK (~40 ms).
        let _ = tcp.set_nodelay(true);
        let conn = Conn::new(limits.timeouts());
        let service = TowerToHyperService::new(tower::service_fn({
            // Each request is in flight until its response body is done, its body pending
            // until read (for the connection's deadlines).
            let (app, conn) = (app.clone(), conn.clone());
            move |req: Request<hyper::body::Incoming>| {
                let body_done = http_body::Body::is_end_stream(req.body());
                let (in_flight, pending) = conn.request(body_done);
                let req = req.map(|body| Body::new(Tracked::new(body, pending)));
                let call = app.clone().oneshot(req);
                async move {
                    let response = call.await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Body::new(Tracked::new(body, Some(in_flight)))),
                    )
                }
            }
        }));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::pin!(connection);
            loop {
                let changed = conn.changed();
                let deadline = conn.arm();
                tokio::select! {
                    ended = &mut connection => {
                        if let Err(err) = ended {
                            tracing::debug!("connection ended: {err}");
                        }
                        break;
                    }
                    () = changed => {}
                    () = sleep_until(deadline) => {
                        if conn.deadline().is_some_and(|d| d <= tokio::time::Instant::now()) {
                            // Dropping the connection closes the socket.
                            tracing::debug!("closing a connection past its deadline");
                            break;
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Sleeps until `deadline`, for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
