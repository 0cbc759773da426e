//! The grid of session tiles: title, subtitle, state badge and a live ANSI preview of the
//! screen (from `screen_batch`, no terminal per tile) as wide as the session's terminal,
//! narrowed by the filter, plus the "+" launch card. A session waiting on a prompt shows the
//! question (its inbox item) instead of the preview. A session whose program exited keeps its
//! tile, with the last screen and the exit code, until it is dismissed or goes away.

use super::inbox::TileAsk;
use super::use_ui;
use crate::ansi::rows_html;
use crate::model::{exit_label, prefix, state_class, state_label, Preview, SessionView};
use leptos::prelude::*;
use protocol::AgentState;

/// The grid.
#[component]
pub fn Grid() -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    let tiles = move || fleet.sessions.get().unwrap_or_default();
    // Only a snapshot can say there is nothing: before it (the server-rendered page) the
    // grid says nothing rather than contradict the session count.
    let empty = move || {
        fleet
            .sessions
            .with(|s| s.as_ref().is_some_and(Vec::is_empty))
            && !ui.can_launch()
    };
    let no_match = move || {
        !ui.filter.with(|f| f.trim().is_empty())
            && fleet
                .sessions
                .with(|s| s.as_ref().is_some_and(|s| !s.is_empty()))
            && ui.ordered().is_empty()
    };
    view! {
     <main class="grid" aria-label="Session tiles">
         <Show when=empty>
             <p class="empty">"Waiting for connections…"</p>
         </Show>
         <Show when=no_match>
             <p class="empty">"No session matches the filter."</p>
         </Show>
         <For each=tiles key=|v| v.id.clone() let:view>
             <Tile view/>
         </For>
         <Show when=move || ui.can_launch()>
             <button
                 class="tile launch-card"
                 title="Launch new session"
                 disabled=move || !ui.online()
                 on:click=move |_| ui.launch_open.set(true)
             >
                 <span class="plus">"+"</span>
             </button>
         </Show>
     </main>
    }
}

#[component]
fn Tile(view: SessionView) -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    let id = view.id.clone();
    let title = view.title();
    let subtitle = view.subtitle();
    let state = view.state.clone();
    let state_text = {
        let state = state.clone();
        move || state.with(|s| state_label(s.as_ref()))
    };
    let label = {
        let short = prefix(&id, 8).to_owned();
        let title = title.clone();
        let state_text = state_text.clone();
        move || format!("{title} {short} {}", crate::case::lower(&state_text()))
    };
    let badge = move || format!("badge {}", state.with(|s| state_class(s.as_ref())));
    let preview = view.preview.clone();
    let html = move || preview.with(|p| p.as_ref().map(preview_html).unwrap_or_default());
    let cols = {
        let preview = view.preview.clone();
        move || preview.with(|p| format!("--cols:{}", p.as_ref().map_or(80, |p| p.cols)))
    };
    let hidden = {
        let id = id.clone();
        let matches = {
            let view = view.clone();
            move || view.matches(&ui.query())
        };
        move || ui.focused.with(|f| f.as_deref() == Some(id.as_str())) || !matches()
    };
    let exited = {
        let state = view.state.clone();
        move || state.with(|s| s.as_ref() == Some(&AgentState::Exited))
    };
    let exit_code = view.exit_code.clone();
    let dismiss_id = id.clone();
    let dismiss = move |ev: leptos::ev::MouseEvent| {
        // The tile itself opens the session on a click.
        ev.stop_propagation();
        let id = dismiss_id.clone();
        leptos::task::spawn_local(async move {
            if let Err(err) = dismiss(id.clone()).await {
                ui.notice
                    .set(Some(format!("Dismissing {id} failed: {}", err.message)));
            }
        });
    };
    let exit_info = {
        let exited = exited.clone();
        move || {
            exited().then(|| {
                let code = exit_code.clone();
                let dismiss = dismiss.clone();
                view! {
                    <span class="exit-code" data-testid="exit-code">{move || exit_label(code.get())}</span>
                    <button class="dismiss" title="Dismiss: shut the exited session down and remove it"
                        aria-label="Dismiss" on:click=dismiss>"×"</button>
                }
            })
        }
    };
    let asking = {
        let id = id.clone();
        move || fleet.inbox.of_session(&id)
    };
    let (click_id, key_id) = (id.clone(), id.clone());
    view! {
        <div
            class="tile"
            class:hidden=hidden
            class:exited=exited
            role="button"
            tabindex="0"
            aria-label=label
            data-session=id.clone()
            on:click=move |_| ui.toggle(&click_id)
            on:keydown=move |ev| {
                if ev.key() == "Enter" || ev.key() == " " {
                    ev.prevent_default();
                    ui.toggle(&key_id);
                }
            }
        >
            <div class="tile-head">
                <div class="tile-titles">
                    <div class="tile-title">{title}</div>
                    <div class="tile-sub">{subtitle}</div>
                </div>
                <span class=badge>{state_text}</span>
                {exit_info}
            </div>
            // A waiting session shows what it asks, readable, instead of its screen.
            // The flex box anchors the rows to the bottom; the <pre> keeps each row on one line
            // and is as wide as the session's terminal (`--cols`), scaled to fit the tile.
            {move || match asking() {
                Some(item) => view! { <TileAsk item/> }.into_any(),
                None => view! {
                    <div class="preview" style=cols.clone() aria-hidden="true">
                        <pre inner_html=html.clone()></pre>
                    </div>
                }
                .into_any(),
            }}
        </div>
    }
}

/// The preview as HTML: one line per row, SGR runs as styled spans, text escaped.
pub fn preview_html(preview: &Preview) -> String {
    rows_html(&preview.rows)
}

/// Dismisses exited session `id` (a plain call: see [`crate::rest`]).
async fn dismiss(id: String) -> Result<(), crate::api::ApiFailure> {
    #[cfg(feature = "hydrate")]
    {
        crate::rest::dismiss_session(id).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        crate::api::dismiss_session(id).await
    }
}
