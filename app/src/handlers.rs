//! Browser callbacks owned by Rust: every closure handed to JS is held by a value that
//! detaches it and frees it when dropped, so no handler outlives what it serves and a
//! reconnect or an unmount never leaks one.
//!
//! - [`Listener`]: one `addEventListener` registration, removed on drop.
//! - [`own_until_cleanup`]: keeps listeners until the current reactive owner is cleaned up
//!   (the component unmounts, or the effect that installed them runs again).
//! - [`Socket`]: a `WebSocket` with its `open`/`message`/`close` handlers; dropping it
//!   detaches them, closes the socket if it is still open, and frees them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventTarget, MessageEvent, WebSocket};

/// An event listener on a target, removed when dropped.
pub struct Listener {
    target: EventTarget,
    event: &'static str,
    /// Registered for the capture phase (it runs before the target's own listeners).
    capture: bool,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Adds `handler` for `event` on `target`; the event is handed over as `E`
    /// (`KeyboardEvent`, `DragEvent`, …, or `web_sys::Event`).
    pub fn new<E: JsCast + 'static>(
        target: &EventTarget,
        event: &'static str,
        handler: impl FnMut(E) + 'static,
    ) -> Self {
        Self::install(target, event, false, handler)
    }

    /// [`Listener::new`] for the capture phase: `handler` sees the event before the element
    /// it is meant for (xterm.js, say) and may stop it.
    pub fn capture<E: JsCast + 'static>(
        target: &EventTarget,
        event: &'static str,
        handler: impl FnMut(E) + 'static,
    ) -> Self {
        Self::install(target, event, true, handler)
    }

    fn install<E: JsCast + 'static>(
        target: &EventTarget,
        event: &'static str,
        capture: bool,
        mut handler: impl FnMut(E) + 'static,
    ) -> Self {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            handler(ev.unchecked_into::<E>());
        });
        let _ = target.add_event_listener_with_callback_and_bool(
            event,
            callback.as_ref().unchecked_ref(),
            capture,
        );
        Self {
            target: target.clone(),
            event,
            capture,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback_and_bool(
            self.event,
            self.callback.as_ref().unchecked_ref(),
            self.capture,
        );
    }
}

thread_local! {
    /// Listeners waiting for their owner's cleanup, by key.
    static OWNED: RefCell<HashMap<u64, Vec<Listener>>> = RefCell::new(HashMap::new());
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
}

/// Keeps `listeners` installed until the current reactive owner is cleaned up, then removes
/// them. Call it from a component body or an effect.
pub fn own_until_cleanup(listeners: Vec<Listener>) {
    let key = NEXT_KEY.get();
    NEXT_KEY.set(key + 1);
    OWNED.with_borrow_mut(|owned| owned.insert(key, listeners));
    // The key is plain data, so the cleanup is `Send` while the listeners stay on this thread.
    leptos::prelude::on_cleanup(move || {
        let removed = OWNED.with_borrow_mut(|owned| owned.remove(&key));
        drop(removed);
    });
}

/// A WebSocket and the handlers it calls; see the module documentation.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Socket {
    /// Installs the three handlers on `ws`.
    pub fn new(
        ws: WebSocket,
        on_open: impl FnMut() + 'static,
        on_message: impl FnMut(MessageEvent) + 'static,
        on_close: impl FnMut() + 'static,
    ) -> Self {
        let on_open = Closure::<dyn FnMut()>::new(on_open);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(on_message);
        let on_close = Closure::<dyn FnMut()>::new(on_close);
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        }
    }

    /// The socket.
    pub fn ws(&self) -> &WebSocket {
        &self.ws
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Detached first, so closing calls nothing and JS keeps no reference to the closures.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // A no-op when the socket is already closing or closed (the reconnect case).
        let _ = self.ws.close();
    }
}
