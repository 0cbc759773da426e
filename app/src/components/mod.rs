//! Dashboard components. [`Dashboard`] owns the UI state ([`Ui`]) and hands it down as
//! context; each child module owns one part of the page.

mod credentials;
mod focus;
mod grid;
mod header;
mod inspector;
mod launch;
mod sidebar;
mod upload;

use crate::live::{use_mux_feed, LiveFeed};
use leptos::prelude::*;
use protocol::launch::LaunchConfig;

/// UI state shared by the dashboard's components.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// The live feed (connection state and the fleet).
    pub feed: LiveFeed,
    /// The session shown in the overlay.
    pub focused: RwSignal<Option<String>>,
    /// A `#id` deep link waiting for its session to register.
    pub pending_link: RwSignal<Option<String>>,
    /// Whether the sidebar is expanded.
    pub sidebar_open: RwSignal<bool>,
    /// Whether the launch dialog is open.
    pub launch_open: RwSignal<bool>,
    /// Whether the credentials panel is open.
    pub creds_open: RwSignal<bool>,
    /// `GET /api/v1/config/launch`, once fetched.
    pub launch_config: RwSignal<Option<LaunchConfig>>,
}

impl Ui {
    /// Whether launching is available (known only in the browser).
    pub fn can_launch(&self) -> bool {
        self.launch_config
            .with(|c| c.as_ref().is_some_and(|c| c.available))
    }

    /// Opens session `id` in the overlay and writes `#id` into the URL.
    pub fn open(&self, id: &str) {
        self.focused.set(Some(id.to_owned()));
        set_hash(Some(id));
    }

    /// Closes the overlay and clears the deep link.
    pub fn close(&self) {
        self.focused.set(None);
        set_hash(None);
    }

    /// Opens `id`, or closes it when it is the one open.
    pub fn toggle(&self, id: &str) {
        if self.focused.get_untracked().as_deref() == Some(id) {
            self.close();
        } else {
            self.open(id);
        }
    }
}

/// The dashboard's `Ui` context.
pub fn use_ui() -> Ui {
    expect_context::<Ui>()
}

/// Replaces the URL's hash without adding a history entry.
fn set_hash(id: Option<&str>) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let loc = window.location();
        let base = format!(
            "{}{}",
            loc.pathname().unwrap_or_default(),
            loc.search().unwrap_or_default()
        );
        let url = match id {
            Some(id) => format!("{base}#{id}"),
            None => base,
        };
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

/// The outcome of a dialog's last action: `(ok, text)`, shown as an alert.
#[component]
fn Notice(message: RwSignal<Option<(bool, String)>>) -> impl IntoView {
    move || {
        message.get().map(|(ok, text)| {
            view! { <p class:error=!ok class:ok=ok role="alert">{text}</p> }
        })
    }
}

/// The dashboard page at `/mux`.
#[component]
pub fn Dashboard() -> impl IntoView {
    let ui = Ui {
        feed: use_mux_feed(),
        focused: RwSignal::new(None),
        pending_link: RwSignal::new(None),
        sidebar_open: RwSignal::new(true),
        launch_open: RwSignal::new(false),
        creds_open: RwSignal::new(false),
        launch_config: RwSignal::new(None),
    };
    provide_context(ui);
    #[cfg(feature = "hydrate")]
    browser::start(ui);
    // A deep link opens its session as soon as the session is known.
    Effect::new(move |_| {
        let Some(id) = ui.pending_link.get() else {
            return;
        };
        let known = ui
            .feed
            .fleet
            .sessions
            .with(|s| s.as_ref().is_some_and(|s| s.iter().any(|v| v.id == id)));
        if known {
            ui.pending_link.set(None);
            ui.open(&id);
        }
    });
    // The overlay closes when its session goes away.
    Effect::new(move |_| {
        let Some(id) = ui.focused.get() else { return };
        let gone = ui
            .feed
            .fleet
            .sessions
            .with(|s| s.as_ref().is_some_and(|s| !s.iter().any(|v| v.id == id)));
        if gone {
            ui.close();
        }
    });
    view! {
        <header::Header/>
        <div class="layout">
            <sidebar::Sidebar/>
            <grid::Grid/>
        </div>
        <focus::FocusOverlay/>
        <launch::LaunchDialog/>
        <credentials::CredentialsPanel/>
        <upload::DropZone/>
        <header::StatusBar/>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Ui;
    use crate::handlers::{own_until_cleanup, Listener};
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::KeyboardEvent;

    /// Reads the deep link, fetches the launch config, and installs the document listeners
    /// (removed when the dashboard unmounts).
    pub fn start(ui: Ui) {
        Effect::new(move |_| {
            take_hash(ui);
            leptos::task::spawn_local(async move {
                if let Ok(config) = crate::api::get_launch_config().await {
                    ui.launch_config.set(Some(config));
                }
            });
            listen(ui);
        });
    }

    fn take_hash(ui: Ui) {
        let hash = web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        let id = hash.trim_start_matches('#');
        if !id.is_empty() && ui.focused.get_untracked().as_deref() != Some(id) {
            ui.pending_link.set(Some(id.to_owned()));
        }
    }

    fn listen(ui: Ui) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let mut listeners = vec![Listener::new(
            &window,
            "hashchange",
            move |_: web_sys::Event| take_hash(ui),
        )];
        if let Some(doc) = window.document() {
            listeners.push(Listener::new(&doc, "keydown", move |ev: KeyboardEvent| {
                on_key(ui, &ev);
            }));
        }
        own_until_cleanup(listeners);
    }

    /// Whether the event comes from inside an xterm terminal (its keys belong to the program).
    fn in_terminal(ev: &KeyboardEvent) -> bool {
        ev.target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest(".xterm").ok().flatten())
            .is_some()
    }

    fn on_key(ui: Ui, ev: &KeyboardEvent) {
        // Inside the terminal every key belongs to the program: Esc for vim, Ctrl+B for tmux.
        if in_terminal(ev) {
            return;
        }
        if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("b") {
            ev.prevent_default();
            ui.sidebar_open.update(|open| *open = !*open);
            return;
        }
        if ev.key() != "Escape" {
            return;
        }
        if ui.creds_open.get_untracked() {
            ui.creds_open.set(false);
        } else if ui.launch_open.get_untracked() {
            ui.launch_open.set(false);
        } else if ui.focused.get_untracked().is_some() {
            ui.close();
        }
    }
}
