//! The dashboard's live connection to `/ws/mux`: connection state and the session list,
//! reconnecting with backoff whenever the socket drops.

use crate::protocol::mux::{MuxEvent, SessionSummary};
use leptos::prelude::*;

/// State of the `/ws/mux` connection, shown in the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Opening the socket (also what the server renders).
    Connecting,
    /// The socket is open.
    Connected,
    /// The socket closed; a retry is scheduled.
    Retrying,
}

impl ConnState {
    /// Short machine-friendly name, used as a `data-state` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Retrying => "retrying",
        }
    }

    /// What the status bar says.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "connecting…",
            Self::Connected => "connected",
            Self::Retrying => "disconnected — retrying",
        }
    }
}

/// Reactive view of the live feed.
#[derive(Debug, Clone, Copy)]
pub struct LiveFeed {
    /// Connection state.
    pub conn: RwSignal<ConnState>,
    /// Latest session list, once a `sessions` snapshot arrived.
    pub sessions: RwSignal<Option<Vec<SessionSummary>>>,
}

impl LiveFeed {
    /// Folds one `/ws/mux` event into the session list.
    pub fn apply(&self, event: MuxEvent) {
        match event {
            MuxEvent::Sessions { sessions } => self.sessions.set(Some(sessions)),
            MuxEvent::SessionOnline {
                session,
                url,
                metadata,
            } => self.sessions.update(|list| {
                let list = list.get_or_insert_with(Vec::new);
                if !list.iter().any(|s| s.id == session) {
                    list.push(SessionSummary {
                        id: session,
                        url,
                        state: None,
                        metadata,
                    });
                }
            }),
            MuxEvent::SessionOffline { session } => self.sessions.update(|list| {
                if let Some(list) = list {
                    list.retain(|s| s.id != session);
                }
            }),
            _ => {}
        }
    }
}

/// Creates the feed and, in the browser, opens the socket.
pub fn use_mux_feed() -> LiveFeed {
    let feed = LiveFeed {
        conn: RwSignal::new(ConnState::Connecting),
        sessions: RwSignal::new(None),
    };
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::connect(feed, browser::FIRST_RETRY_MS));
    feed
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ConnState, LiveFeed};
    use crate::protocol::mux::MuxEvent;
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{MessageEvent, WebSocket};

    pub const FIRST_RETRY_MS: u64 = 500;
    const MAX_RETRY_MS: u64 = 5_000;

    fn mux_ws_url() -> Option<String> {
        let loc = web_sys::window()?.location();
        let scheme = if loc.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/ws/mux", loc.host().ok()?))
    }

    /// Opens `/ws/mux`; on close, retries after `retry_ms` (doubling up to a cap).
    pub fn connect(feed: LiveFeed, retry_ms: u64) {
        let Some(url) = mux_ws_url() else { return };
        let Ok(ws) = WebSocket::new(&url) else {
            schedule_retry(feed, retry_ms);
            return;
        };
        feed.conn.set(ConnState::Connecting);

        let on_open = Closure::<dyn FnMut()>::new(move || feed.conn.set(ConnState::Connected));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            if let Ok(event) = serde_json::from_str::<MuxEvent>(&text) {
                feed.apply(event);
            }
        });
        let on_close = Closure::<dyn FnMut()>::new(move || {
            feed.conn.set(ConnState::Retrying);
            schedule_retry(feed, (retry_ms * 2).min(MAX_RETRY_MS));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket owns its handlers for the page's lifetime.
        on_open.forget();
        on_message.forget();
        on_close.forget();
    }

    fn schedule_retry(feed: LiveFeed, retry_ms: u64) {
        set_timeout(
            move || connect(feed, retry_ms),
            Duration::from_millis(retry_ms),
        );
    }
}
