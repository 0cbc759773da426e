//! What the dashboard needs from xterm.js beyond the `xterm-js-rs` binding: writing bytes
//! (with a callback once parsed), reading whether the screen shows anything, and painting a
//! session's `/screen` when its replay shows nothing.

use protocol::mux::CachedScreen;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use xterm_js_rs::Terminal;

#[wasm_bindgen]
extern "C" {
    /// The `write` of an xterm.js 5+ `Terminal`, which takes bytes (the binding's `writeUtf8`
    /// is gone from xterm.js), and its `buffer`.
    type XtermExtra;
    #[wasm_bindgen(method, js_name = "write")]
    fn write_bytes(this: &XtermExtra, data: &js_sys::Uint8Array);
    #[wasm_bindgen(method, js_name = "write")]
    fn write_bytes_then(this: &XtermExtra, data: &js_sys::Uint8Array, parsed: &JsValue);
    #[wasm_bindgen(method, getter)]
    fn buffer(this: &XtermExtra) -> BufferNamespace;

    type BufferNamespace;
    #[wasm_bindgen(method, getter)]
    fn active(this: &BufferNamespace) -> Buffer;

    type Buffer;
    #[wasm_bindgen(method, getter)]
    fn length(this: &Buffer) -> u32;
    #[wasm_bindgen(method, js_name = "getLine")]
    fn get_line(this: &Buffer, y: u32) -> Option<BufferLine>;

    type BufferLine;
    #[wasm_bindgen(method, js_name = "translateToString")]
    fn translate_to_string(this: &BufferLine, trim_right: bool) -> String;
}

fn extra(term: &Terminal) -> &XtermExtra {
    term.unchecked_ref::<XtermExtra>()
}

/// Queues `bytes` for the terminal. The array is a copy: xterm queues it and parses later.
pub fn write(term: &Terminal, bytes: &[u8]) {
    extra(term).write_bytes(&js_sys::Uint8Array::from(bytes));
}

/// [`write`], then `parsed` once xterm has parsed the bytes.
pub fn write_then(term: &Terminal, bytes: &[u8], parsed: impl FnOnce() + 'static) {
    let parsed = wasm_bindgen::closure::Closure::once_into_js(parsed);
    extra(term).write_bytes_then(&js_sys::Uint8Array::from(bytes), &parsed);
}

/// Whether the terminal shows nothing but blanks (scrollback included).
pub fn is_blank(term: &Terminal) -> bool {
    let buffer = extra(term).buffer().active();
    (0..buffer.length()).all(|y| {
        buffer
            .get_line(y)
            .is_none_or(|line| line.translate_to_string(true).trim().is_empty())
    })
}

/// The escape sequences that paint `screen` on a terminal: the alternate screen when the
/// session uses it, then each row (coloured when the screen has its ANSI rows).
pub fn screen_bytes(screen: &CachedScreen) -> String {
    let rows = if screen.ansi.len() == screen.lines.len() {
        &screen.ansi
    } else {
        &screen.lines
    };
    let mut out = String::new();
    if screen.alt_screen {
        out.push_str("\x1b[?1049h");
    }
    out.push_str("\x1b[H\x1b[2J");
    out.push_str(&rows.join("\x1b[0m\r\n"));
    out
}
