//! Drag and drop upload: files dropped anywhere are uploaded into the focused session and
//! their paths typed into its terminal (joined by spaces, with a trailing space).

use super::use_ui;
use leptos::prelude::*;

/// The drop overlay and the document's drag listeners.
#[component]
pub fn DropZone() -> impl IntoView {
    let dragging = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    {
        let ui = use_ui();
        Effect::new(move |_| browser::listen(ui, dragging, error));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = use_ui;
    view! {
        <Show when=move || dragging.get()>
            <div class="dropzone">"Drop files to upload into the focused session"</div>
        </Show>
        {move || error.get().map(|e| view! { <div class="toast error" role="alert">{e}</div> })}
    }
}

#[cfg(feature = "hydrate")]
pub(super) use browser::upload_all;

#[cfg(feature = "hydrate")]
mod browser {
    use super::super::Ui;
    use crate::api::{act_on_session, SessionAction};
    use crate::handlers::{own_until_cleanup, Listener};
    use crate::term::{show_error, type_into_focused};
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    use leptos::prelude::*;
    use web_sys::{DragEvent, File};

    /// Installs the document's drag listeners until the drop zone unmounts.
    pub fn listen(ui: Ui, dragging: RwSignal<bool>, error: RwSignal<Option<String>>) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let over = Listener::new(&doc, "dragover", move |ev: DragEvent| {
            ev.prevent_default();
            dragging.set(true);
        });
        let leave = Listener::new(&doc, "dragleave", move |ev: DragEvent| {
            // Leaving the window, not just moving between elements.
            if ev.related_target().is_none() {
                dragging.set(false);
            }
        });
        let drop = Listener::new(&doc, "drop", move |ev: DragEvent| {
            ev.prevent_default();
            dragging.set(false);
            let files: Vec<File> = ev
                .data_transfer()
                .and_then(|dt| dt.files())
                .map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect())
                .unwrap_or_default();
            let Some(id) = ui.focused.get_untracked() else {
                error.set(Some(
                    "No upload path available: open a session first".into(),
                ));
                return;
            };
            error.set(None);
            leptos::task::spawn_local(super::super::on_demand::upload(id, files, error));
        });
        own_until_cleanup(vec![over, leave, drop]);
    }

    /// Uploads `files` into session `id` (reached through [`super::super::on_demand::upload`]).
    pub async fn upload_all(id: String, files: Vec<File>, error: RwSignal<Option<String>>) {
        let mut paths = Vec::new();
        for file in files {
            let buffer = match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(b) => b,
                Err(_) => continue,
            };
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            let action = SessionAction::Upload {
                filename: file.name(),
                data: B64.encode(&bytes),
            };
            match act_on_session(id.clone(), action).await {
                Ok(reply) => {
                    if let Some(path) = reply.get("path").and_then(|p| p.as_str()) {
                        paths.push(path.to_owned());
                    }
                }
                Err(err) => {
                    let text = format!("upload of {} failed: {}", file.name(), err.message);
                    show_error(&text);
                    error.set(Some(text));
                }
            }
        }
        if !paths.is_empty() {
            type_into_focused(format!("{} ", paths.join(" ")).as_bytes());
        }
    }
}
