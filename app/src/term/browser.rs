//! The browser half of the terminal: xterm.js, the `/ws/{id}` socket, reconnects, and the
//! requests that travel on it.

mod rpc;
mod xterm;

use super::{TermSignals, TermStatus, SCROLLBACK_LINES};
use crate::handlers::{Listener, Socket};
use crate::live::{self, ws_url};
use crate::stream::{Cursor, Step};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use leptos::prelude::*;
use protocol::coop::{Correlated, InputRaw, Resize, WsEvent, WsRequest};
use protocol::mux::MuxRequest;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{MessageEvent, WebSocket};
use xterm::{write, Disposable, FitAddon, Terminal};

/// The terminal's font stack: keep in step with `--mono` in style/main.css.
const MONO_FONTS: &str =
    "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace, 'coopmux symbols'";

/// First reconnect delay, in milliseconds (doubles up to [`MAX_RETRY_MS`]).
const FIRST_RETRY_MS: u64 = 250;
/// Longest reconnect delay, in milliseconds: also how long a session that comes back after a
/// hub restart may wait to be shown again.
const MAX_RETRY_MS: u64 = 4_000;

thread_local! {
    /// Open terminals by handle; the newest is the focused one (the dashboard shows one).
    static OPEN: RefCell<Vec<(u64, Rc<Conn>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_HANDLE: Cell<u64> = const { Cell::new(1) };
    /// Handles opened while xterm.js still loads; closing one before it loaded removes it.
    static LOADING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The focused terminal, if any.
pub fn focused() -> Option<Rc<Conn>> {
    OPEN.with_borrow(|open| open.last().map(|(_, c)| c.clone()))
}

/// Runs `f` on the focused terminal, if any.
pub fn with_focused<T>(f: impl FnOnce(&Conn) -> T) -> Option<T> {
    let conn = focused()?;
    Some(f(&conn))
}

/// Opens a terminal once xterm.js is loaded (imported on first use); the handle (plain data,
/// so reactive cleanups can hold it) closes it.
pub fn open(id: String, parent: web_sys::HtmlElement, signals: TermSignals) -> u64 {
    let handle = NEXT_HANDLE.get();
    NEXT_HANDLE.set(handle + 1);
    LOADING.with_borrow_mut(|l| l.push(handle));
    leptos::task::spawn_local(async move {
        let loaded = xterm::load().await;
        let wanted = LOADING.with_borrow_mut(|l| {
            let i = l.iter().position(|h| *h == handle)?;
            Some(l.remove(i))
        });
        if wanted.is_none() {
            return;
        }
        match Conn::open(id, parent, signals) {
            Some(conn) if loaded => OPEN.with_borrow_mut(|open| open.push((handle, conn))),
            _ => signals.note("could not load the terminal (xterm.js)".to_owned()),
        }
    });
    handle
}

/// Closes the terminal behind `handle`.
pub fn close(handle: u64) {
    LOADING.with_borrow_mut(|l| l.retain(|h| *h != handle));
    let conn = OPEN.with_borrow_mut(|open| {
        let i = open.iter().position(|(h, _)| *h == handle)?;
        Some(open.remove(i).1)
    });
    if let Some(conn) = conn {
        conn.dispose();
    }
}

/// A handler subscribed to an xterm.js event: disposing the subscription on drop detaches
/// it before the closure is freed.
struct Subscription {
    disposable: Disposable,
    _callback: Box<dyn std::any::Any>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.disposable.dispose();
    }
}

/// The terminal's own handlers: keystrokes, its resizes, and the window's resizes.
struct Bindings {
    _on_data: Subscription,
    _on_resize: Subscription,
    _on_window: Option<Listener>,
}

/// One terminal and its socket.
pub struct Conn {
    id: String,
    pub(super) term: Terminal,
    fit: FitAddon,
    cursor: RefCell<Cursor>,
    /// The current socket with its handlers; a reconnect replaces it, dropping the old ones.
    socket: RefCell<Option<Socket>>,
    /// Set when the overlay closed: no more reconnects.
    disposed: Cell<bool>,
    retry_ms: Cell<u64>,
    /// Requests waiting for their answer.
    pending: rpc::Pending,
    signals: TermSignals,
    /// Handlers bound to the terminal and the window, dropped by [`Conn::dispose`].
    bindings: RefCell<Option<Bindings>>,
}

impl Conn {
    /// Opens a terminal inside `parent` and connects it to session `id`.
    /// `None` until xterm.js is loaded.
    fn open(id: String, parent: web_sys::HtmlElement, signals: TermSignals) -> Option<Rc<Self>> {
        let options = js_sys::Object::new();
        let set = |obj: &js_sys::Object, key: &str, value: JsValue| {
            let _ = js_sys::Reflect::set(obj, &key.into(), &value);
        };
        set(&options, "scrollback", SCROLLBACK_LINES.into());
        set(&options, "cursorBlink", true.into());
        set(&options, "fontSize", 13.into());
        // `--mono` of style/main.css: our symbols font last, for the marks agents print that
        // the viewer's monospace fonts lack (xterm.js's DOM renderer falls back per glyph).
        set(&options, "fontFamily", MONO_FONTS.into());
        let theme = js_sys::Object::new();
        set(&theme, "background", "#0b0d12".into());
        set(&options, "theme", theme.into());
        let (term, fit) = xterm::new_terminal(&options)?;
        term.open(&parent);
        fit.fit();
        let conn = Rc::new(Self {
            id,
            term,
            fit,
            cursor: RefCell::new(Cursor::new()),
            socket: RefCell::new(None),
            disposed: Cell::new(false),
            retry_ms: Cell::new(FIRST_RETRY_MS),
            pending: rpc::Pending::default(),
            signals,
            bindings: RefCell::new(None),
        });
        conn.bind_terminal();
        Self::connect(&conn);
        Some(conn)
    }

    /// Closes the socket for good, removes every handler and frees the terminal.
    fn dispose(&self) {
        self.disposed.set(true);
        self.pending.fail_all("the terminal closed");
        // Dropping the socket detaches its handlers before it closes (no reconnect).
        let socket = self.socket.borrow_mut().take();
        drop(socket);
        let bindings = self.bindings.borrow_mut().take();
        drop(bindings);
        self.term.dispose();
    }

    /// Keystrokes, resizes and window resizes.
    fn bind_terminal(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        let on_data = Closure::<dyn FnMut(String)>::new(move |data: String| {
            if let Some(me) = me.upgrade() {
                me.send_input(data.as_bytes());
            }
        });
        let on_data = Subscription {
            disposable: self.term.on_data(on_data.as_ref().unchecked_ref()),
            _callback: Box::new(on_data),
        };
        let me = Rc::downgrade(self);
        let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |_size: JsValue| {
            if let Some(me) = me.upgrade() {
                me.send_resize();
            }
        });
        let on_resize = Subscription {
            disposable: self.term.on_resize(on_resize.as_ref().unchecked_ref()),
            _callback: Box::new(on_resize),
        };
        let me = Rc::downgrade(self);
        let on_window = web_sys::window().map(|window| {
            Listener::new(&window, "resize", move |_: web_sys::Event| {
                if let Some(me) = me.upgrade() {
                    me.fit.fit();
                }
            })
        });
        // The layout settles after mount; fit again then.
        let me = Rc::downgrade(self);
        set_timeout(
            move || {
                if let Some(me) = me.upgrade() {
                    me.fit.fit();
                }
            },
            Duration::from_millis(50),
        );
        *self.bindings.borrow_mut() = Some(Bindings {
            _on_data: on_data,
            _on_resize: on_resize,
            _on_window: on_window,
        });
    }

    fn connect(me: &Rc<Self>) {
        if me.disposed.get() {
            return;
        }
        let Some(url) = ws_url(&format!("/ws/{}?subscribe=pty,state", me.id)) else {
            return;
        };
        let Ok(ws) = crate::login::open_socket(&url) else {
            Self::schedule_reconnect(me);
            return;
        };
        let weak = Rc::downgrade(me);
        let on_open = move || {
            if let Some(me) = weak.upgrade() {
                me.retry_ms.set(FIRST_RETRY_MS);
                me.send_resize();
                let offset = me.cursor.borrow().resume_offset();
                me.send(&WsRequest::ReplayGet {
                    offset,
                    limit: None,
                });
                me.refresh_agent();
            }
        };
        let weak = Rc::downgrade(me);
        let on_message = move |ev: MessageEvent| {
            if let (Some(me), Some(text)) = (weak.upgrade(), ev.data().as_string()) {
                me.on_frame(&text);
            }
        };
        let weak = Rc::downgrade(me);
        let on_close = move || {
            if let Some(me) = weak.upgrade() {
                me.pending
                    .fail_all("the connection to the session was lost");
                // Before the first replay the overlay keeps showing the cached screen.
                let status = me.signals.status.get_untracked();
                if !me.disposed.get() && status == TermStatus::Live {
                    me.signals.status.set(TermStatus::Reconnecting);
                }
                Self::schedule_reconnect(&me);
            }
        };
        let socket = Socket::new(ws, on_open, on_message, on_close);
        // The previous socket (closed, since a reconnect follows its close) and its handlers
        // are dropped here, outside their own invocation.
        let previous = me.socket.borrow_mut().replace(socket);
        drop(previous);
    }

    fn schedule_reconnect(me: &Rc<Self>) {
        if me.disposed.get() {
            return;
        }
        let delay = me.retry_ms.get();
        me.retry_ms.set((delay * 2).min(MAX_RETRY_MS));
        let weak = Rc::downgrade(me);
        set_timeout(
            move || {
                if let Some(me) = weak.upgrade() {
                    Self::connect(&me);
                }
            },
            Duration::from_millis(delay),
        );
    }

    fn on_frame(self: &Rc<Self>, text: &str) {
        // `pty` frames are nearly all the traffic: decode them without serde's buffering of
        // internally tagged enums.
        if text.starts_with(r#"{"event":"pty""#) {
            #[derive(serde::Deserialize)]
            struct Pty {
                data: String,
                offset: u64,
            }
            if let Ok(Pty { data, offset }) = serde_json::from_str(text) {
                self.on_pty(&data, offset);
            }
            return;
        }
        let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
            return;
        };
        // A reply to a request of the inspector goes to it (and is still handled below).
        let answered =
            rpc::reply_of(&frame).is_some_and(|(id, reply)| self.pending.answer(&id, reply));
        let Ok(event) = serde_json::from_value::<WsEvent>(Value::Object(frame)) else {
            return;
        };
        match event {
            WsEvent::Replay(r) => {
                let Ok(data) = B64.decode(r.data.as_bytes()) else {
                    return;
                };
                let step = {
                    let mut cursor = self.cursor.borrow_mut();
                    cursor.restarted(r.total_written);
                    cursor.replay(r.offset, &data)
                };
                self.apply(step);
                if self.signals.status.get_untracked() != TermStatus::Exited {
                    self.signals.status.set(TermStatus::Live);
                }
            }
            WsEvent::Pty { data, offset } => self.on_pty(&data, offset),
            WsEvent::Agent(agent) => self.signals.agent.set(Some(agent)),
            WsEvent::Transition(t) => {
                self.signals
                    .note(format!("transition {} → {}", t.prev, t.next));
                if t.next != protocol::AgentState::Exited
                    && self.signals.status.get_untracked() == TermStatus::Exited
                {
                    // The program was started again (a restart or a switch).
                    self.signals.status.set(TermStatus::Live);
                }
                self.refresh_agent();
            }
            WsEvent::Exit(exit) => {
                self.signals.status.set(TermStatus::Exited);
                let code = exit.code.map_or("signal".to_owned(), |c| c.to_string());
                self.signals.note(format!("exited ({code})"));
            }
            WsEvent::Error { code, message } if !answered => {
                self.signals.note(format!("{code}: {message}"));
            }
            _ => {}
        }
    }

    fn on_pty(self: &Rc<Self>, data: &str, offset: u64) {
        if let Ok(data) = B64.decode(data.as_bytes()) {
            let step = self.cursor.borrow_mut().pty(offset, &data);
            self.apply(step);
        }
    }

    fn apply(self: &Rc<Self>, step: Step<'_>) {
        match step {
            Step::Skip => {}
            Step::Write(bytes) => write(&self.term, bytes),
            Step::ResetAndWrite(bytes) => {
                self.term.reset();
                // A replay can be blank though the screen is not: a full-screen program whose
                // drawing fell out of the output log. Then paint the session's `/screen`.
                let me = Rc::downgrade(self);
                xterm::write_then(&self.term, bytes, move || {
                    if let Some(me) = me.upgrade() {
                        if !me.disposed.get() && xterm::is_blank(&me.term) {
                            me.paint_screen();
                        }
                    }
                });
                self.term.focus();
            }
            Step::Gap { from, .. } => {
                self.send(&WsRequest::ReplayGet {
                    offset: from,
                    limit: None,
                });
            }
            Step::Dropped { lost, data } => {
                self.term.write(&format!(
                    "\r\n\x1b[33m[coopmux: {lost} bytes of output lost]\x1b[0m\r\n"
                ));
                write(&self.term, data);
            }
        }
    }

    /// Paints the session's current screen (the mux's cache of its `/screen`).
    fn paint_screen(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        let id = self.id.clone();
        leptos::task::spawn_local(async move {
            let Ok(screen) = crate::api::session_screen(id).await else {
                return;
            };
            if let Some(me) = me.upgrade() {
                if !me.disposed.get() && xterm::is_blank(&me.term) {
                    me.term.write(&xterm::screen_bytes(&screen));
                }
            }
        });
    }

    /// Sends typed bytes: on the session socket when open, else through `/ws/mux`.
    pub fn send_input(&self, bytes: &[u8]) -> bool {
        let raw = WsRequest::InputSendRaw(InputRaw {
            data: B64.encode(bytes),
        });
        if self.send(&raw) {
            return true;
        }
        live::send(&MuxRequest::InputSend {
            session: self.id.clone(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            enter: false,
        })
    }

    fn send_resize(&self) {
        let size = (
            u16::try_from(self.term.cols()),
            u16::try_from(self.term.rows()),
        );
        if let (Ok(cols), Ok(rows)) = size {
            if cols > 0 && rows > 0 {
                self.send(&WsRequest::Resize(Resize { cols, rows }));
            }
        }
    }

    /// Asks for the agent (answered by an `agent` frame that fills [`TermSignals::agent`]).
    fn refresh_agent(&self) {
        let ask = Correlated {
            message: WsRequest::AgentGet,
            request_id: Some("dash-agent".into()),
        };
        self.send(&ask);
    }

    /// Sends `request` with a request id of its own; `on_reply` gets the answer, or the reason
    /// there is none.
    pub fn request(self: &Rc<Self>, request: &impl serde::Serialize, on_reply: rpc::OnReply) {
        let Some((id, frame)) = self.pending.frame(request) else {
            on_reply(Err("the request cannot be encoded".into()));
            return;
        };
        if !self.send_text(&frame) {
            on_reply(Err("not connected to the session".into()));
            return;
        }
        self.pending.wait(id.clone(), on_reply);
        let me = Rc::downgrade(self);
        set_timeout(
            move || {
                if let Some(me) = me.upgrade() {
                    let why = format!("no answer within {} s", rpc::TIMEOUT_MS / 1000);
                    me.pending.answer(&id, Err(why));
                }
            },
            Duration::from_millis(rpc::TIMEOUT_MS),
        );
    }

    /// Sends a message as JSON; false when the socket is not open.
    fn send(&self, message: &impl serde::Serialize) -> bool {
        serde_json::to_string(message).is_ok_and(|text| self.send_text(&text))
    }

    fn send_text(&self, text: &str) -> bool {
        self.socket.borrow().as_ref().is_some_and(|s| {
            let ws = s.ws();
            ws.ready_state() == WebSocket::OPEN && ws.send_with_str(text).is_ok()
        })
    }
}
