//! Telling an operator in another tab to look: the page title counts the sessions that wait
//! for them (a prompt or an error), and, once they allow it, a browser notification announces
//! each new inbox item (what is asked, by whom) while the page is hidden.

use super::use_ui;
use crate::model::waits_for_operator;
use leptos::prelude::*;

/// The page title for `waiting` sessions: `(2) coopmux dashboard`.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn page_title(waiting: usize) -> String {
    match waiting {
        0 => "coopmux dashboard".to_owned(),
        n => format!("({n}) coopmux dashboard"),
    }
}

/// The reactive page title (it takes over from the shell's static `<title>`).
#[component]
pub fn PageTitle() -> impl IntoView {
    let fleet = use_ui().feed.fleet;
    let waiting = Memo::new(move |_| {
        fleet.sessions.with(|s| {
            s.iter()
                .flatten()
                .filter(|v| v.state.with(|st| waits_for_operator(st.as_ref())))
                .count()
        })
    });
    #[cfg(feature = "hydrate")]
    {
        notify::follow(fleet);
        // The server renders the static title in the shell; the browser keeps it current.
        Effect::new(move |_| {
            let title = page_title(waiting.get());
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(&title);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = waiting;
}

/// The bell in the header: asks the browser for permission to notify.
#[component]
pub fn NotifyButton() -> impl IntoView {
    let enabled = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| enabled.set(notify::granted()));
    let ask = move |_| {
        #[cfg(feature = "hydrate")]
        notify::ask(enabled);
    };
    view! {
        // The bell is a CSS mask (style/main.css), not an emoji the viewer may lack.
        <button
            class="notify icon"
            title="Notify me of new prompts while this tab is hidden"
            aria-label="Notifications"
            aria-pressed=move || enabled.get().to_string()
            on:click=ask
        ></button>
    }
}

/// Browser notifications through the `Notification` API, looked up at run time (browsers
/// without it, or a refusal, simply mean no notifications).
#[cfg(feature = "hydrate")]
mod notify {
    use crate::model::Fleet;
    use js_sys::{Array, Function, Object, Reflect};
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;

    fn api() -> Option<Function> {
        let window = web_sys::window()?;
        Reflect::get(&window, &"Notification".into())
            .ok()?
            .dyn_into()
            .ok()
    }

    /// Whether notifications are allowed.
    pub fn granted() -> bool {
        api()
            .and_then(|n| Reflect::get(&n, &"permission".into()).ok())
            .and_then(|p| p.as_string())
            .is_some_and(|p| p == "granted")
    }

    /// Asks for permission; `enabled` follows the answer.
    pub fn ask(enabled: RwSignal<bool>) {
        let Some(api) = api() else { return };
        let Ok(request) = Reflect::get(&api, &"requestPermission".into()) else {
            return;
        };
        let Ok(request) = request.dyn_into::<Function>() else {
            return;
        };
        let Ok(promise) = request.call0(&api) else {
            return;
        };
        let Ok(promise) = promise.dyn_into::<js_sys::Promise>() else {
            return;
        };
        leptos::task::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            enabled.set(granted());
        });
    }

    /// Notifies each new inbox item while the page is hidden and notifications are allowed.
    pub fn follow(fleet: Fleet) {
        Effect::new(move |_| {
            let Some(item) = fleet.inbox.arrived.get() else {
                return;
            };
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            if !hidden || !granted() {
                return;
            }
            show(&super::super::inbox::summary(&item), &item.id);
        });
    }

    fn show(body: &str, id: &str) {
        let Some(api) = api() else { return };
        let options = Object::new();
        let _ = Reflect::set(&options, &"body".into(), &body.into());
        let _ = Reflect::set(&options, &"tag".into(), &id.into());
        let args = Array::of2(&"coopmux: prompt".into(), &options);
        let _ = Reflect::construct(&api, &args);
    }
}

#[cfg(test)]
mod tests {
    use super::page_title;

    #[test]
    fn the_title_counts_waiting_sessions() {
        assert_eq!(page_title(0), "coopmux dashboard");
        assert_eq!(page_title(2), "(2) coopmux dashboard");
    }
}
