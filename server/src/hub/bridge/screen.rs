//! The bridge's second upstream connection, `/ws?subscribe=screen`, open while at least one
//! client wants screen pushes.
//!
//! The main connection (`pty,state`) never changes its flags: a client that joins or leaves
//! with `screen` starts or stops this one instead, so no other client's requests, input or
//! output are ever touched by it. Only `screen` pushes are taken from it; requests never use it.

use super::upstream::{connect, ws_url};
use super::Bridge;
use crate::edge::backoff::{self, Backoff};
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
}

/// Whether screen pushes flow, and for how many clients.
#[derive(Debug, Default)]
pub(super) struct ScreenFeed {
    clients: usize,
    /// Cancels the connection's task; `None` while no client wants screens.
    running: Option<CancellationToken>,
}

impl ScreenFeed {
    /// A client that wants screens joined; returns the token of a task to start, if none runs.
    pub(super) fn join(&mut self, parent: &CancellationToken) -> Option<CancellationToken> {
        self.clients += 1;
        if self.running.is_some() {
            return None;
        }
        let token = parent.child_token();
        self.running = Some(token.clone());
        Some(token)
    }

    /// A client that wanted screens left; the connection stops with the last one. Returns
    /// whether it stopped.
    pub(super) fn leave(&mut self) -> bool {
        self.clients = self.clients.saturating_sub(1);
        if self.clients > 0 {
            return false;
        }
        if let Some(token) = self.running.take() {
            token.cancel();
        }
        true
    }
}

/// Keeps the screen connection up (reconnecting with backoff) until `stop` is cancelled.
pub(super) async fn run(bridge: Arc<Bridge>, stop: CancellationToken) {
    let mut backoff = Backoff::new(backoff::UPSTREAM_RECONNECT);
    loop {
        let connected = async {
            let url = ws_url(&bridge.session.connection(), "screen")?;
            connect(&url).await
        };
        let socket = tokio::select! {
            () = stop.cancelled() => return,
            socket = connected => socket,
        };
        if let Ok(mut socket) = socket {
            backoff.reset();
            loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        let _ = socket.close(None).await;
                        return;
                    }
                    msg = socket.next() => match msg {
                        Some(Ok(Message::Text(text))) => {
                            let is_screen = serde_json::from_str::<Head<'_>>(text.as_str())
                                .is_ok_and(|h| h.event == "screen");
                            if is_screen {
                                bridge.push_screen(text.as_str());
                            }
                        }
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }
        tracing::debug!(session = %bridge.session.id, "bridge screen connection down; reconnecting");
        if !backoff.wait(&stop).await {
            return;
        }
    }
}
