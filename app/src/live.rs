//! The dashboard's live connection to `/ws/mux`: connection state and the session list,
//! reconnecting with backoff whenever the socket drops.

pub mod decode;

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
    // The socket lives as long as the component that called this: the effect's cleanup
    // closes it and stops the retries.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::start(feed));
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
    use crate::handlers::Socket;
    use crate::model::FollowUp;
    use leptos::prelude::*;
    use protocol::mux::{MuxEvent, MuxRequest};
    use std::cell::{Cell, RefCell};
    use std::time::Duration;
    use web_sys::{MessageEvent, WebSocket};

    pub const FIRST_RETRY_MS: u64 = 500;
    const MAX_RETRY_MS: u64 = 5_000;

    thread_local! {
        /// The current socket with its handlers; replacing or clearing it drops them.
        static SOCKET: RefCell<Option<Socket>> = const { RefCell::new(None) };
        /// Bumped by [`stop`]: connects and retries of an older generation do nothing.
        static GENERATION: Cell<u64> = const { Cell::new(0) };
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
            Some(s) if s.ws().ready_state() == WebSocket::OPEN => {
                s.ws().send_with_str(&text).is_ok()
            }
            _ => false,
        })
    }

    /// Connects now, and closes the socket (stopping the retries) when the current reactive
    /// owner is cleaned up.
    pub fn start(feed: LiveFeed) {
        connect(feed, FIRST_RETRY_MS, GENERATION.get());
        on_cleanup(stop);
    }

    /// Closes the socket and cancels every pending retry.
    fn stop() {
        GENERATION.set(GENERATION.get() + 1);
        let socket = SOCKET.with_borrow_mut(Option::take);
        drop(socket);
    }

    /// Opens `/ws/mux`; on close, retries after `retry_ms` (doubling up to a cap). The server
    /// opens every connection with a `sessions` snapshot, which re-subscribes everything.
    fn connect(feed: LiveFeed, retry_ms: u64, generation: u64) {
        if GENERATION.get() != generation {
            return;
        }
        let Some(url) = ws_url("/ws/mux") else { return };
        let Ok(ws) = crate::login::open_socket(&url) else {
            schedule_retry(feed, retry_ms, generation);
            return;
        };
        feed.conn.set(ConnState::Connecting);

        let opened = std::rc::Rc::new(Cell::new(false));
        let was_opened = opened.clone();
        let on_open = move || {
            opened.set(true);
            feed.conn.set(ConnState::Connected);
        };
        let on_message = move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            match super::decode::event(&text) {
                Some(MuxEvent::ScreenBatch { screens }) => super::previews::queue(feed, screens),
                Some(event) => follow_up(feed, feed.fleet.apply(event)),
                None => {}
            }
        };
        let on_close = move || {
            feed.conn.set(ConnState::Retrying);
            // The closed socket stays in `SOCKET` (sends to it fail) until the retry replaces
            // it, which drops these handlers outside their own invocation.
            // A socket that was up starts the backoff over; a failed attempt doubles it.
            let next = if was_opened.get() {
                FIRST_RETRY_MS
            } else {
                (retry_ms * 2).min(MAX_RETRY_MS)
            };
            schedule_retry(feed, next, generation);
        };
        let socket = Socket::new(ws, on_open, on_message, on_close);
        // Replacing the previous socket drops its handlers.
        let previous = SOCKET.with_borrow_mut(|s| s.replace(socket));
        drop(previous);
    }

    /// Does what folding an event asked for. After a snapshot (every connect) every session's
    /// state is read at once, the credential alerts from the accounts' status, and the inbox:
    /// the feed only tells of changes, and a hub that just restarted knows no states yet.
    fn follow_up(feed: LiveFeed, follow: FollowUp) {
        let refresh = match follow {
            FollowUp::None => return,
            FollowUp::Subscribe(sessions) => {
                send(&MuxRequest::Subscribe { sessions });
                return;
            }
            FollowUp::Resync(sessions) => {
                send(&MuxRequest::Subscribe {
                    sessions: sessions.clone(),
                });
                leptos::task::spawn_local(async move {
                    if let Ok(accounts) = crate::rest::credential_status().await {
                        feed.fleet.alerts_from_status(&accounts);
                    }
                });
                // Items come and go as events; what waits already is read once per connect.
                leptos::task::spawn_local(crate::rest::inbox::refresh(feed.fleet.inbox));
                sessions
            }
            FollowUp::Refresh(sessions) => sessions,
        };
        if refresh.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            if let Ok(states) = crate::rest::session_states(refresh).await {
                for (id, state, exit_code) in states {
                    feed.fleet.apply_state(&id, state, exit_code);
                }
            }
        });
    }

    fn schedule_retry(feed: LiveFeed, retry_ms: u64, generation: u64) {
        set_timeout(
            move || connect(feed, retry_ms, generation),
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
