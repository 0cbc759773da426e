//! `coopmux session` on NATS, as coop does it (docs/scaling.md, "Our own host over NATS"):
//! with `COOP_NATS_URL` and a non-empty `COOP_NATS_RELAY` it publishes, under
//! `COOP_NATS_PREFIX` (default `coop.events`), `session.{id}.announce` (online at start,
//! heartbeat every 30 s, offline when stopping), `.status` every 2 s and `.state` on every
//! transition, and takes `.input` (`{text,enter}`), `.nudge` and `.respond`.
//! Auth: `COOP_NATS_TOKEN`, `COOP_NATS_USER` + `COOP_NATS_PASSWORD`, or `COOP_NATS_CREDS`.

use super::host::Host;
use super::register::{metadata, SelfInfo};
use crate::nats::{Link, NatsAuth};
use futures_util::StreamExt;
use protocol::coop;
use protocol::nats::{session_subject, Announce, AnnounceEvent, SessionState, COOP_PREFIX};
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
/// What an empty nudge says, as coop.
const DEFAULT_NUDGE: &str = "continue";

/// What the environment asks for.
struct Config {
    url: String,
    auth: NatsAuth,
    prefix: String,
    id: String,
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
        var("COOP_NATS_RELAY")?;
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
        let mut metadata = metadata(me.command, me.labels);
        // Named fields of the messages win over labels of the same name.
        for key in ["event", "session_id", "ts", "url"] {
            metadata.remove(key);
        }
        Some(Self {
            url,
            auth,
            prefix: var("COOP_NATS_PREFIX").unwrap_or_else(|| COOP_PREFIX.to_owned()),
            id: host.session_id.clone(),
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
            ts: crate::registry::now_ms(),
            url: self.session_url.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// Starts the relay when the environment asks for it; it publishes `offline` when the host
/// starts stopping.
pub fn spawn(host: &Arc<Host>, me: &SelfInfo<'_>) -> Option<JoinHandle<()>> {
    let config = Config::from_env(|k| std::env::var(k).ok(), host, me)?;
    Some(tokio::spawn(run(host.clone(), config)))
}

async fn run(host: Arc<Host>, config: Config) {
    let stopping = host.stopping.clone();
    let link = Link::new(config.url.clone(), config.auth.clone());
    link.spawn(stopping.clone());
    let Some(client) = link.client(&stopping).await else {
        return;
    };
    let subscribe = |kind: &str| client.subscribe(config.subject(kind));
    let (Ok(mut input), Ok(mut nudge), Ok(mut respond)) = (
        subscribe("input").await,
        subscribe("nudge").await,
        subscribe("respond").await,
    ) else {
        tracing::error!("cannot subscribe to this session's NATS subjects");
        return;
    };
    let mut transitions = host.state.subscribe();
    let publish = |kind: &'static str, body: &dyn ErasedBody| {
        let subject = config.subject(kind);
        let payload = body.to_json();
        let client = client.clone();
        async move {
            if let Err(err) = client.publish(subject, payload.into()).await {
                tracing::warn!(%err, kind, "NATS publish failed");
            }
        }
    };
    publish("announce", &config.announce(AnnounceEvent::Online)).await;
    tracing::info!(prefix = %config.prefix, "announced on NATS");
    let mut heartbeat = tokio::time::interval(ANNOUNCE_EVERY);
    let mut status = tokio::time::interval(STATUS_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Skip);
    status.set_missed_tick_behavior(MissedTickBehavior::Skip);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            () = stopping.cancelled() => break,
            _ = heartbeat.tick() => publish("announce", &config.announce(AnnounceEvent::Heartbeat)).await,
            _ = status.tick() => publish("status", &host.status()).await,
            transition = transitions.recv() => match transition {
                Ok(transition) => publish("state", &SessionState {
                    transition,
                    session_id: config.id.clone(),
                    extra: config.metadata.clone(),
                }).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(m) = input.next() => on_input(&host, &m.payload).await,
            Some(m) = nudge.next() => on_nudge(&host, &m.payload).await,
            Some(m) = respond.next() => on_respond(&m.payload),
        }
    }
    publish("announce", &config.announce(AnnounceEvent::Offline)).await;
    let _ = client.flush().await;
}

/// Typed bodies published as JSON (serialising these cannot fail).
trait ErasedBody {
    fn to_json(&self) -> Vec<u8>;
}

impl<T: Serialize> ErasedBody for T {
    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
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

/// `.nudge`: the message typed and entered (empty means "continue").
async fn on_nudge(host: &Arc<Host>, payload: &[u8]) {
    let Ok(coop::NudgeRequest { message }) = serde_json::from_slice(payload) else {
        return;
    };
    let text = if message.is_empty() {
        DEFAULT_NUDGE.to_owned()
    } else {
        message
    };
    if let Err(err) = host.input_text(coop::InputText { text, enter: true }).await {
        tracing::warn!(%err, "NATS nudge not written");
    }
}

/// `.respond`: this host detects no prompts, so there is nothing to answer (coop's HTTP
/// endpoint says `NO_PROMPT`; NATS has no reply).
fn on_respond(payload: &[u8]) {
    if serde_json::from_slice::<coop::RespondRequest>(payload).is_ok() {
        tracing::info!("NATS respond ignored: no prompt to answer");
    }
}
