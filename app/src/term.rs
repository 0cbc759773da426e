//! The focused session's terminal: an xterm.js instance driven from Rust (a thin
//! `wasm_bindgen` binding, `term/browser/xterm.rs`),
//! fed by the mux's `/ws/{id}` bridge.
//!
//! On every (re)connect it sends `resize`, then `replay:get` from the last offset it
//! rendered; `pty` frames are cut against the same offset ([`crate::stream::Cursor`]), so a
//! reconnect or a reload shows every byte exactly once. It keeps reconnecting while the
//! session is away (a hub restart), and resumes where it stopped. Keystrokes go as
//! `input:send:raw`. The inspector's requests travel on the same socket ([`request_focused`]).

use leptos::{html, prelude::*};
use protocol::coop::Agent;

/// Lines of scrollback the terminal keeps.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const SCROLLBACK_LINES: u32 = 10_000;

/// State of the terminal's socket, shown in the overlay's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermStatus {
    /// Opening the socket; nothing replayed yet (the overlay shows the cached screen).
    Connecting,
    /// Replayed and following live output.
    Live,
    /// The socket dropped; a reconnect is scheduled.
    Reconnecting,
    /// The session's program exited.
    Exited,
}

impl TermStatus {
    /// Short name, used as `data-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::Exited => "exited",
        }
    }
}

/// What the terminal reports to the overlay and the inspector.
#[derive(Debug, Clone, Copy)]
pub struct TermSignals {
    /// Socket state.
    pub status: RwSignal<TermStatus>,
    /// Latest `agent:get` answer.
    pub agent: RwSignal<Option<Agent>>,
    /// Replies and errors worth showing, newest last.
    pub log: RwSignal<Vec<String>>,
}

/// Entries the event log keeps.
const LOG_ENTRIES: usize = 50;

impl TermSignals {
    /// Fresh signals.
    pub fn new() -> Self {
        Self {
            status: RwSignal::new(TermStatus::Connecting),
            agent: RwSignal::new(None),
            log: RwSignal::new(Vec::new()),
        }
    }

    /// Appends a line to the log (keeping the last [`LOG_ENTRIES`]).
    pub fn note(&self, line: String) {
        self.log.update(|log| {
            log.push(line);
            let excess = log.len().saturating_sub(LOG_ENTRIES);
            log.drain(..excess);
        });
    }
}

impl Default for TermSignals {
    fn default() -> Self {
        Self::new()
    }
}

/// The answer to a request on the session's socket: the reply frame, or why there is none
/// (`CODE: message` from the session, or the connection's own failure).
pub type Reply = Result<serde_json::Value, String>;

/// The terminal of session `id`.
#[component]
pub fn PtyView(id: String, signals: TermSignals) -> impl IntoView {
    let host = NodeRef::<html::Div>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(el) = host.get() {
            let handle = browser::open(id.clone(), el.into(), signals);
            on_cleanup(move || browser::close(handle));
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, signals);
    view! { <div class="terminal-host" node_ref=host></div> }
}

/// Writes `bytes` to the focused session as typed input; false when no terminal is open.
pub fn type_into_focused(bytes: &[u8]) -> bool {
    #[cfg(feature = "hydrate")]
    {
        browser::with_focused(|conn| conn.send_input(bytes)).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = bytes;
        false
    }
}

/// Sends `request` (a `/ws` request, e.g. a `WsRequest`) on the focused terminal's socket
/// with a request id of its own; `on_reply` gets the session's answer, or the reason there is
/// none (not connected, connection lost, no answer in time).
pub fn request_focused(request: &impl serde::Serialize, on_reply: impl FnOnce(Reply) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let on_reply: Box<dyn FnOnce(Reply)> = Box::new(on_reply);
        match browser::focused() {
            Some(conn) => conn.request(request, on_reply),
            None => on_reply(Err("no terminal open".into())),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = request;
        on_reply(Err("no terminal open".into()));
    }
}

/// Shows `text` in red in the focused terminal (local only, never sent to the program).
pub fn show_error(text: &str) {
    #[cfg(feature = "hydrate")]
    browser::with_focused(|conn| conn.term.write(&format!("\r\n\x1b[31m{text}\x1b[0m\r\n")));
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

#[cfg(feature = "hydrate")]
mod browser;
