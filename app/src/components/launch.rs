//! The launch dialog: presets, editable environment rows with unique names, the server's
//! validation errors inline, and the recent launches with their state and output tail.

use super::use_ui;
use crate::api::{launch, launches};
use crate::model::prefix;
use leptos::prelude::*;
use protocol::launch::LaunchDetail;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long the dialog stays open after a successful launch, in milliseconds.
const CLOSE_AFTER_MS: u64 = 1_500;
/// Output lines shown per recent launch.
const TAIL_LINES: usize = 4;

/// The presets of coop's own dashboard: name and variables.
const PRESETS: [(&str, &[(&str, &str)]); 3] = [
    ("Local Directory", &[("WORKING_DIR", "")]),
    (
        "Git Clone",
        &[
            ("GIT_REPO", ""),
            ("GIT_BRANCH", "main"),
            ("WORKING_DIR", "/workspace/repo"),
        ],
    ),
    ("Empty", &[]),
];

#[derive(Debug, Clone, Copy)]
struct Row {
    key: u32,
    name: RwSignal<String>,
    value: RwSignal<String>,
}

/// The launch dialog (rendered only while open).
#[component]
pub fn LaunchDialog() -> impl IntoView {
    let ui = use_ui();
    move || ui.launch_open.get().then(|| view! { <Dialog/> })
}

#[component]
fn Dialog() -> impl IntoView {
    let ui = use_ui();
    let next_key = StoredValue::new(0u32);
    let make_row = move |name: &str, value: &str| {
        next_key.update_value(|k| *k += 1);
        Row {
            key: next_key.get_value(),
            name: RwSignal::new(name.to_owned()),
            value: RwSignal::new(value.to_owned()),
        }
    };
    let rows = RwSignal::new(Vec::<Row>::new());
    let set_preset = move |i: usize| {
        rows.set(PRESETS[i].1.iter().map(|(n, v)| make_row(n, v)).collect());
    };
    set_preset(0);
    let message = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);
    let duplicate = move || {
        let mut seen = BTreeSet::new();
        rows.with(|rows| {
            rows.iter()
                .map(|r| r.name.get())
                .find(|n| !n.is_empty() && !seen.insert(n.clone()))
        })
    };
    let add_row = move |_| {
        let names: BTreeSet<String> =
            rows.with_untracked(|r| r.iter().map(|r| r.name.get_untracked()).collect());
        let name = (1..)
            .map(|i| {
                if i == 1 {
                    "NEW_VAR".to_owned()
                } else {
                    format!("NEW_VAR_{i}")
                }
            })
            .find(|n| !names.contains(n))
            .unwrap_or_default();
        rows.update(|r| r.push(make_row(&name, "")));
    };
    let submit = move |_| {
        if duplicate().is_some() || busy.get_untracked() {
            return;
        }
        let env: BTreeMap<String, String> = rows.with_untracked(|rows| {
            rows.iter()
                .map(|r| (r.name.get_untracked(), r.value.get_untracked()))
                .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
                .collect()
        });
        busy.set(true);
        leptos::task::spawn_local(async move {
            match launch(env).await {
                Ok(done) => {
                    message.set(Some((
                        true,
                        format!("Launched session {}", prefix(&done.session_id, 8)),
                    )));
                    set_timeout(
                        move || ui.launch_open.set(false),
                        Duration::from_millis(CLOSE_AFTER_MS),
                    );
                }
                Err(err) => message.set(Some((false, format!("{}: {}", err.status, err.message)))),
            }
            busy.set(false);
        });
    };
    let placeholder = move |name: &str| {
        (name == "WORKING_DIR")
            .then(|| ui.launch_config.with(|c| c.as_ref().map(|c| c.cwd.clone())))
            .flatten()
            .unwrap_or_default()
    };
    view! {
        <div class="backdrop" on:click=move |_| ui.launch_open.set(false)>
            <div class="dialog" role="dialog" aria-label="Launch session" on:click=|ev| ev.stop_propagation()>
                <h2>"Launch session"</h2>
                <label>
                    "Preset "
                    <select aria-label="Preset" on:change=move |ev| {
                        set_preset(event_target_value(&ev).parse().unwrap_or(0));
                    }>
                        {PRESETS.iter().enumerate().map(|(i, (name, _))| view! {
                            <option value=i.to_string()>{*name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <table class="env">
                    <tbody>
                        <For each=move || rows.get() key=|r| r.key let:row>
                            <tr>
                                <td><input aria-label="Variable name" bind:value=row.name/></td>
                                <td><input aria-label="Value" bind:value=row.value
                                    placeholder=move || placeholder(&row.name.get())/></td>
                                <td><button class="remove" title="Remove" aria-label="Remove" on:click=move |_| {
                                    rows.update(|r| r.retain(|x| x.key != row.key));
                                }>"×"</button></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
                <button on:click=add_row>"+ Add"</button>
                {move || duplicate().map(|n| view! {
                    <p class="error" role="alert">{format!("Duplicate variable name: {n}")}</p>
                })}
                <super::Notice message/>
                <div class="dialog-actions">
                    <button class="primary" disabled=move || busy.get() || duplicate().is_some() on:click=submit>
                        "Launch Session"
                    </button>
                    <button on:click=move |_| ui.launch_open.set(false)>"Cancel"</button>
                </div>
                <RecentLaunches/>
            </div>
        </div>
    }
}

#[component]
fn RecentLaunches() -> impl IntoView {
    let ui = use_ui();
    let list = RwSignal::new(Vec::<LaunchDetail>::new());
    Effect::new(move |_| {
        ui.feed.fleet.launches_changed.track();
        leptos::task::spawn_local(async move {
            if let Ok(l) = launches().await {
                list.set(l);
            }
        });
    });
    view! {
        <h3>"Recent launches"</h3>
        <ul class="launches">
            {move || list.get().into_iter().take(8).map(|l| {
                let state = l.info.state.as_str();
                let label = l.info.state.label();
                let tail: Vec<String> = l.output.iter().rev().take(TAIL_LINES).rev().map(|o| o.text.clone()).collect();
                view! {
                    <li data-state=state>
                        <span class=format!("badge launch-{state}")>{label}</span>
                        " " {prefix(&l.info.session_id, 8).to_owned()}
                        {l.info.reason.clone().map(|r| view! { <span class="reason">" — " {r}</span> })}
                        <pre class="tail">{tail.join("\n")}</pre>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
