//! The top bar: title, session count, sidebar toggle and connection state.

use crate::api::session_count;
use crate::live::LiveFeed;
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
pub fn Header(feed: LiveFeed, sidebar_open: RwSignal<bool>) -> impl IntoView {
    // The server renders the count from the server function; the live feed takes over once
    // its first snapshot arrives.
    let initial = Resource::new(|| (), |_| session_count());
    let count = move || {
        let live = feed.sessions.with(|s| s.as_ref().map(Vec::len));
        initial
            .get()
            .map(|fetched| sessions_label(live.or(fetched.ok()).unwrap_or(0)))
    };
    view! {
        <header class="topbar">
            <button
                class="sidebar-toggle"
                title="Toggle sidebar (Ctrl+B)"
                aria-pressed=move || sidebar_open.get().to_string()
                on:click=move |_| sidebar_open.update(|open| *open = !*open)
            >
                "☰"
            </button>
            <h1>"coopmux"</h1>
            <span class="session-count" data-testid="session-count">
                <Suspense fallback=|| "…">{count}</Suspense>
            </span>
            <span class="conn" data-state=move || feed.conn.get().as_str()>
                <span class="dot"></span>
                {move || feed.conn.get().label()}
            </span>
        </header>
    }
}
