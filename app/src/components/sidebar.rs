//! The sidebar: sessions sorted by how much they need a person (prompt, then error/parked,
//! then idle, then working, then the rest), each a button with a coloured dot, its labels and
//! last message, narrowed by the filter. Collapsed, only the dots show. On a phone it opens
//! as a drawer over the page (☰), and picking a session closes the drawer.

use super::{is_phone, use_ui};
use crate::model::{state_class, state_label, SessionView};
use leptos::prelude::*;

/// The sidebar.
#[component]
pub fn Sidebar() -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    let sorted = Memo::new(move |_| ui.ordered());
    let collapsed = move || !ui.sidebar_open.get() && !ui.drawer_open.get();
    let hidden = move || {
        fleet
            .sessions
            .with(|s| s.as_ref().is_none_or(Vec::is_empty))
            && !ui.can_launch()
    };
    let drawer = move || ui.drawer_open.get();
    view! {
     <Show when=drawer>
         <div class="drawer-backdrop" on:click=move |_| ui.drawer_open.set(false)></div>
     </Show>
     <aside class="sidebar" class:collapsed=collapsed class:hidden=move || hidden() && !drawer() class:drawer=drawer aria-label="Sessions">
         <Show when=move || ui.can_launch()>
             <button
                 class="new-session"
                 title="Launch new session"
                 disabled=move || !ui.online()
                 on:click=move |_| ui.launch_open.set(true)
             >
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
    let current = {
        let active = active.clone();
        move || active().then_some("true")
    };
    let text = move || {
        (!collapsed.get()).then(|| {
            let labels = (!labels.is_empty())
                .then(|| view! { <span class="row-labels">{labels.clone()}</span> });
            let last = last.clone();
            view! {
                <span class="row-text">
                    <span class="row-head">
                        <span class="row-title">{title.clone()}</span>
                        <span class="row-state">{state_text.clone()}</span>
                    </span>
                    {labels}
                    <span class="row-msg">{move || last.get().unwrap_or_default()}</span>
                </span>
            }
        })
    };
    let pick = move |_| {
        ui.toggle(&id);
        if is_phone() {
            ui.drawer_open.set(false);
        }
    };
    view! {
        <li>
            <button class="row" class:active=active aria-current=current title=tooltip data-session=view.id.clone() on:click=pick>
                <span class=class></span>
                {text}
            </button>
        </li>
    }
}
