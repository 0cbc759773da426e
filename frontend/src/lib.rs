//! WASM entry point: renders the dashboard in place of the page the server rendered.
//!
//! The server's page shows at once (header, session count); the browser then renders the app
//! anew and swaps it in, rather than hydrating the server's nodes: client rendering alone
//! carries no hydration code, which keeps the bundle smaller (docs/architecture.md,
//! "Dashboard bundle size").

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

/// Called by the loader script that Leptos puts in the page (it is named `hydrate`).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(report_panic));
    let Some(body) = leptos::prelude::document().body() else {
        return;
    };
    // The server's nodes stay until the app is built (the header reads the rendered session
    // count from them), then go.
    let rendered = body.child_nodes();
    let old: Vec<web_sys::Node> = (0..rendered.length())
        .filter_map(|i| rendered.item(i))
        .collect();
    leptos::mount::mount_to_body(app::App);
    for node in old {
        if let Some(parent) = node.parent_node() {
            let _ = parent.remove_child(&node);
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(what: &str, file: &str, line: u32);
}

/// Names where a panic happened in the browser console. Only the location, never the message:
/// formatting panic messages pulls Rust's whole formatting machinery and every message into
/// the WASM (about 17 KB gzip; docs/architecture.md, "Dashboard bundle size").
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    console_error("coopmux panicked at", file, line);
}
