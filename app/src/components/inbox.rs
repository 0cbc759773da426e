//! The inbox panel beside the grid (docs/architecture.md, "The inbox panel"): every prompt an
//! agent waits on, oldest first, with what it asks in plain text, answered with a key or a
//! click through `POST /api/v1/inbox/{item}/answer`. The keys and the tile's question are part
//! of the first load (`i` then `y` works while the panel's own chunk loads); the panel and the
//! sending are loaded on first use.
//!
//! All prompt text is the agent's: it is rendered as text nodes only.

use super::{use_ui, Ui};
use crate::model::inbox::{ask, input_fields, key_answer, text_answer, Ask};
use crate::model::prefix;
use leptos::prelude::*;
use protocol::coop::RespondRequest;
use protocol::inbox::InboxItem;

/// Who asks: the session's label, else the start of its id.
pub fn who(item: &InboxItem) -> String {
    item.label
        .clone()
        .unwrap_or_else(|| prefix(&item.session, 12).to_owned())
}

/// What an item asks, read from its prompt.
pub fn ask_of(item: &InboxItem) -> Ask {
    ask(&item.prompt, input_fields)
}

/// One line for a notification: who asks what (the body's first line, at most 200 chars).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn summary(item: &InboxItem) -> String {
    let ask = ask_of(item);
    let first = ask
        .body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!(
        "{} asks — {}: {}",
        who(item),
        ask.heading,
        prefix(first, 200)
    )
}

/// The header's inbox button with the number of waiting items.
#[component]
pub fn InboxButton() -> impl IntoView {
    let ui = use_ui();
    let count = Memo::new(move |_| ui.feed.fleet.inbox.items.with(Vec::len));
    let waiting = Memo::new(move |_| count.get() > 0);
    view! {
        <button
            class="inbox-button"
            class:waiting=waiting
            title="Inbox: what the agents ask (i)"
            aria-label=move || format!("Inbox, {} waiting", count.get())
            aria-expanded=move || ui.inbox_open.get().to_string()
            on:click=move |_| toggle(ui)
        >
            <span class="label">"Inbox"</span>
            <span class="count" data-testid="inbox-count">{count}</span>
        </button>
    }
}

/// Opens the panel with the oldest item selected, or closes it.
pub fn toggle(ui: Ui) {
    if ui.inbox_open.get_untracked() {
        ui.inbox_open.set(false);
    } else {
        ui.feed.fleet.inbox.selected.set(None);
        ui.inbox_notice.set(None);
        ui.inbox_open.set(true);
    }
}

/// What a tile shows instead of its preview while its session waits on a prompt.
#[component]
pub fn TileAsk(item: InboxItem) -> impl IntoView {
    let Ask {
        heading,
        body,
        options,
        ..
    } = ask_of(&item);
    let options = options
        .into_iter()
        .enumerate()
        .map(|(i, o)| view! { <li>{format!("{}. {o}", i + 1)}</li> })
        .collect_view();
    view! {
        <div class="tile-ask" data-testid="tile-ask">
            <div class="ask-heading">{heading}</div>
            <pre class="ask-body">{body}</pre>
            <ol class="ask-options">{options}</ol>
            <div class="ask-hint muted">"i opens the inbox"</div>
        </div>
    }
}

/// The panel while open (its body through [`super::on_demand::inbox_panel`]).
#[component]
pub fn InboxPanel() -> impl IntoView {
    let ui = use_ui();
    move || {
        ui.inbox_open
            .get()
            .then(|| Suspend::new(super::on_demand::inbox_panel()))
    }
}

/// "3 waiting" / "nothing waiting".
fn waiting_label(n: usize) -> String {
    match n {
        0 => "nothing waiting".to_owned(),
        n => format!("{n} waiting"),
    }
}

/// The panel itself.
#[component]
pub(super) fn Panel() -> impl IntoView {
    let ui = use_ui();
    let inbox = ui.feed.fleet.inbox;
    // Keyed by what is shown: an item whose prompt changes in place is drawn again.
    let key = |i: &InboxItem| {
        let p = &i.prompt;
        (i.id.clone(), p.input.clone(), p.options.clone(), p.ready)
    };
    view! {
        <aside class="inbox" aria-label="Inbox">
            <div class="inbox-head">
                <h2>"Inbox"</h2>
                <span class="stat">{move || waiting_label(inbox.items.with(Vec::len))}</span>
                <span class="spacer"></span>
                <button title="Close (Esc)" on:click=move |_| ui.inbox_open.set(false)>
                    "Close"
                </button>
            </div>
            <p class="inbox-keys muted">
                "1–9 option · y/n allow or deny · ↑/↓ select · a all identical · Esc close"
            </p>
            <super::Notice message=ui.inbox_notice/>
            <Show when=move || inbox.items.with(Vec::is_empty)>
                <p class="empty">"Nothing is waiting for you."</p>
            </Show>
            <ol class="inbox-items">
                <For each=move || inbox.items.get() key=key let:item>
                    <Item item/>
                </For>
            </ol>
        </aside>
    }
}

#[component]
fn Item(item: InboxItem) -> impl IntoView {
    let ui = use_ui();
    let inbox = ui.feed.fleet.inbox;
    let Ask {
        heading,
        body,
        options,
        permission,
    } = ask_of(&item);
    let id = item.id.clone();
    let selected = {
        let id = id.clone();
        move || inbox.current().is_some_and(|c| c.id == id)
    };
    let pending = {
        let id = id.clone();
        move || ui.inbox_pending.with(|p| p.contains(&id))
    };
    let same = {
        let item = item.clone();
        move || inbox.identical(&item).len()
    };
    let pick = {
        let id = id.clone();
        move |_| inbox.selected.set(Some(id.clone()))
    };
    let option_buttons = options
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let n = (i + 1) as u32;
            let id = id.clone();
            let choose = move |_| {
                let req = RespondRequest {
                    option: Some(n),
                    ..RespondRequest::default()
                };
                answer(ui, &id, req);
            };
            view! {
                <li><button class="option" disabled=pending.clone() on:click=choose>
                    {format!("{n}. {label}")}
                </button></li>
            }
        })
        .collect_view();
    let allow_deny = permission.then(|| {
        let (allow_id, deny_id) = (id.clone(), id.clone());
        let accept = |yes: bool| RespondRequest {
            accept: Some(yes),
            ..RespondRequest::default()
        };
        view! {
            <div class="button-row">
                <button class="primary" disabled=pending.clone()
                    on:click=move |_| answer(ui, &allow_id, accept(true))>"Allow (y)"</button>
                <button class="danger" disabled=pending.clone()
                    on:click=move |_| answer(ui, &deny_id, accept(false))>"Deny (n)"</button>
            </div>
        }
    });
    let typed = RwSignal::new(String::new());
    let kind = item.prompt.kind.clone();
    let send_text = {
        let id = id.clone();
        move || {
            if let Some(req) = text_answer(&kind, &typed.get_untracked()) {
                answer(ui, &id, req);
            }
        }
    };
    let send_on_enter = {
        let send_text = send_text.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" {
                ev.prevent_default();
                send_text();
            }
        }
    };
    let open_id = item.session.clone();
    let where_ = [item.agent.clone(), item.location.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <li
            class="inbox-item"
            class:selected=selected.clone()
            aria-current=move || selected().then_some("true")
            data-item=id.clone()
            data-session=item.session.clone()
            on:click=pick
        >
            <div class="item-head">
                <span class="item-who">{who(&item)}</span>
                <span class="tag">{item.prompt.kind.clone()}</span>
                <button class="open-session" title="Open the session's terminal"
                    on:click=move |_| ui.open(&open_id)>"Open"</button>
            </div>
            <div class="item-where muted">{where_}</div>
            <div class="ask-heading">{heading}</div>
            <pre class="ask-body">{body}</pre>
            <ol class="ask-options">{option_buttons}</ol>
            {allow_deny}
            <div class="answer-text">
                <input
                    type="text"
                    aria-label="Answer with text"
                    placeholder="Type an answer, Enter sends"
                    bind:value=typed
                    on:keydown=send_on_enter
                />
                <button disabled=pending on:click=move |_| send_text()>"Send"</button>
            </div>
            <Show when={
                let same = same.clone();
                move || same() > 1
            }>
                <label class="all-identical">
                    <input type="checkbox" prop:checked=ui.inbox_all
                        on:change=move |_| ui.inbox_all.update(|a| *a = !*a)/>
                    {
                        let same = same.clone();
                        move || format!("Answer all {} identical prompts (a)", same())
                    }
                </label>
            </Show>
        </li>
    }
}

/// A key pressed while the panel is open and no field has the focus: answers the selected
/// item when the key is one of its answers (`1`–`9`, `y`/`n`).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn key(ui: Ui, key: &str) {
    let Some(item) = ui.feed.fleet.inbox.current_untracked() else {
        return;
    };
    match key_answer(&ask_of(&item), key) {
        Some(req) => answer(ui, &item.id, req),
        None => ui.inbox_notice.set(Some((
            false,
            format!("{key} is not an answer to what {} asks", who(&item)),
        ))),
    }
}

/// Sends `req` to item `id`, and to every identical item when "all identical" is on.
pub fn answer(ui: Ui, id: &str, req: RespondRequest) {
    let inbox = ui.feed.fleet.inbox;
    let Some(item) = inbox
        .items
        .with_untracked(|l| l.iter().find(|i| i.id == id).cloned())
    else {
        return;
    };
    let mut targets = if ui.inbox_all.get_untracked() {
        untrack(|| inbox.identical(&item))
    } else {
        vec![item.id.clone()]
    };
    // Already on its way: a second key press sends nothing.
    targets.retain(|t| !ui.inbox_pending.with_untracked(|p| p.contains(t)));
    if targets.is_empty() {
        return;
    }
    ui.inbox_pending
        .update(|p| p.extend(targets.iter().cloned()));
    inbox.selected.set(Some(item.id.clone()));
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(super::on_demand::answer_items(ui, item, targets, req));
    #[cfg(not(feature = "hydrate"))]
    let _ = (item, req);
}

/// How an answer reads in the confirmation.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn answer_label(ask: &Ask, req: &RespondRequest) -> String {
    match (req.accept, req.option, &req.text) {
        (Some(true), ..) => "allowed".to_owned(),
        (Some(false), ..) => "denied".to_owned(),
        (_, Some(n), _) => {
            let label = ask.options.get(n as usize - 1).cloned().unwrap_or_default();
            format!("{n}. {label}")
        }
        (_, _, Some(text)) => format!("\u{201c}{text}\u{201d}"),
        _ => "answered".to_owned(),
    }
}

/// Sends `req` to each of `targets` (reached through [`super::on_demand::answer_items`]).
#[cfg(feature = "hydrate")]
pub(super) async fn send(ui: Ui, item: InboxItem, targets: Vec<String>, req: RespondRequest) {
    use crate::model::inbox::InboxEvent;
    let inbox = ui.feed.fleet.inbox;
    let what = answer_label(&ask_of(&item), &req);
    let mut failures = Vec::new();
    let mut conflict = false;
    for target in &targets {
        match crate::rest::inbox::answer(target, &req).await {
            // It leaves once the agent moves on; shown as gone now, so the next is selected.
            Ok(_) => inbox.apply(InboxEvent::Gone(target.clone())),
            Err(err) => {
                conflict |= err.status == 409;
                failures.push(if err.status == 409 {
                    format!("{target} was not answered: {}", err.message)
                } else {
                    format!("{target}: {} ({})", err.message, err.status)
                });
            }
        }
    }
    ui.inbox_pending
        .update(|p| p.retain(|id| !targets.contains(id)));
    let done = targets.len() - failures.len();
    let notice = if failures.is_empty() {
        let whom = match done {
            1 => who(&item),
            n => format!("{n} identical prompts"),
        };
        (true, format!("Answered {whom}: {what}"))
    } else {
        let mut text = failures.join("; ");
        if conflict {
            text.push_str(" — the inbox was refreshed");
        }
        (false, text)
    };
    ui.inbox_notice.set(Some(notice));
    if conflict {
        crate::rest::inbox::refresh(inbox).await;
    }
}
