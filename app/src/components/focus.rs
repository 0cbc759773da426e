//! The focused session: an overlay with its real terminal and, when asked for, the inspector.
//!
//! The overlay follows the focused id, not the session's registration: while the session is
//! away (its host restarting, the hub restarting) it says "session offline — waiting", the
//! terminal keeps retrying, and it resumes from its last offset when the session is back.
//! Until the first replay it shows the session's cached screen under a progress bar.

use super::grid::preview_html;
use super::{inspector::Inspector, keys::LEAVE_KEY, use_ui};
use crate::model::{exit_label, state_class, state_label};
use crate::term::{PtyView, TermSignals, TermStatus};
use leptos::prelude::*;
use protocol::AgentState;

/// The overlay of the focused session, if one is focused.
#[component]
pub fn FocusOverlay() -> impl IntoView {
    let ui = use_ui();
    // Opening the session already open must not rebuild its terminal.
    let focused = Memo::new(move |_| ui.focused.get());
    // The overlay's code (terminal, inspector) is its own chunk, loaded on first open.
    move || {
        focused
            .get()
            .map(|id| Suspend::new(super::on_demand::focused(id)))
    }
}

/// The overlay of session `id` (reached through [`super::on_demand::focused`]).
#[component]
pub(super) fn Focused(id: String) -> impl IntoView {
    let ui = use_ui();
    let signals = TermSignals::new();
    let view = {
        let id = id.clone();
        Memo::new(move |_| ui.feed.fleet.find(&id))
    };
    let offline = move || view.with(Option::is_none) || !ui.online();
    let title = {
        let id = id.clone();
        move || view.with(|v| v.as_ref().map_or_else(|| id.clone(), |v| v.title()))
    };
    let subtitle = move || {
        view.with(|v| {
            v.as_ref()
                .map(|v| format!("{} {}", v.subtitle(), v.labels()))
                .unwrap_or_default()
        })
    };
    let state = move || view.with(|v| v.as_ref().and_then(|v| v.state.get()));
    let badge = move || format!("badge {}", state_class(state().as_ref()));
    let state_text = move || state_label(state().as_ref());
    let exit = move || {
        (state() == Some(AgentState::Exited)).then(|| {
            let code = view.with(|v| v.as_ref().and_then(|v| v.exit_code.get()));
            view! { <span class="exit-code">{exit_label(code)}</span> }
        })
    };
    let status = signals.status;
    // The sidebar, the inspector and its width resize the terminal's box but not the window:
    // tell the terminal to refit.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        ui.sidebar_open.track();
        ui.inspector_open.track();
        ui.inspector_width.track();
        set_timeout(
            || {
                if let (Some(w), Ok(ev)) = (web_sys::window(), web_sys::Event::new("resize")) {
                    let _ = w.dispatch_event(&ev);
                }
            },
            std::time::Duration::from_millis(50),
        );
    });
    let close_title = format!("Close ({LEAVE_KEY}; Esc outside the terminal)");
    let body_style = move || format!("--inspector-width:{}px", ui.inspector_width.get());
    let inspector = {
        let id = id.clone();
        move || {
            ui.inspector_open
                .get()
                .then(|| view! { <Inspector id=id.clone() signals/> })
        }
    };
    view! {
        <section class="overlay" class:wide=move || !ui.sidebar_open.get() aria-label="Focused session">
            <div class="overlay-head">
                <div class="tile-titles">
                    <div class="tile-title">{title}</div>
                    <div class="tile-sub">{subtitle}</div>
                </div>
                <span class="ws-status" data-state=move || status.get().as_str()>
                    {move || status.get().as_str()}
                </span>
                <span class=badge>{state_text}</span>
                {exit}
                <span class="brand">"[coopmux]"</span>
                <button
                    class="inspector-toggle"
                    title="Show or hide the inspector"
                    aria-pressed=move || ui.inspector_open.get().to_string()
                    on:click=move |_| ui.inspector_open.update(|open| *open = !*open)
                >
                    "Inspector"
                </button>
                <button class="close" title=close_title aria-label="Close" on:click=move |_| ui.close()>
                    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                        <title>"Close"</title>
                        <path d="M3 3l10 10M13 3L3 13" stroke="currentColor" stroke-width="2"/>
                    </svg>
                </button>
            </div>
            <Show when=offline>
                <div class="offline-banner" role="status" data-testid="session-offline">
                    "session offline — waiting"
                </div>
            </Show>
            <div class="overlay-body" style=body_style>
                <div class="term-wrap">
                    <PtyView id=id.clone() signals/>
                    <Loading view status/>
                </div>
                {inspector}
            </div>
        </section>
    }
}

/// Until the first replay: the session's cached screen, dimmed, under a progress bar.
#[component]
fn Loading(
    view: Memo<Option<crate::model::SessionView>>,
    status: RwSignal<TermStatus>,
) -> impl IntoView {
    let cached = move || {
        view.with(|v| {
            v.as_ref()
                .and_then(|v| v.preview.with(|p| p.as_ref().map(preview_html)))
                .unwrap_or_default()
        })
    };
    move || {
        (status.get() == TermStatus::Connecting).then(|| {
            view! {
                <div class="term-loading" role="status" aria-label="Loading session">
                    <div class="progress"></div>
                    <pre class="cached" inner_html=cached></pre>
                    <p class="loading-text">"Loading session…"</p>
                </div>
            }
        })
    }
}
