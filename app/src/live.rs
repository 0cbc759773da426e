//! The dashboard's live connection to `/ws/mux`: connection state and the session list,
//! reconnecting with backoff whenever the socket drops.

use crate::model::Fleet;
use leptos::prelude::*;
use protocol::mux::MuxRequest;

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
    /// The sessions, alerts and change counters folded from the events.
    pub fleet: Fleet,
}

/// Creates the feed and, in the browser, opens the socket.
pub fn use_mux_feed() -> LiveFeed {
    let feed = LiveFeed {
        conn: RwSignal::new(ConnState::Connecting),
        fleet: Fleet::new(),
    };
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::connect(feed, browser::FIRST_RETRY_MS));
    feed
}

/// Sends a request on `/ws/mux`; false when the socket is not open (nothing is queued).
pub fn send(request: &MuxRequest) -> bool {
    #[cfg(feature = "hydrate")]
    {
        browser::send(request)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = request;
        false
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ConnState, LiveFeed};
    use crate::model::FollowUp;
    use leptos::prelude::*;
    use protocol::mux::{MuxEvent, MuxRequest};
    use std::cell::RefCell;
    use std::time::Duration;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{MessageEvent, WebSocket};

    pub const FIRST_RETRY_MS: u64 = 500;
    const MAX_RETRY_MS: u64 = 5_000;

    thread_local! {
        static SOCKET: RefCell<Option<WebSocket>> = const { RefCell::new(None) };
    }

    /// `ws://host/path` (or `wss://`) for the page's own origin.
    pub fn ws_url(path: &str) -> Option<String> {
        let loc = web_sys::window()?.location();
        let scheme = if loc.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}{path}", loc.host().ok()?))
    }

    pub fn send(request: &MuxRequest) -> bool {
        let Ok(text) = serde_json::to_string(request) else {
            return false;
        };
        SOCKET.with_borrow(|socket| match socket {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => ws.send_with_str(&text).is_ok(),
            _ => false,
        })
    }

    /// Opens `/ws/mux`; on close, retries after `retry_ms` (doubling up to a cap). The server
    /// opens every connection with a `sessions` snapshot, which re-subscribes everything.
    pub fn connect(feed: LiveFeed, retry_ms: u64) {
        let Some(url) = ws_url("/ws/mux") else { return };
        let Ok(ws) = WebSocket::new(&url) else {
            schedule_retry(feed, retry_ms);
            return;
        };
        feed.conn.set(ConnState::Connecting);

        let opened = std::rc::Rc::new(std::cell::Cell::new(false));
        let was_opened = opened.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            opened.set(true);
            feed.conn.set(ConnState::Connected);
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            match crate::model::decode(&text) {
                Some(MuxEvent::ScreenBatch { screens }) => super::previews::queue(feed, screens),
                Some(event) => {
                    if let FollowUp::Subscribe(sessions) = feed.fleet.apply(event) {
                        send(&MuxRequest::Subscribe { sessions });
                    }
                }
                None => {}
            }
        });
        let on_close = Closure::<dyn FnMut()>::new(move || {
            feed.conn.set(ConnState::Retrying);
            SOCKET.with_borrow_mut(|s| *s = None);
            // A socket that was up starts the backoff over; a failed attempt doubles it.
            let next = if was_opened.get() {
                FIRST_RETRY_MS
            } else {
                (retry_ms * 2).min(MAX_RETRY_MS)
            };
            schedule_retry(feed, next);
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket owns its handlers for the page's lifetime.
        on_open.forget();
        on_message.forget();
        on_close.forget();
        SOCKET.with_borrow_mut(|s| *s = Some(ws));
    }

    fn schedule_retry(feed: LiveFeed, retry_ms: u64) {
        set_timeout(
            move || connect(feed, retry_ms),
            Duration::from_millis(retry_ms),
        );
    }
}

#[cfg(feature = "hydrate")]
pub use browser::ws_url;

/// Tile previews are applied a few per animation frame: a batch of 50 changed screens at once
/// is one long main-thread task (ANSI to HTML, then style and layout of every tile).
#[cfg(feature = "hydrate")]
mod previews {
    use super::LiveFeed;
    use leptos::prelude::request_animation_frame;
    use protocol::mux::{MuxEvent, ScreenEntry};
    use std::cell::{Cell, RefCell};

    /// Previews applied per animation frame.
    const PER_FRAME: usize = 8;

    thread_local! {
        static PENDING: RefCell<Vec<ScreenEntry>> = const { RefCell::new(Vec::new()) };
        static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    }

    /// Queues screens; a newer screen of a session replaces its queued one.
    pub fn queue(feed: LiveFeed, screens: Vec<ScreenEntry>) {
        PENDING.with_borrow_mut(|queue| {
            for screen in screens {
                match queue.iter_mut().find(|q| q.session == screen.session) {
                    Some(slot) => *slot = screen,
                    None => queue.push(screen),
                }
            }
        });
        schedule(feed);
    }

    fn schedule(feed: LiveFeed) {
        if SCHEDULED.replace(true) {
            return;
        }
        request_animation_frame(move || {
            SCHEDULED.set(false);
            let chunk: Vec<ScreenEntry> = PENDING.with_borrow_mut(|q| {
                let n = q.len().min(PER_FRAME);
                q.drain(..n).collect()
            });
            feed.fleet.apply(MuxEvent::ScreenBatch { screens: chunk });
            if PENDING.with_borrow(|q| !q.is_empty()) {
                schedule(feed);
            }
        });
    }
}
