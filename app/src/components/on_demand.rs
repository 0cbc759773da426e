//! The parts of the dashboard that are not needed to show the grid, loaded when first used:
//! in a `cargo leptos build --split` each of these functions is its own WASM chunk
//! (`#[lazy]`), fetched the first time it is called; a plain build links them in as usual.
//! Keep everything that only these parts use behind them (docs/architecture.md, "Dashboard
//! bundle size").

use leptos::prelude::*;

/// The focused session's overlay: its terminal (xterm.js) and the inspector.
#[cfg_attr(wasm_split, lazy)]
pub async fn focused(id: String) -> AnyView {
    view! { <super::focus::Focused id/> }.into_any()
}

/// The launch dialog.
#[cfg_attr(wasm_split, lazy)]
pub async fn launch_dialog() -> AnyView {
    view! { <super::launch::Dialog/> }.into_any()
}

/// The credentials panel.
#[cfg_attr(wasm_split, lazy)]
pub async fn credentials_panel() -> AnyView {
    view! { <super::credentials::Panel/> }.into_any()
}

/// The inbox panel (its keys and the answering are part of the first load).
#[cfg_attr(wasm_split, lazy)]
pub async fn inbox_panel() -> AnyView {
    view! { <super::inbox::Panel/> }.into_any()
}

/// Sends an inbox answer to `targets` and tells how it went (the keys that call it are part of
/// the first load; the sending and its messages are not).
#[cfg(feature = "hydrate")]
#[cfg_attr(wasm_split, lazy)]
pub async fn answer_items(
    ui: super::Ui,
    item: protocol::inbox::InboxItem,
    targets: Vec<String>,
    req: protocol::coop::RespondRequest,
) {
    super::inbox::send(ui, item, targets, req).await;
}

/// Uploads dropped files into session `id` and types their paths into its terminal.
#[cfg(feature = "hydrate")]
#[cfg_attr(wasm_split, lazy)]
pub async fn upload(id: String, files: Vec<web_sys::File>, error: RwSignal<Option<String>>) {
    super::upload::upload_all(id, files, error).await;
}
