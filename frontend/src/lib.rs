//! WASM entry point: hydrates the dashboard that the server rendered.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

/// Called by the loader script that cargo-leptos generates.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
