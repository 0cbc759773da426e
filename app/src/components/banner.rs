//! The banner that says the hub is out of reach. While it shows, the tiles are greyed (the
//! `offline` class on the layout) and launching is disabled; after the reconnect every
//! session's state is read again at once (`live.rs`).

use super::use_ui;
use crate::live::ConnState;
use leptos::prelude::*;

/// Shown while the `/ws/mux` connection is down and retrying.
#[component]
pub fn Disconnected() -> impl IntoView {
    let conn = use_ui().feed.conn;
    move || {
        (conn.get() == ConnState::Retrying).then(|| {
            view! {
                <div class="banner" role="alert" data-testid="disconnected">
                    <strong>"Disconnected from the hub."</strong>
                    " Reconnecting… Sessions shown may be out of date; launching is disabled."
                </div>
            }
        })
    }
}
