//! `/ws`: coop's WebSocket protocol over this session (docs/coop-protocol.md).
//!
//! The connection itself is [`crate::edge::coop_ws`]'s; what is the host's own is here: the token
//! (query, bearer or `auth`), the answers from [`Host`], the pushes of its screen, agent
//! state and exit, and the bound past which a lagging `pty` client gets coop's lag replay.

use super::error::HostError;
use super::http::HttpState;
use super::session::Host;
use crate::edge::coop_ws::output_log::OutputLog;
use crate::edge::coop_ws::{
    self, frame, Handler, Outgoing, Push, Request, SharedLog, Source, Subs,
};
use crate::edge::error::ApiError;
use crate::edge::headers::bearer;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use protocol::coop::{self, WsEvent, WsRequest};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Minimum spacing of `screen` pushes.
const SCREEN_INTERVAL: Duration = Duration::from_millis(100); // 100 ms

/// Query parameters of `/ws`.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// Comma-separated subscription flags.
    subscribe: Option<String>,
    /// The session's token.
    token: Option<String>,
    /// When present, no synthetic transition is sent on connect.
    since_seq: Option<String>,
}

/// `GET /ws`: checks the token (query or bearer) and upgrades.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    State(state): State<HttpState>,
) -> Response {
    let host = state.host;
    let authed = match query.token.or_else(|| bearer(&headers)) {
        Some(token) if host.token_matches(&token) => true,
        Some(_) => return HostError::Unauthorized.into_response(),
        None => !host.requires_token(),
    };
    let subs = Subs::parse(query.subscribe.as_deref().unwrap_or(""));
    let synthetic = query.since_seq.is_none();
    ws.max_message_size(coop_ws::MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| connection(socket, host, subs, authed, synthetic))
}

async fn connection(socket: WebSocket, host: Arc<Host>, subs: Subs, authed: bool, synthetic: bool) {
    let _guard = host.client_guard();
    let requests = Requests {
        host: Arc::clone(&host),
        authed,
    };
    let pushes = Pushes::new(host, subs, synthetic);
    coop_ws::serve(socket, coop_ws::queue(), requests, pushes, subs, authed).await;
}

/// The host's answers to one connection's requests.
struct Requests {
    host: Arc<Host>,
    /// Until `auth` (or a token at the upgrade) only a few requests are open.
    authed: bool,
}

impl Handler for Requests {
    async fn handle(&mut self, request: Request) -> Option<Outgoing> {
        let (request, request_id) = match request {
            Request::Replay(ask) if self.authed => return Some(Outgoing::Replay(ask)),
            Request::Replay(ask) => (None, ask.request_id),
            Request::Other { request_id, body } => match Request::typed(body, request_id) {
                Ok((request, request_id)) => (Some(request), request_id),
                Err(bad) => return Some(Outgoing::Frame(bad.frame())),
            },
        };
        let id = request_id.as_ref();
        let open = matches!(
            request,
            Some(
                WsRequest::Ping
                    | WsRequest::HealthGet
                    | WsRequest::ReadyGet
                    | WsRequest::Auth { .. }
            )
        );
        let request = match request {
            Some(request) if self.authed || open => request,
            _ => {
                return Some(Outgoing::Frame(frame::error(
                    "UNAUTHORIZED",
                    "authenticate first",
                    id,
                )))
            }
        };
        let reply = match request {
            WsRequest::Auth { token } if !self.host.token_matches(&token) => {
                Err(HostError::Unauthorized)
            }
            // coop answers a successful `auth` with nothing.
            WsRequest::Auth { .. } if self.authed => return None,
            WsRequest::Auth { .. } => {
                self.authed = true;
                return Some(Outgoing::Activate);
            }
            request => answer(&self.host, request).await,
        };
        let frame = match reply {
            Ok(event) => frame::encode(&event, id),
            Err(e) => {
                let e = ApiError::from(e);
                frame::error(e.status_and_code().1, e.to_string(), id)
            }
        };
        Some(Outgoing::Frame(frame))
    }
}

/// The answer to `session:switch` and `session:restart`.
const SCHEDULED: coop::Scheduled = coop::Scheduled { scheduled: true };

/// The reply to a request other than `auth` and `replay:get`, as coop 0.11.25 names it.
async fn answer(host: &Arc<Host>, request: WsRequest) -> Result<WsEvent, HostError> {
    Ok(match request {
        WsRequest::ScreenGet => WsEvent::Screen((*host.screen()).clone()),
        WsRequest::StatusGet => WsEvent::Status(host.status()),
        WsRequest::HealthGet => WsEvent::Health(host.health()),
        WsRequest::ReadyGet => WsEvent::Ready(coop::Ready {
            ready: host.state.is_ready(),
        }),
        WsRequest::AgentGet => WsEvent::Agent(host.agent()),
        WsRequest::InputSend(input) => WsEvent::InputSent(host.input_text(input).await?),
        WsRequest::InputSendRaw(input) => WsEvent::InputSent(host.input_raw(input).await?),
        WsRequest::KeysSend(input) => WsEvent::InputSent(host.input_keys(input).await?),
        WsRequest::Resize(size) => WsEvent::Resized(host.resize(size)?),
        WsRequest::SignalSend(sig) => WsEvent::SignalSent(host.signal(&sig)?),
        WsRequest::Shutdown => WsEvent::Shutdown(host.request_shutdown()),
        WsRequest::Ping => WsEvent::Pong,
        WsRequest::UsageGet => WsEvent::Usage(host.usage()),
        WsRequest::ProfilesList => WsEvent::Profiles(host.profiles()),
        WsRequest::ProfilesRegister(body) => {
            let count = host.register_profiles(body)?.registered;
            WsEvent::ProfilesRegistered(coop::ProfilesCount { count })
        }
        WsRequest::ProfilesMode => WsEvent::ProfilesMode(host.profile_mode()),
        WsRequest::ProfilesModeSet(mode) => WsEvent::ProfilesMode(host.set_profile_mode(mode)?),
        WsRequest::SessionSwitch(body) => {
            host.request_switch(body)?;
            WsEvent::SessionSwitched(SCHEDULED)
        }
        WsRequest::SessionRestart => {
            host.request_restart()?;
            WsEvent::SessionRestarted(SCHEDULED)
        }
        WsRequest::Nudge(body) => WsEvent::Nudged(host.nudge(body).await?),
        WsRequest::Respond(body) => WsEvent::Response(host.respond(body).await?),
        WsRequest::StopConfigGet => WsEvent::StopConfig(coop::WithConfig {
            config: host.stop_config(),
        }),
        WsRequest::StopConfigPut(put) => WsEvent::StopConfigured(host.set_stop_config(put.config)?),
        WsRequest::StopResolve(resolve) => WsEvent::StopResolved(host.resolve_stop(resolve)?),
        WsRequest::StartConfigGet => WsEvent::StartConfig(coop::WithConfig {
            config: host.start_config(),
        }),
        WsRequest::StartConfigPut(put) => {
            WsEvent::StartConfigured(host.set_start_config(put.config)?)
        }
        WsRequest::TranscriptList => WsEvent::TranscriptList(host.transcripts()),
        WsRequest::TranscriptGet(ask) => WsEvent::TranscriptContent(host.transcript(ask)?),
        WsRequest::TranscriptCatchup => WsEvent::TranscriptCatchup(host.transcript_catchup()),
        // Answered by the caller and the writer.
        WsRequest::Auth { .. } | WsRequest::ReplayGet { .. } => {
            return Err(HostError::Internal("not answered here".into()))
        }
    })
}

/// The host's own pushes to one connection: screen (at most every [`SCREEN_INTERVAL`]),
/// transitions and the exit.
struct Pushes {
    host: Arc<Host>,
    subs: Subs,
    /// Send a synthetic transition on activation (no `since_seq`).
    synthetic: bool,
    screen_rx: watch::Receiver<u64>,
    exit_rx: watch::Receiver<Option<coop::Exit>>,
    /// Subscribed on activation.
    transitions: Option<broadcast::Receiver<coop::Transition>>,
    screen_due: Option<Instant>,
    last_screen_seq: Option<u64>,
    last_screen_at: Option<Instant>,
    exit_sent: bool,
}

impl Pushes {
    fn new(host: Arc<Host>, subs: Subs, synthetic: bool) -> Self {
        Self {
            screen_rx: host.subscribe_screen(),
            exit_rx: host.state.subscribe_exit(),
            host,
            subs,
            synthetic,
            transitions: None,
            screen_due: None,
            last_screen_seq: None,
            last_screen_at: None,
            exit_sent: false,
        }
    }

    /// The `exit` frame, once per child: a switch that restarts the child clears the exit,
    /// and the next child's exit is sent again.
    fn exit(&mut self, exit: Option<coop::Exit>) -> Option<String> {
        match exit {
            Some(exit) if !self.exit_sent => {
                self.exit_sent = true;
                Some(frame::encode(&WsEvent::Exit(exit), None))
            }
            Some(_) => None,
            None => {
                self.exit_sent = false;
                None
            }
        }
    }

    fn screen(&mut self) -> Option<String> {
        let snap = self.host.screen();
        if self.last_screen_seq == Some(snap.seq) {
            return None;
        }
        self.last_screen_seq = Some(snap.seq);
        self.last_screen_at = Some(Instant::now());
        Some(frame::encode(&WsEvent::Screen((*snap).clone()), None))
    }
}

fn transition(t: coop::Transition) -> Push {
    Push::Frame(frame::encode(&WsEvent::Transition(t), None))
}

impl Source for Pushes {
    type Ring = OutputLog;
    type End = u64;

    fn log(&self) -> &SharedLog<OutputLog, u64> {
        self.host.output_log()
    }

    fn closed(&self) -> BoxFuture<'static, &'static str> {
        let stopping = self.host.stopping.clone();
        async move {
            stopping.cancelled().await;
            "session ended"
        }
        .boxed()
    }

    fn lag_bytes(&self) -> Option<u64> {
        Some(self.host.ws_lag_bytes())
    }

    fn activate(&mut self) -> Vec<String> {
        let mut frames = Vec::new();
        if self.subs.state {
            self.transitions = Some(self.host.state.subscribe());
            if self.synthetic {
                let t = self.host.state.synthetic();
                frames.push(frame::encode(&WsEvent::Transition(t), None));
            }
        }
        if self.subs.screen {
            self.screen_due = Some(Instant::now());
        }
        if self.subs.pty || self.subs.state {
            let exit = self.host.state.exit();
            frames.extend(self.exit(exit));
        }
        frames
    }

    async fn next_push(&mut self) -> Push {
        let wants_exit = self.subs.pty || self.subs.state;
        tokio::select! {
            biased;
            () = sleep_until_opt(self.screen_due) => {
                self.screen_due = None;
                self.screen_rx.borrow_and_update();
                self.screen().map_or(Push::Idle, Push::Frame)
            }
            changed = self.screen_rx.changed(), if self.subs.screen && self.screen_due.is_none() => {
                if changed.is_err() {
                    return Push::End;
                }
                let earliest = self.last_screen_at.map_or_else(Instant::now, |t| t + SCREEN_INTERVAL);
                self.screen_due = Some(earliest.max(Instant::now()));
                Push::Idle
            }
            t = recv_opt(&mut self.transitions) => match t {
                Ok(t) => transition(t),
                // Fell behind the transitions: the current state stands for the ones missed.
                Err(broadcast::error::RecvError::Lagged(_)) => transition(self.host.state.synthetic()),
                Err(broadcast::error::RecvError::Closed) => {
                    self.transitions = None;
                    Push::Idle
                }
            },
            changed = self.exit_rx.changed(), if wants_exit => {
                if changed.is_err() {
                    return Push::End;
                }
                let exit = *self.exit_rx.borrow_and_update();
                self.exit(exit).map_or(Push::Idle, Push::Frame)
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
