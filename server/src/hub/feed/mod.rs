//! `/ws/mux`: the aggregate stream the dashboard listens to (docs/architecture.md, "The path
//! of a `/ws/mux` event").
//!
//! On connect: a `sessions` snapshot. Then registry events (`session:online`/`offline` to
//! everyone, `transition` only for watched ids), `screen_batch` ticks at `--screen-poll-ms`
//! carrying only changed screens, and replies to client messages. `input:send` and `resize`
//! run in spawned tasks (bounded per connection) so a slow upstream never stalls the loop.
//! A client that lags on the event channel gets a fresh snapshot instead of silent gaps.

pub mod events;
mod handshake;
mod screens;
mod watch;

pub use watch::{EventFeeds, MAX_WATCHED_PER_CONNECTION, MAX_WATCH_BYTES, WATCH_ENTRY_BYTES};

use crate::hub::metrics::Metrics;
use crate::hub::registry::Registry;
use crate::hub::upstream::{Reply, Upstream, UpstreamError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use protocol::coop;
use protocol::mux::{MuxEvent, MuxRequest, SessionSummary};
use screens::SentScreens;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use watch::Watched;

/// Proxied `input:send`/`resize` calls in flight per connection (count); more are refused
/// with an error instead of queueing without bound.
const MAX_INFLIGHT: usize = 16; // requests
/// Error replies of finished proxy calls waiting for the connection's loop (messages).
const REPLY_QUEUE: usize = 64; // messages
/// Close code "going away" (RFC 6455).
const CLOSE_GOING_AWAY: u16 = 1001; // WebSocket close code

/// Why a proxied client message failed (sent back as an `error` event).
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    /// No session has that id.
    #[error("session not found")]
    NotFound,
    /// The upstream could not be reached.
    #[error("{0}")]
    Upstream(#[from] crate::hub::upstream::UpstreamError),
    /// The upstream answered with an error.
    #[error("upstream answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its body, as text.
        body: String,
    },
    /// Too many calls already in flight on this connection.
    #[error("too many input/resize requests in flight")]
    Busy,
    /// The session was discovered on NATS without a url and the call needs HTTP.
    #[error("session {id} announced no reachable url on NATS; {path} needs HTTP (NO_URL)")]
    NoUrl {
        /// Session id.
        id: String,
        /// The upstream path the call needed.
        path: String,
    },
}

/// Upgrades `/ws/mux` (auth and Origin are checked by the middleware).
/// What `/ws/mux` needs from the hub.
#[derive(Debug, Clone)]
pub struct FeedState {
    /// Sessions, their caches and the event feed.
    pub registry: Arc<Registry>,
    /// Upstream state feeds of watched sessions.
    pub event_feeds: Arc<EventFeeds>,
    /// Cancelled when the hub shuts down.
    pub shutdown: CancellationToken,
}

pub async fn ws_mux(State(state): State<FeedState>, upgrade: WebSocketUpgrade) -> Response {
    // The dashboard offers this subprotocol beside its login (docs/security.md).
    upgrade
        .protocols([crate::hub::auth::WS_PROTOCOL])
        .on_upgrade(move |socket| client(state, socket))
}

fn snapshot(registry: &Registry) -> MuxEvent {
    let sessions = registry
        .snapshot()
        .into_iter()
        .map(|s| SessionSummary {
            id: s.id,
            url: s.url,
            state: s.cached_state,
            metadata: s.metadata,
        })
        .collect();
    MuxEvent::Sessions { sessions }
}

/// The client went away.
struct Gone;

struct Connection {
    sink: SplitSink<WebSocket, Message>,
    metrics: Arc<Metrics>,
}

impl Connection {
    async fn send(&mut self, event: &MuxEvent) -> Result<(), Gone> {
        let text = serde_json::to_string(event).map_err(|_| Gone)?;
        self.metrics.relayed(text.len());
        self.sink
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Gone)
    }
}

async fn client(state: FeedState, socket: WebSocket) {
    let FeedState {
        registry,
        event_feeds,
        shutdown,
    } = state;
    let metrics = registry.metrics().clone();
    let _gauge = metrics.ws_client();
    // Subscribed before the snapshot is taken, so nothing falls between the two.
    let mut events = registry.subscribe();
    let (sink, mut stream) = socket.split();
    let mut conn = Connection {
        sink,
        metrics: metrics.clone(),
    };
    if conn.send(&snapshot(&registry)).await.is_err() {
        return;
    }
    let mut watched = Watched::new(event_feeds, registry.clone(), shutdown.clone());
    let mut screens = SentScreens::default();
    let (reply_tx, mut replies) = mpsc::channel(REPLY_QUEUE);
    let permits = Arc::new(Semaphore::new(MAX_INFLIGHT));
    let mut tick = tokio::time::interval(registry.settings().screen_poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let step = tokio::select! {
            () = shutdown.cancelled() => {
                let close = CloseFrame { code: CLOSE_GOING_AWAY, reason: "mux shutting down".into() };
                let _ = conn.sink.send(Message::Close(Some(close))).await;
                return;
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<MuxRequest>(text.as_str()) {
                        Ok(request) => {
                            let ctx = Proxy { upstream: registry.upstream().clone(), registry: registry.clone(), permits: permits.clone(), replies: reply_tx.clone(), metrics: metrics.clone() };
                            handle(&mut conn, &mut watched, &mut screens, &ctx, request).await
                        }
                        Err(_) => conn.send(&MuxEvent::Error { message: "invalid message".to_owned(), session: None }).await,
                    }
                }
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => Ok(()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            event = events.recv() => match event {
                Ok(MuxEvent::Transition(t)) if !watched.contains(&t.session) => Ok(()),
                Ok(event) => {
                    if let MuxEvent::SessionOnline { session, .. } = &event {
                        watched.online(session);
                    }
                    conn.send(&event).await
                }
                // Missed events: resynchronise with a fresh snapshot.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    watched.resync();
                    conn.send(&snapshot(&registry)).await
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(reply) = replies.recv() => conn.send(&reply).await,
            _ = tick.tick() => match screens.batch(&registry, watched.iter()) {
                Some(batch) => conn.send(&batch).await,
                None => Ok(()),
            },
        };
        if step.is_err() {
            return;
        }
    }
}

/// What a spawned proxy call needs.
struct Proxy {
    upstream: Upstream,
    registry: Arc<Registry>,
    permits: Arc<Semaphore>,
    replies: mpsc::Sender<MuxEvent>,
    metrics: Arc<Metrics>,
}

async fn handle(
    conn: &mut Connection,
    watched: &mut Watched,
    screens: &mut SentScreens,
    ctx: &Proxy,
    request: MuxRequest,
) -> Result<(), Gone> {
    match request {
        MuxRequest::Subscribe { sessions } => {
            let (added, refused) = watched.add(sessions);
            if let Some(refused) = refused {
                let message = refused.message();
                conn.send(&MuxEvent::Error {
                    message,
                    session: None,
                })
                .await?;
            }
            match screens.batch(&ctx.registry, added.iter()) {
                Some(batch) => conn.send(&batch).await,
                None => Ok(()),
            }
        }
        MuxRequest::Unsubscribe { sessions } => {
            for id in watched.remove(sessions) {
                screens.forget(&id);
            }
            Ok(())
        }
        MuxRequest::InputSend {
            session,
            text,
            enter,
        } => {
            let body = coop::InputText { text, enter };
            proxy(conn, ctx, session, "/api/v1/input", &body).await
        }
        MuxRequest::Resize {
            session,
            cols,
            rows,
        } => {
            let body = coop::Resize { cols, rows };
            proxy(conn, ctx, session, "/api/v1/resize", &body).await
        }
    }
}

/// Starts one proxied POST; its failure comes back later as `{"event":"error","session",…}`.
async fn proxy(
    conn: &mut Connection,
    ctx: &Proxy,
    id: String,
    path: &'static str,
    body: &impl serde::Serialize,
) -> Result<(), Gone> {
    // Serialising these plain structs (strings, numbers) cannot fail.
    let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let error = |id: String, err: ProxyError| MuxEvent::Error {
        message: err.to_string(),
        session: Some(id),
    };
    let Ok(permit) = ctx.permits.clone().try_acquire_owned() else {
        return conn.send(&error(id, ProxyError::Busy)).await;
    };
    let Ok(session) = ctx.registry.get(&id) else {
        return conn.send(&error(id, ProxyError::NotFound)).await;
    };
    let upstream = ctx.upstream.clone();
    let replies = ctx.replies.clone();
    let metrics = ctx.metrics.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let target = session.target();
        let sent = body.len();
        if !target.url.is_empty() {
            metrics.relayed(sent);
        }
        // A session discovered on NATS without a url gets its text input published; coop
        // drops anything else sent over NATS (docs/scaling.md, "Input").
        let result = match upstream
            .send(&target, http::Method::POST, path, Some(body))
            .await
        {
            Ok(Reply::Http(reply)) if reply.status.is_success() => Ok(()),
            Ok(Reply::Http(reply)) => Err(ProxyError::Status {
                status: reply.status.as_u16(),
                body: String::from_utf8_lossy(&reply.body).into_owned(),
            }),
            Ok(Reply::Published(_)) => {
                metrics.relayed(sent);
                Ok(())
            }
            Err(UpstreamError::NoUrl { id, path }) => Err(ProxyError::NoUrl { id, path }),
            Err(err) => Err(ProxyError::Upstream(err)),
        };
        if let Err(err) = result {
            // A full queue means the client is not reading; the error is dropped with the rest.
            let _ = replies.try_send(error(id, err));
        }
    });
    Ok(())
}
