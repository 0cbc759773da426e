//! The inspector beside the focused terminal, hidden until asked for (the overlay's
//! "Inspector" button), resizable (drag its edge, or focus the edge and press ←/→), a sheet
//! over the terminal on a phone. Three tabs, all through the session's own API as coop
//! serves it (docs/coop-protocol.md): **state** (health, status, agent, usage, read every
//! 2 s; the event log), **actions** (keys, text, nudge, respond, signals, resize) and
//! **config** (profiles and switch, restart, shutdown, stop/start config, transcripts). A
//! request the session does not support shows the session's error in place.

mod actions;
mod config;
mod state;

use super::use_ui;
use crate::term::{Reply, TermSignals};
use leptos::prelude::*;
use serde_json::Value;

/// Width of a newly opened inspector, in CSS pixels.
pub const DEFAULT_WIDTH_PX: u32 = 340;
/// Narrowest the inspector can be made, in CSS pixels.
const MIN_WIDTH_PX: u32 = 220;
/// Widest the inspector can be made, in CSS pixels.
const MAX_WIDTH_PX: u32 = 900;
/// How much one arrow key press resizes it, in CSS pixels.
const KEY_STEP_PX: u32 = 20;

/// A width within the inspector's bounds.
fn clamp_width(px: f64) -> u32 {
    // Truncation is fine: the width is a whole number of CSS pixels.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let px = px.max(0.0) as u32;
    px.clamp(MIN_WIDTH_PX, MAX_WIDTH_PX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    State,
    Actions,
    Config,
}

impl Tab {
    const ALL: [Tab; 3] = [Tab::State, Tab::Actions, Tab::Config];

    fn name(self) -> &'static str {
        match self {
            Tab::State => "state",
            Tab::Actions => "actions",
            Tab::Config => "config",
        }
    }
}

/// The inspector of session `id` (rendered only while open).
#[component]
pub fn Inspector(id: String, signals: TermSignals) -> impl IntoView {
    let tab = RwSignal::new(Tab::State);
    let tabs = Tab::ALL
        .into_iter()
        .map(|t| {
            view! {
                <button
                    role="tab"
                    class="tab"
                    aria-selected=move || (tab.get() == t).to_string()
                    on:click=move |_| tab.set(t)
                >
                    {t.name()}
                </button>
            }
        })
        .collect_view();
    let body = move || {
        let id = id.clone();
        match tab.get() {
            Tab::State => view! { <state::StateTab signals/> }.into_any(),
            Tab::Actions => view! { <actions::ActionsTab id/> }.into_any(),
            Tab::Config => view! { <config::ConfigTab id/> }.into_any(),
        }
    };
    view! {
        <Resizer/>
        <aside class="inspector" aria-label="Inspector">
            <div class="tabs" role="tablist">{tabs}</div>
            <div class="tab-body" role="tabpanel">{body}</div>
        </aside>
    }
}

/// The inspector's left edge: drag it, or focus it and press ← (wider) / → (narrower).
#[component]
fn Resizer() -> impl IntoView {
    let ui = use_ui();
    let width = ui.inspector_width;
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let step = match ev.key().as_str() {
            "ArrowLeft" => f64::from(KEY_STEP_PX),
            "ArrowRight" => -f64::from(KEY_STEP_PX),
            _ => return,
        };
        ev.prevent_default();
        width.update(|w| *w = clamp_width(f64::from(*w) + step));
    };
    let on_down = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        drag::start(width);
    };
    view! {
        <div
            class="inspector-resize"
            role="separator"
            aria-orientation="vertical"
            aria-label="Resize inspector"
            aria-valuemin=MIN_WIDTH_PX.to_string()
            aria-valuemax=MAX_WIDTH_PX.to_string()
            aria-valuenow=move || width.get().to_string()
            tabindex="0"
            on:keydown=on_key
            on:mousedown=on_down
        ></div>
    }
}

/// Dragging the inspector's edge: the document's mouse moves set the width until the button
/// is released.
#[cfg(feature = "hydrate")]
mod drag {
    use crate::handlers::Listener;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use web_sys::MouseEvent;

    thread_local! {
        /// The listeners of the drag in progress; dropped (removed) when it ends.
        static DRAG: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
    }

    pub fn start(width: RwSignal<u32>) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Some(doc) = window.document() else { return };
        let right = window
            .inner_width()
            .ok()
            .and_then(|w| w.as_f64())
            .unwrap_or_default();
        let moved = Listener::new(&doc, "mousemove", move |ev: MouseEvent| {
            width.set(super::clamp_width(right - f64::from(ev.client_x())));
        });
        // Ended from a timeout, not from inside the handler being dropped.
        let released = Listener::new(&doc, "mouseup", move |_: MouseEvent| {
            set_timeout(
                || drop(DRAG.with_borrow_mut(std::mem::take)),
                std::time::Duration::ZERO,
            );
        });
        let previous = DRAG.with_borrow_mut(|d| std::mem::replace(d, vec![moved, released]));
        drop(previous);
    }
}

/// A reply as the inspector shows it: its fields, or the error in place.
fn reply_view(reply: Option<Reply>) -> AnyView {
    match reply {
        None => view! { <p class="muted">"…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="error">{err}</p> }.into_any(),
        Some(Ok(value)) => fields(&value).into_any(),
    }
}

/// The top-level fields of a JSON object as a definition list (nested values as compact
/// JSON), leaving out the frame's own `event` and `request_id`.
fn fields(value: &Value) -> impl IntoView {
    let rows: Vec<(String, String)> = match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| *k != "event" && *k != "request_id")
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "—".to_owned(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![("value".to_owned(), other.to_string())],
    };
    view! {
        <dl>
            {rows.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
        </dl>
    }
}

/// A titled section showing one reply.
#[component]
fn Section(title: &'static str, reply: RwSignal<Option<Reply>>) -> impl IntoView {
    view! {
        <section class="inspector-section" data-section=title>
            <h3>{title}</h3>
            {move || reply_view(reply.get())}
        </section>
    }
}

/// A request that has no type of its own in `protocol` (coop-only requests such as
/// `usage:get`): just its event name.
#[derive(Debug, serde::Serialize)]
struct Ask {
    event: &'static str,
}

#[cfg(test)]
mod tests {
    use super::clamp_width;

    #[test]
    fn widths_stay_within_bounds() {
        assert_eq!(clamp_width(10.0), 220);
        assert_eq!(clamp_width(-5.0), 220);
        assert_eq!(clamp_width(400.7), 400);
        assert_eq!(clamp_width(5000.0), 900);
    }
}
