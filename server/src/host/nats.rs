//! `coopmux session` on NATS, as coop 0.11.25 does it (docs/scaling.md, "Our own host over
//! NATS"). With `COOP_NATS_URL` it publishes its event stream under `COOP_NATS_PREFIX`
//! (default `coop.events`): `{prefix}.state` carries every `transition` and `exit` push, tagged
//! by `event` (a plain command has nothing for `prompt`, `hook`, `stop`, `start`, `usage` or
//! `profile`). With a non-empty `COOP_NATS_RELAY` too, it also publishes
//! `session.{id}.announce` (online at start, heartbeat every 30 s, offline when stopping),
//! `.status` every 2 s and `.state` (the same pushes with the id and metadata), and takes
//! `.input` (`{text,enter}`), `.nudge` and `.respond` (as their HTTP endpoints: refused without
//! an agent driver, as coop does for a plain command; Claude Code's prompts are answered). Auth: `COOP_NATS_TOKEN`, `COOP_NATS_USER` +
//! `COOP_NATS_PASSWORD`, or `COOP_NATS_CREDS`.

use super::register::{metadata, SelfInfo};
use super::session::Host;
use crate::edge::nats::{Link, NatsAuth};
use async_nats::{Client, Subscriber};
use futures_util::StreamExt;
use protocol::coop::{self, WsEvent};
use protocol::nats::{
    event_subject, session_subject, Announce, AnnounceEvent, SessionEvent, COOP_PREFIX,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Between two `heartbeat` announces, as coop.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);
/// Between two `status` messages, as coop.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// What the environment asks for.
struct Config {
    url: String,
    auth: NatsAuth,
    prefix: String,
    id: String,
    /// `COOP_NATS_RELAY`: the per-session subjects too, not only the event stream.
    relay: bool,
    session_url: Option<String>,
    metadata: Map<String, Value>,
}

impl Config {
    fn from_env(
        get: impl Fn(&str) -> Option<String>,
        host: &Host,
        me: &SelfInfo<'_>,
    ) -> Option<Self> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let url = var("COOP_NATS_URL")?;
        let auth = if let Some(path) = var("COOP_NATS_CREDS") {
            NatsAuth::Creds(path.into())
        } else if let (Some(user), Some(password)) =
            (var("COOP_NATS_USER"), var("COOP_NATS_PASSWORD"))
        {
            NatsAuth::UserPassword(user, password)
        } else if let Some(token) = var("COOP_NATS_TOKEN") {
            NatsAuth::Token(token)
        } else {
            NatsAuth::None
        };
        let mut metadata = metadata(me.agent, me.command, me.labels);
        // Named fields of the messages win over labels of the same name.
        for key in ["event", "session_id", "ts", "url"] {
            metadata.remove(key);
        }
        Some(Self {
            url,
            auth,
            prefix: var("COOP_NATS_PREFIX").unwrap_or_else(|| COOP_PREFIX.to_owned()),
            id: host.session_id.clone(),
            relay: var("COOP_NATS_RELAY").is_some(),
            session_url: var("COOP_URL"),
            metadata,
        })
    }

    fn subject(&self, kind: &str) -> String {
        session_subject(&self.prefix, &self.id, kind)
    }

    fn announce(&self, event: AnnounceEvent) -> Announce {
        Announce {
            event,
            session_id: self.id.clone(),
            ts: crate::edge::clock::now_ms(),
            url: self.session_url.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// Starts publishing when the environment asks for it; with the relay it announces `offline`
/// when the host starts stopping.
pub fn spawn(host: &Arc<Host>, me: &SelfInfo<'_>) -> Option<JoinHandle<()>> {
    let config = Config::from_env(|k| std::env::var(k).ok(), host, me)?;
    Some(tokio::spawn(run(host.clone(), config)))
}

/// The relay's subscriptions (`None` without the relay: nothing arrives).
struct Inbound {
    input: Option<Subscriber>,
    nudge: Option<Subscriber>,
    respond: Option<Subscriber>,
}

impl Inbound {
    async fn subscribe(client: &Client, config: &Config) -> Result<Self, async_nats::Error> {
        if !config.relay {
            return Ok(Self {
                input: None,
                nudge: None,
                respond: None,
            });
        }
        let subscribe = |kind: &str| client.subscribe(config.subject(kind));
        Ok(Self {
            input: Some(subscribe("input").await?),
            nudge: Some(subscribe("nudge").await?),
            respond: Some(subscribe("respond").await?),
        })
    }
}

async fn next(subscription: &mut Option<Subscriber>) -> Option<async_nats::Message> {
    match subscription {
        Some(subscription) => subscription.next().await,
        None => std::future::pending().await,
    }
}

/// Publishes typed bodies as JSON.
struct Publisher<'a> {
    client: Client,
    config: &'a Config,
}

impl Publisher<'_> {
    async fn send(&self, subject: String, body: &impl Serialize) {
        // Serialising these types cannot fail.
        let payload = serde_json::to_vec(body).unwrap_or_default();
        if let Err(err) = self.client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(%err, subject, "NATS publish failed");
        }
    }

    /// A `transition` or `exit`: on the event stream, and with the relay on `.state` too.
    async fn state(&self, event: WsEvent) {
        self.send(event_subject(&self.config.prefix, "state"), &event)
            .await;
        if self.config.relay {
            let message = SessionEvent {
                event: &event,
                session_id: &self.config.id,
                metadata: &self.config.metadata,
            };
            self.send(self.config.subject("state"), &message).await;
        }
    }

    async fn announce(&self, event: AnnounceEvent) {
        if self.config.relay {
            let subject = self.config.subject("announce");
            self.send(subject, &self.config.announce(event)).await;
        }
    }
}

async fn run(host: Arc<Host>, config: Config) {
    let stopping = host.stopping.clone();
    let link = Link::new(config.url.clone(), config.auth.clone());
    link.spawn(stopping.clone());
    let Some(client) = link.client(&stopping).await else {
        return;
    };
    let Ok(mut inbound) = Inbound::subscribe(&client, &config).await else {
        tracing::error!("cannot subscribe to this session's NATS subjects");
        return;
    };
    let mut transitions = host.state.subscribe();
    let mut exits = host.state.subscribe_exit();
    let out = Publisher {
        client: client.clone(),
        config: &config,
    };
    out.announce(AnnounceEvent::Online).await;
    tracing::info!(prefix = %config.prefix, relay = config.relay, "publishing on NATS");
    let mut heartbeat = tokio::time::interval(ANNOUNCE_EVERY);
    let mut status = tokio::time::interval(STATUS_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Skip);
    status.set_missed_tick_behavior(MissedTickBehavior::Skip);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            () = stopping.cancelled() => break,
            _ = heartbeat.tick(), if config.relay => out.announce(AnnounceEvent::Heartbeat).await,
            _ = status.tick(), if config.relay => {
                out.send(config.subject("status"), &host.status()).await;
            }
            transition = transitions.recv() => match transition {
                Ok(transition) => out.state(WsEvent::Transition(transition)).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = exits.changed() => {
                if changed.is_err() {
                    break;
                }
                // `None` again is a switch starting the next child.
                let exit = *exits.borrow_and_update();
                if let Some(exit) = exit {
                    out.state(WsEvent::Exit(exit)).await;
                }
            }
            Some(m) = next(&mut inbound.input) => on_input(&host, &m.payload).await,
            Some(m) = next(&mut inbound.nudge) => on_nudge(&host, &m.payload).await,
            Some(m) = next(&mut inbound.respond) => on_respond(&host, &m.payload).await,
        }
    }
    out.announce(AnnounceEvent::Offline).await;
    let _ = client.flush().await;
}

/// `.input`: only `{text,enter}`; anything else is dropped, as coop does.
async fn on_input(host: &Arc<Host>, payload: &[u8]) {
    let Ok(input) = serde_json::from_slice::<coop::InputText>(payload) else {
        tracing::debug!("dropping NATS input that is not {{text,enter}}");
        return;
    };
    if let Err(err) = host.input_text(input).await {
        tracing::warn!(%err, "NATS input not written");
    }
}

/// `.nudge`: as `POST /agent/nudge` (refused for a plain command, as coop does); NATS has
/// no reply.
async fn on_nudge(host: &Arc<Host>, payload: &[u8]) {
    let Ok(request) = serde_json::from_slice::<coop::NudgeRequest>(payload) else {
        return;
    };
    if let Err(refusal) = host.nudge(request).await {
        tracing::info!(kind = "nudge", %refusal, "NATS request not carried out");
    }
}

/// `.respond`: as `POST /agent/respond`; NATS has no reply.
async fn on_respond(host: &Arc<Host>, payload: &[u8]) {
    let Ok(request) = serde_json::from_slice::<coop::RespondRequest>(payload) else {
        return;
    };
    if let Err(refusal) = host.respond(request).await {
        tracing::info!(kind = "respond", %refusal, "NATS request not carried out");
    }
}
