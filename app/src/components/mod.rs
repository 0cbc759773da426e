//! Dashboard components.

mod header;

use crate::live::use_mux_feed;
use crate::term::TerminalView;
use header::Header;
use leptos::prelude::*;

/// The dashboard page at `/mux`.
#[component]
pub fn Dashboard() -> impl IntoView {
    let feed = use_mux_feed();
    let sidebar_open = RwSignal::new(true);
    view! {
        <Header feed sidebar_open/>
        <div class="layout">
            <aside class="sidebar" class:collapsed=move || !sidebar_open.get()>
                <h2>"Sessions"</h2>
            </aside>
            <main class="grid">
                <p class="empty">"Waiting for connections…"</p>
            </main>
        </div>
        <section class="terminal-demo" aria-label="terminal">
            <TerminalView banner="coopmux terminal ready\r\n"/>
        </section>
    }
}
