//! The top bar (sidebar toggle, title, counts, filter, inbox, notifications, credentials button) and
//! the bottom status bar.

use super::use_ui;
use crate::live::ConnState;
use crate::model::is_healthy;
use leptos::prelude::*;

/// "1 session" / "N sessions".
pub fn sessions_label(n: usize) -> String {
    if n == 1 {
        "1 session".to_owned()
    } else {
        format!("{n} sessions")
    }
}

/// The header bar.
#[component]
pub fn Header() -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    // The server renders the count it knows; the live feed takes over once its first
    // snapshot arrives.
    let initial = rendered_count();
    let count = move || {
        let live = fleet.sessions.with(|s| s.as_ref().map(Vec::len));
        sessions_label(live.or(initial).unwrap_or(0))
    };
    // Unknown until the first snapshot (the server renders no states).
    let healthy = move || {
        fleet.sessions.with(|s| {
            let n = s
                .as_ref()?
                .iter()
                .filter(|v| v.state.with(|st| is_healthy(st.as_ref())))
                .count();
            Some(format!("{n} healthy"))
        })
    };
    let alerts = move || fleet.alerts.with(|a| a.len());
    let creds_label = move || match alerts() {
        0 => "Credentials".to_owned(),
        1 => "1 Credential Alert".to_owned(),
        n => format!("{n} Credential Alerts"),
    };
    view! {
     <header class="topbar">
         // Icons are CSS masks (style/main.css): no glyph of the viewer's fonts is needed.
         <button
             class="sidebar-toggle icon"
             title="Toggle sidebar (Ctrl+B)"
             aria-label="Toggle sidebar"
             aria-pressed=move || ui.sidebar_open.get().to_string()
             aria-expanded=move || ui.drawer_open.get().to_string()
             on:click=move |_| ui.toggle_sidebar()
         ></button>
         <h1>"coopmux"</h1>
         <span class="stat" data-testid="session-count">
             {count}
         </span>
         <span class="stat" data-testid="healthy-count">{healthy}</span>
         <span class="spacer"></span>
         <input
             id="session-filter"
             class="filter"
             type="search"
             placeholder="Filter (/)"
             aria-label="Filter sessions"
             title="Label, state, id or screen text"
             bind:value=ui.filter
         />
         <super::inbox::InboxButton/>
         <super::attention::NotifyButton/>
         <button
             class=move || { if alerts() > 0 { "creds-button alert" } else { "creds-button" } }
             aria-expanded=move || ui.creds_open.get().to_string()
             on:click=move |_| ui.creds_open.update(|open| *open = !*open)
         >
             // On a phone only the key icon shows; the text stays the button's name.
             <span class="label">{creds_label}</span>
         </button>
     </header>
    }
}

/// The session count as the server rendered it: on the server from the mux, in the browser
/// read back from the page being hydrated (a `Resource` would cost the WASM bundle a server
/// function).
fn rendered_count() -> Option<usize> {
    #[cfg(feature = "ssr")]
    {
        use_context::<crate::api::SharedMuxApi>().map(|api| api.session_count())
    }
    #[cfg(feature = "hydrate")]
    {
        let text = web_sys::window()?
            .document()?
            .query_selector("[data-testid=session-count]")
            .ok()??
            .text_content()?;
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    None
}

/// The bottom status bar: the `/ws/mux` connection.
#[component]
pub fn StatusBar() -> impl IntoView {
    let conn = use_ui().feed.conn;
    let label = move || match conn.get() {
        ConnState::Connected => format!("connected — {}", page_host()),
        state => state.label().to_owned(),
    };
    view! {
        <footer class="statusbar">
            <span class="brand">"[coopmux]"</span>
            <span class="conn" data-state=move || conn.get().as_str()>
                <span class="dot"></span>
                {label}
            </span>
        </footer>
    }
}

fn page_host() -> String {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.location().host().ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}
