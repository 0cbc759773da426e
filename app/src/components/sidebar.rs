//! The sidebar: sessions sorted by how much they need a person (prompt, then error/parked,
//! then idle, then working, then the rest), each with a coloured dot, its labels and last
//! message. Collapsed, only the dots show.

use super::use_ui;
use crate::model::{attention, state_class, state_label, SessionView};
use leptos::prelude::*;

/// The sidebar.
#[component]
pub fn Sidebar() -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    let sorted = Memo::new(move |_| {
        let mut list: Vec<(u8, usize, SessionView)> = fleet.sessions.with(|s| {
            s.iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| (v.state.with(|st| attention(st.as_ref())), i, v.clone()))
                .collect()
        });
        // Stable within a group: registration order.
        list.sort_by_key(|(group, i, _)| (*group, *i));
        list.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>()
    });
    let collapsed = move || !ui.sidebar_open.get();
    let hidden = move || {
        fleet
            .sessions
            .with(|s| s.as_ref().is_none_or(Vec::is_empty))
            && !ui.can_launch()
    };
    view! {
     <aside class="sidebar" class:collapsed=collapsed class:hidden=hidden aria-label="Sessions">
         <Show when=move || ui.can_launch()>
             <button class="new-session" title="Launch new session" on:click=move |_| ui.launch_open.set(true)>
                 {move || if collapsed() { "+" } else { "+ New Session" }}
             </button>
         </Show>
         <ul>
             <For each=move || sorted.get() key=|v| v.id.clone() let:view>
                 <SidebarRow view collapsed=Signal::derive(collapsed)/>
             </For>
         </ul>
     </aside>
    }
}

#[component]
fn SidebarRow(view: SessionView, collapsed: Signal<bool>) -> impl IntoView {
    let ui = use_ui();
    let id = view.id.clone();
    let title = view.title();
    let labels = view.labels();
    let state = view.state.clone();
    let state_text = {
        let state = state.clone();
        move || state.with(|s| state_label(s.as_ref()))
    };
    let class = {
        let state = state.clone();
        move || format!("dot {}", state.with(|s| state_class(s.as_ref())))
    };
    let tooltip = {
        let title = title.clone();
        let state_text = state_text.clone();
        move || format!("{title} · {}", state_text())
    };
    let last = view.last_message.clone();
    let active = {
        let id = id.clone();
        move || ui.focused.with(|f| f.as_deref() == Some(id.as_str()))
    };
    let text = move || {
        (!collapsed.get()).then(|| {
            let labels = (!labels.is_empty())
                .then(|| view! { <div class="row-labels">{labels.clone()}</div> });
            let last = last.clone();
            view! {
                <div class="row-text">
                    <div class="row-head">
                        <span class="row-title">{title.clone()}</span>
                        <span class="row-state">{state_text.clone()}</span>
                    </div>
                    {labels}
                    <div class="row-msg">{move || last.get().unwrap_or_default()}</div>
                </div>
            }
        })
    };
    view! {
        <li class="row" class:active=active title=tooltip on:click=move |_| ui.toggle(&id)>
            <span class=class></span>
            {text}
        </li>
    }
}
