//! The focused session: an overlay with its real terminal and the inspector.

use super::{inspector::Inspector, use_ui};
use crate::model::{state_class, state_label, SessionView};
use crate::term::{PtyView, TermSignals};
use leptos::prelude::*;

/// The overlay of the focused session, if one is focused.
#[component]
pub fn FocusOverlay() -> impl IntoView {
    let ui = use_ui();
    move || {
        let id = ui.focused.get()?;
        let view = ui.feed.fleet.get(&id)?;
        Some(view! { <Focused view/> })
    }
}

#[component]
fn Focused(view: SessionView) -> impl IntoView {
    let ui = use_ui();
    let signals = TermSignals::new();
    let state = view.state.clone();
    let badge = {
        let state = state.clone();
        move || format!("badge {}", state.with(|s| state_class(s.as_ref())))
    };
    let state_text = move || state.with(|s| state_label(s.as_ref()));
    let status = signals.status;
    let labels = view.labels();
    // Folding the sidebar resizes the overlay but not the window: tell the terminal to refit.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        ui.sidebar_open.track();
        set_timeout(
            || {
                if let (Some(w), Ok(ev)) = (web_sys::window(), web_sys::Event::new("resize")) {
                    let _ = w.dispatch_event(&ev);
                }
            },
            std::time::Duration::from_millis(50),
        );
    });
    view! {
        <section class="overlay" class:wide=move || !ui.sidebar_open.get() aria-label="Focused session">
            <div class="overlay-head">
                <div class="tile-titles">
                    <div class="tile-title">{view.title()}</div>
                    <div class="tile-sub">{view.subtitle()} " " {labels}</div>
                </div>
                <span class="ws-status" data-state=move || status.get().as_str()>
                    {move || status.get().as_str()}
                </span>
                <span class=badge>{state_text}</span>
                <span class="brand">"[coopmux]"</span>
                <button class="close" title="Close (Esc)" aria-label="Close" on:click=move |_| ui.close()>
                    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                        <title>"Close"</title>
                        <path d="M3 3l10 10M13 3L3 13" stroke="currentColor" stroke-width="2"/>
                    </svg>
                </button>
            </div>
            <div class="overlay-body">
                <PtyView id=view.id.clone() signals/>
                <Inspector id=view.id.clone() signals/>
            </div>
        </section>
    }
}
