//! WASM entry point: hydrates the dashboard that the server rendered.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

/// Called by the loader script that cargo-leptos generates.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(report_panic));
    leptos::mount::hydrate_body(app::App);
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
