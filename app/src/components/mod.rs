//! Dashboard components. [`Dashboard`] owns the UI state ([`Ui`]) and hands it down as
//! context; each child module owns one part of the page.

mod attention;
mod banner;
mod credentials;
mod focus;
mod grid;
mod header;
mod inbox;
mod inspector;
mod keys;
mod launch;
mod on_demand;
mod sidebar;
mod toast;
mod upload;

use crate::live::{use_mux_feed, ConnState, LiveFeed};
use crate::model::{attention, SessionView};
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
    /// Whether the sidebar is open as a drawer over the page (phone widths).
    pub drawer_open: RwSignal<bool>,
    /// Whether the focused session's inspector is shown (hidden by default).
    pub inspector_open: RwSignal<bool>,
    /// Width of the inspector in CSS pixels.
    pub inspector_width: RwSignal<u32>,
    /// The filter over tiles and sidebar, as typed.
    pub filter: RwSignal<String>,
    /// A failure to show as a toast until dismissed.
    pub notice: RwSignal<Option<String>>,
    /// Whether the launch dialog is open.
    pub launch_open: RwSignal<bool>,
    /// Whether the credentials panel is open.
    pub creds_open: RwSignal<bool>,
    /// `GET /api/v1/config/launch`, once fetched.
    pub launch_config: RwSignal<Option<LaunchConfig>>,
    /// Whether the inbox panel is open.
    pub inbox_open: RwSignal<bool>,
    /// The outcome of the last answer sent from the inbox: `(ok, text)`.
    pub inbox_notice: RwSignal<Option<(bool, String)>>,
    /// Whether an answer also goes to every item that asks the same.
    pub inbox_all: RwSignal<bool>,
    /// Items whose answer is on its way (a second one is not sent).
    pub inbox_pending: RwSignal<Vec<String>>,
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

    /// Whether the hub is reachable right now (actions that need it are disabled otherwise).
    pub fn online(&self) -> bool {
        self.feed.conn.get() == ConnState::Connected
    }

    /// The filter as matched: trimmed, lower case.
    pub fn query(&self) -> String {
        self.filter.with(|f| crate::case::lower(f.trim()))
    }

    /// The sessions the filter lets through, by attention (prompt, error, idle, working, the
    /// rest; first seen first within a group): the sidebar's order and the order the
    /// next/previous session keys follow.
    pub fn ordered(&self) -> Vec<SessionView> {
        let query = self.query();
        let list: Vec<(u8, SessionView)> = self.feed.fleet.sessions.with(|s| {
            s.iter()
                .flatten()
                .filter(|v| v.matches(&query))
                .map(|v| (v.state.with(|st| attention(st.as_ref())), v.clone()))
                .collect()
        });
        // Five groups, each in first-seen order: a pass per group, no sort (whose code the
        // WASM bundle would carry).
        (0..=4u8)
            .flat_map(|group| list.iter().filter(move |(g, _)| *g == group))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Toggles the sidebar: folds it on a wide screen, opens it as a drawer on a phone.
    pub fn toggle_sidebar(&self) {
        if is_phone() {
            self.drawer_open.update(|open| *open = !*open);
        } else {
            self.sidebar_open.update(|open| *open = !*open);
        }
    }
}

/// Widths at or below this many CSS pixels get the phone layout (keep in step with the
/// `@media` rule in `style/main.css`).
const PHONE_MAX_WIDTH_PX: f64 = 700.0;

/// Whether the page has the phone layout (never on the server).
fn is_phone() -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.inner_width().ok())
            .and_then(|w| w.as_f64())
            .is_some_and(|w| w <= PHONE_MAX_WIDTH_PX)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = PHONE_MAX_WIDTH_PX;
        false
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
        drawer_open: RwSignal::new(false),
        inspector_open: RwSignal::new(false),
        inspector_width: RwSignal::new(inspector::DEFAULT_WIDTH_PX),
        filter: RwSignal::new(String::new()),
        notice: RwSignal::new(None),
        launch_open: RwSignal::new(false),
        creds_open: RwSignal::new(false),
        launch_config: RwSignal::new(None),
        inbox_open: RwSignal::new(false),
        inbox_notice: RwSignal::new(None),
        inbox_all: RwSignal::new(false),
        inbox_pending: RwSignal::new(Vec::new()),
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
    // The overlay stays while its session is away (a hub restart, a host that re-registers):
    // it shows the session offline and resumes from its last offset when it returns.
    view! {
        <attention::PageTitle/>
        <header::Header/>
        <banner::Disconnected/>
        <div class="layout" class:offline=move || !ui.online() class:inbox-open=move || ui.inbox_open.get()>
            <sidebar::Sidebar/>
            <grid::Grid/>
            <inbox::InboxPanel/>
        </div>
        <focus::FocusOverlay/>
        <launch::LaunchDialog/>
        <credentials::CredentialsPanel/>
        <upload::DropZone/>
        <toast::OAuthToast/>
        <toast::NoticeToast/>
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
            super::keys::listen(ui);
            leptos::task::spawn_local(async move {
                if let Ok(config) = crate::rest::launch_config().await {
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
            ui.toggle_sidebar();
            return;
        }
        if ev.key() != "Escape" {
            return;
        }
        if ui.drawer_open.get_untracked() {
            ui.drawer_open.set(false);
        } else if ui.creds_open.get_untracked() {
            ui.creds_open.set(false);
        } else if ui.launch_open.get_untracked() {
            ui.launch_open.set(false);
        } else if ui.inbox_open.get_untracked() {
            ui.inbox_open.set(false);
        } else if ui.focused.get_untracked().is_some() {
            ui.close();
        }
    }
}
