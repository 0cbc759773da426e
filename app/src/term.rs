//! The terminal view: an xterm.js terminal driven from Rust through `xterm-js-rs`.

use leptos::{html, prelude::*};

/// Lines of scrollback each terminal keeps.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const SCROLLBACK_LINES: u32 = 10_000;

/// A terminal element; in the browser an xterm.js instance is opened inside it and shows
/// `banner`.
#[component]
pub fn TerminalView(#[prop(into)] banner: String) -> impl IntoView {
    let host = NodeRef::<html::Div>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(el) = host.get() {
            open_terminal(el.into(), &banner);
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = banner;
    view! { <div class="terminal-host" node_ref=host></div> }
}

#[cfg(feature = "hydrate")]
fn open_terminal(parent: web_sys::HtmlElement, banner: &str) {
    use wasm_bindgen::JsCast;
    use xterm_js_rs::{addons::fit::FitAddon, Terminal, TerminalOptions};

    let options: TerminalOptions = js_sys::Object::new().unchecked_into();
    options.set_scrollback(SCROLLBACK_LINES);
    options.set_cursor_blink(true);
    options.set_font_size(13);
    let term = Terminal::new(&options);
    let fit = FitAddon::new();
    term.load_addon(fit.clone().into());
    term.open(parent);
    fit.fit();
    term.write(banner);
    // The terminal lives as long as the page does.
    std::mem::forget(term);
}
