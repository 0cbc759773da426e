//! Discovery of sessions that announce themselves on NATS (docs/scaling.md, "Discovery over
//! NATS"): `{prefix}.session.{id}.announce` registers, refreshes or removes a session,
//! `.status` fills its status cache and `.state` (a transition, or the child's exit) becomes a
//! `transition` on `/ws/mux`. A session without an announce for the timeout is removed.

use crate::hub::nats::{Link, Settings};
use crate::hub::registry::{now_ms, Registry};
use futures_util::StreamExt;
use protocol::coop::WsEvent;
use protocol::mux::{CachedStatus, MuxEvent, MuxTransition};
use protocol::nats::{Announce, AnnounceEvent, SessionState, SessionSubject};
use protocol::AgentState;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Longest gap between two announce-timeout sweeps.
const EXPIRY_SWEEP_MAX: Duration = Duration::from_secs(15);

/// Subscribes once connected (the client resubscribes by itself after a reconnect) and
/// handles messages until shutdown; sweeps expired announces meanwhile.
pub async fn run(
    link: Arc<Link>,
    settings: Settings,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) {
    tokio::spawn(expire(
        registry.clone(),
        settings.announce_timeout,
        shutdown.clone(),
    ));
    let Some(client) = link.client(&shutdown).await else {
        return;
    };
    let mut streams = Vec::new();
    for prefix in &settings.discovery_prefixes {
        match client.subscribe(format!("{prefix}.session.>")).await {
            Ok(subscriber) => {
                let prefix = prefix.clone();
                streams.push(subscriber.map(move |m| (prefix.clone(), m)));
            }
            Err(err) => tracing::error!(%err, prefix, "cannot subscribe on NATS"),
        }
    }
    let mut messages = futures_util::stream::select_all(streams);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = messages.next() => next,
        };
        let Some((prefix, message)) = next else {
            return;
        };
        handle(&registry, &prefix, &message.subject, &message.payload);
    }
}

/// One message from `{prefix}.session.>`. Anything malformed is ignored (and logged): an
/// announce on a shared bus is not ours to answer.
pub fn handle(registry: &Arc<Registry>, prefix: &str, subject: &str, payload: &[u8]) {
    let Some(SessionSubject { id, kind }) = SessionSubject::parse(prefix, subject) else {
        return;
    };
    match kind {
        "announce" => announce(registry, prefix, id, payload),
        "status" => status(registry, id, payload),
        "state" => state(registry, id, payload),
        _ => {}
    }
}

fn announce(registry: &Arc<Registry>, prefix: &str, id: &str, payload: &[u8]) {
    let announce: Announce = match serde_json::from_slice(payload) {
        Ok(a) => a,
        Err(err) => {
            tracing::debug!(session = id, %err, "ignoring a malformed NATS announce");
            return;
        }
    };
    match announce.event {
        AnnounceEvent::Online | AnnounceEvent::Heartbeat => {
            let metadata = Value::Object(announce.metadata);
            if let Err(err) = registry.announce(id, announce.url.as_deref(), metadata, prefix) {
                tracing::warn!(session = id, %err, "NATS announce refused");
            }
        }
        AnnounceEvent::Offline => {
            if let Ok(session) = registry.get(id) {
                if session.nats_prefix().is_some() && registry.evict(&session) {
                    tracing::info!(session = id, "session went offline on NATS");
                }
            }
        }
    }
}

fn status(registry: &Registry, id: &str, payload: &[u8]) {
    let Ok(session) = registry.get(id) else {
        return;
    };
    let Ok(mut status) = serde_json::from_slice::<CachedStatus>(payload) else {
        tracing::debug!(session = id, "ignoring a malformed NATS status");
        return;
    };
    // coop's relay sends no `fetched_at`: the time of receipt is when the mux read it.
    status.fetched_at = now_ms();
    session.store_status(status, &session.url());
}

fn state(registry: &Registry, id: &str, payload: &[u8]) {
    // Only sessions we know: a stranger's transitions would reach every dashboard.
    let Ok(session) = registry.get(id) else {
        return;
    };
    // A session with a url has an upstream event feed over HTTP (while watched), which
    // already delivers its transitions.
    if !session.url().is_empty() {
        return;
    }
    // coop 0.11.25 announces the child's exit there as an `exit` push, not a transition.
    if let Ok(WsEvent::Exit(_)) = serde_json::from_slice::<WsEvent>(payload) {
        let prev = session
            .cached_status()
            .map_or(AgentState::Unknown, |s| s.value.state);
        // coop's `exit` carries no `seq`.
        let exited = MuxTransition::exited(session.id.clone(), prev, 0);
        let _ = registry.event_sender().send(MuxEvent::Transition(exited));
        return;
    }
    let Ok(message) = serde_json::from_slice::<SessionState>(payload) else {
        tracing::debug!(session = id, "ignoring a malformed NATS state");
        return;
    };
    let t = message.transition;
    let _ = registry
        .event_sender()
        .send(MuxEvent::Transition(MuxTransition {
            session: session.id.clone(),
            prev: t.prev,
            next: t.next,
            seq: t.seq,
            cause: t.cause.filter(|c| !c.is_empty()),
            last_message: t.last_message,
            prompt: t.prompt.filter(|p| !p.is_null()),
            error_detail: t.error_detail,
            error_category: t.error_category,
            parked_reason: message
                .extra
                .get("parked_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            resume_at_epoch_ms: message
                .extra
                .get("resume_at_epoch_ms")
                .and_then(Value::as_u64),
        }));
}

/// Removes NATS sessions whose last announce is older than `timeout`.
async fn expire(registry: Arc<Registry>, timeout: Duration, shutdown: CancellationToken) {
    let mut ticks =
        tokio::time::interval((timeout / 4).clamp(Duration::from_millis(1), EXPIRY_SWEEP_MAX));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for session in registry.sessions() {
            if session.nats_prefix().is_some()
                && session.since_announce() > timeout
                && (registry.evict_judged(&session, |s| s.since_announce() > timeout)).await
            {
                tracing::info!(session = %session.id, ?timeout, "NATS session removed: no announce within the timeout");
            }
        }
    }
}
