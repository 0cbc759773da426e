//! Thin bindings to the parts of xterm.js the dashboard uses, and loading it on demand.
//!
//! xterm.js (about 90 KB compressed) is not part of the dashboard's first load: the first
//! terminal opened imports `xterm` and `xterm-addon-fit` with a dynamic `import()` (resolved
//! through the page's import map to `public/vendor`) and adds xterm's stylesheet, see
//! docs/architecture.md.

use js_sys::{Array, Function, Object, Reflect};
use protocol::mux::CachedScreen;
use std::cell::RefCell;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};

#[wasm_bindgen(inline_js = "export function load_xterm() { \
    const href = document.querySelector('meta[name=coopmux-xterm-css]')?.content; \
    const css = !href ? null : new Promise((done) => { \
        const link = document.createElement('link'); \
        link.rel = 'stylesheet'; link.href = href; link.onload = link.onerror = done; \
        document.head.insertBefore(link, document.getElementById('leptos')); }); \
    return Promise.all([import('xterm'), import('xterm-addon-fit'), css]) \
        .then(([x, f]) => [x.Terminal, f.FitAddon]); }")]
extern "C" {
    /// Imports both modules and loads xterm's stylesheet (named in the page's
    /// `coopmux-xterm-css` meta, ahead of our own), all at once; resolves to `[Terminal, FitAddon]` (the classes).
    fn load_xterm() -> js_sys::Promise;
}

#[wasm_bindgen]
extern "C" {
    /// An xterm.js `Terminal`.
    #[derive(Clone)]
    pub type Terminal;
    #[wasm_bindgen(method, js_name = "loadAddon")]
    pub fn load_addon(this: &Terminal, addon: &FitAddon);
    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);
    #[wasm_bindgen(method)]
    pub fn reset(this: &Terminal);
    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);
    /// Writes text (escape sequences included).
    #[wasm_bindgen(method)]
    pub fn write(this: &Terminal, data: &str);
    #[wasm_bindgen(method, js_name = "write")]
    fn write_bytes(this: &Terminal, data: &js_sys::Uint8Array);
    #[wasm_bindgen(method, js_name = "write")]
    fn write_bytes_then(this: &Terminal, data: &js_sys::Uint8Array, parsed: &JsValue);
    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u32;
    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u32;
    #[wasm_bindgen(method, js_name = "onData")]
    pub fn on_data(this: &Terminal, handler: &Function) -> Disposable;
    #[wasm_bindgen(method, js_name = "onResize")]
    pub fn on_resize(this: &Terminal, handler: &Function) -> Disposable;
    #[wasm_bindgen(method, getter)]
    fn buffer(this: &Terminal) -> BufferNamespace;

    /// The fit addon: sizes the terminal to its element.
    #[derive(Clone)]
    pub type FitAddon;
    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);

    /// What xterm.js returns for an event subscription.
    pub type Disposable;
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Disposable);

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

thread_local! {
    /// The `Terminal` and `FitAddon` classes once imported.
    static CLASSES: RefCell<Option<(Function, Function)>> = const { RefCell::new(None) };
}

/// Imports xterm.js unless it already was; false when the import failed.
pub async fn load() -> bool {
    if CLASSES.with_borrow(Option::is_some) {
        return true;
    }
    let Ok(pair) = wasm_bindgen_futures::JsFuture::from(load_xterm()).await else {
        return false;
    };
    let pair: Array = pair.unchecked_into();
    let classes = (pair.get(0).unchecked_into(), pair.get(1).unchecked_into());
    CLASSES.with_borrow_mut(|c| *c = Some(classes));
    true
}

/// A terminal with `options` and its fit addon loaded; `None` before [`load`] succeeded.
pub fn new_terminal(options: &Object) -> Option<(Terminal, FitAddon)> {
    let (terminal, fit) = CLASSES.with_borrow(|c| c.clone())?;
    let term: Terminal = Reflect::construct(&terminal, &Array::of1(options))
        .ok()?
        .unchecked_into();
    let fit: FitAddon = Reflect::construct(&fit, &Array::new())
        .ok()?
        .unchecked_into();
    term.load_addon(&fit);
    Some((term, fit))
}

/// Queues `bytes` for the terminal. The array is a copy: xterm queues it and parses later.
pub fn write(term: &Terminal, bytes: &[u8]) {
    term.write_bytes(&js_sys::Uint8Array::from(bytes));
}

/// [`write`], then `parsed` once xterm has parsed the bytes.
pub fn write_then(term: &Terminal, bytes: &[u8], parsed: impl FnOnce() + 'static) {
    let parsed = wasm_bindgen::closure::Closure::once_into_js(parsed);
    term.write_bytes_then(&js_sys::Uint8Array::from(bytes), &parsed);
}

/// Whether the terminal shows nothing but blanks (scrollback included).
pub fn is_blank(term: &Terminal) -> bool {
    let buffer = term.buffer().active();
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
