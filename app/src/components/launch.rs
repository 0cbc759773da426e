//! The launch dialog: presets, editable environment rows with unique names, the server's
//! validation errors inline, and the recent launches with their state, time, output tail and
//! a link to their session.
//!
//! A launch is followed until its session registers (then the dialog closes) or it fails:
//! then the dialog stays open and shows the failure, its exit code and its output tail.

use super::use_ui;
use crate::ansi::rows_html;
use crate::api::{launch, launches};
use crate::model::prefix;
use leptos::prelude::*;
use protocol::launch::{LaunchDetail, LaunchState};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long the dialog stays open after the launched session registered, in milliseconds.
const CLOSE_AFTER_MS: u64 = 1_500;
/// How often a launch being followed is read again, in milliseconds (its `launch:*` events
/// usually come first; this covers a feed that was down).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const FOLLOW_POLL_MS: u64 = 2_000;
/// Output lines shown per recent launch.
const TAIL_LINES: usize = 4;
/// Output lines shown for a failed launch.
const FAILURE_LINES: usize = 20;

/// The last `n` output lines of a launch.
fn tail(launch: &LaunchDetail, n: usize) -> Vec<String> {
    let skip = launch.output.len().saturating_sub(n);
    launch.output[skip..]
        .iter()
        .map(|o| o.text.clone())
        .collect()
}

/// "Launch failed (exit code 7): reason".
fn failure_text(launch: &LaunchDetail) -> String {
    let code = launch
        .info
        .exit_code
        .map_or_else(String::new, |c| format!(" (exit code {c})"));
    let reason = launch
        .info
        .reason
        .as_deref()
        .map_or_else(String::new, |r| format!(": {r}"));
    format!("Launch failed{code}{reason}")
}

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
    move || {
        ui.launch_open
            .get()
            .then(|| Suspend::new(super::on_demand::launch_dialog()))
    }
}

/// The dialog itself (reached through [`super::on_demand::launch_dialog`]).
#[component]
pub(super) fn Dialog() -> impl IntoView {
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
    // The launch being followed, and how the last one ended when it failed.
    let following = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<LaunchDetail>);
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
        failure.set(None);
        leptos::task::spawn_local(async move {
            match launch(env).await {
                Ok(done) => {
                    message.set(Some((
                        true,
                        format!(
                            "Starting session {} — waiting for it to register…",
                            prefix(&done.session_id, 8)
                        ),
                    )));
                    following.set(Some(done.launch_id));
                }
                Err(err) => {
                    message.set(Some((false, format!("{}: {}", err.status, err.message))));
                    busy.set(false);
                }
            }
        });
    };
    // Follows the launch: on every `launch:*` event, and every few seconds.
    Effect::new(move |_| {
        ui.feed.fleet.launches_changed.track();
        if following.get().is_some() {
            check_launch(ui, following, failure, message, busy);
        }
    });
    #[cfg(feature = "hydrate")]
    {
        let poll = move || {
            if following.get_untracked().is_some() {
                check_launch(ui, following, failure, message, busy);
            }
        };
        if let Ok(handle) = set_interval_with_handle(poll, Duration::from_millis(FOLLOW_POLL_MS)) {
            on_cleanup(move || handle.clear());
        }
    }
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
                {move || failure.get().map(|f| view! {
                    <div class="launch-failure" data-testid="launch-failure">
                        <pre class="tail" inner_html=rows_html(&tail(&f, FAILURE_LINES))></pre>
                    </div>
                })}
                <div class="dialog-actions">
                    <button
                        class="primary"
                        disabled=move || busy.get() || duplicate().is_some() || !ui.online()
                        on:click=submit
                    >
                        {move || if busy.get() { "Launching…" } else { "Launch Session" }}
                    </button>
                    <button on:click=move |_| ui.launch_open.set(false)>"Cancel"</button>
                </div>
                <RecentLaunches/>
            </div>
        </div>
    }
}

/// Reads the launch being followed: a registered one closes the dialog, a failed one stays
/// with its failure shown.
fn check_launch(
    ui: super::Ui,
    following: RwSignal<Option<String>>,
    failure: RwSignal<Option<LaunchDetail>>,
    message: RwSignal<Option<(bool, String)>>,
    busy: RwSignal<bool>,
) {
    leptos::task::spawn_local(async move {
        let Ok(list) = launches().await else { return };
        let Some(id) = following.get_untracked() else {
            return;
        };
        let Some(found) = list.into_iter().find(|l| l.info.launch_id == id) else {
            return;
        };
        // A launch script that handed off (exited 0) ends `exited` once its session came.
        let registered = found.info.registered_at_ms.is_some();
        match found.info.state {
            state if state.is_waiting() => {
                // Still waiting for the session (not registered yet, or handed off).
                if state != LaunchState::Starting {
                    let short = prefix(&found.info.session_id, 8).to_owned();
                    let text = format!(
                        "Session {short}: {} — waiting for it to register…",
                        state.label()
                    );
                    message.set(Some((true, text)));
                }
                return;
            }
            LaunchState::Registered | LaunchState::Exited if registered => {
                let short = prefix(&found.info.session_id, 8).to_owned();
                message.set(Some((true, format!("Launched session {short}"))));
                set_timeout(
                    move || ui.launch_open.set(false),
                    Duration::from_millis(CLOSE_AFTER_MS),
                );
            }
            _ => {
                message.set(Some((false, failure_text(&found))));
                failure.set(Some(found));
            }
        }
        following.set(None);
        busy.set(false);
    });
}

/// Local time of day of an epoch time in milliseconds, `HH:MM:SS`.
fn time_of_day(ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        // Milliseconds since 1970 fit an f64 exactly for the next 285,000 years.
        #[allow(clippy::cast_precision_loss)]
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!(
            "{:02}:{:02}:{:02}",
            date.get_hours(),
            date.get_minutes(),
            date.get_seconds()
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let secs = ms / 1000;
        format!(
            "{:02}:{:02}:{:02} UTC",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        )
    }
}

#[component]
fn RecentLaunches() -> impl IntoView {
    let ui = use_ui();
    let list = RwSignal::new(Vec::<LaunchDetail>::new());
    // Reads may finish out of order (a `launch:started` read answering after the
    // `launch:failed` one): only the newest request's answer is shown.
    let newest = StoredValue::new(0_u64);
    Effect::new(move |_| {
        ui.feed.fleet.launches_changed.track();
        newest.update_value(|n| *n += 1);
        let request = newest.get_value();
        leptos::task::spawn_local(async move {
            if let Ok(l) = launches().await {
                if newest.get_value() == request {
                    list.set(l);
                }
            }
        });
    });
    view! {
        <h3>"Recent launches"</h3>
        <ul class="launches">
            {move || list.get().into_iter().take(8).map(|l| {
                let state = l.info.state.as_str();
                let label = l.info.state.label();
                let short = prefix(&l.info.session_id, 8).to_owned();
                // A registered session can be opened from here (the hash opens it).
                let session = if l.info.registered_at_ms.is_some() {
                    let href = format!("#{}", l.info.session_id);
                    let id = l.info.session_id.clone();
                    // Opened here: the router turns a click on a link into `pushState`,
                    // which fires no `hashchange`.
                    let open = move |ev: leptos::ev::MouseEvent| {
                        ev.prevent_default();
                        ui.launch_open.set(false);
                        ui.open(&id);
                    };
                    view! {
                        <a href=href title="Open this session" on:click=open>{short}</a>
                    }.into_any()
                } else {
                    view! { <span>{short}</span> }.into_any()
                };
                let code = l.info.exit_code.map(|c| view! { <span class="reason">{format!(" exit {c}")}</span> });
                view! {
                    <li data-state=state>
                        <span class=format!("badge launch-{state}")>{label}</span>
                        " " {session}
                        " " <time class="when">{time_of_day(l.info.started_at_ms)}</time>
                        {code}
                        {l.info.reason.clone().map(|r| view! { <span class="reason">" — " {r}</span> })}
                        <pre class="tail" inner_html=rows_html(&tail(&l, TAIL_LINES))></pre>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failure_reads_with_its_code_and_reason() {
        let launch: LaunchDetail = serde_json::from_value(json!({
            "launch_id": "l", "session_id": "s", "state": "failed", "pid": null,
            "started_at_ms": 0, "registered_at_ms": null, "ended_at_ms": 5,
            "exit_code": 7, "reason": "exited before registering",
            "output": [{"stream": "stdout", "text": "a"}, {"stream": "stderr", "text": "b"}]
        }))
        .unwrap();
        assert_eq!(
            failure_text(&launch),
            "Launch failed (exit code 7): exited before registering"
        );
        assert_eq!(tail(&launch, 1), vec!["b"]);
        assert_eq!(tail(&launch, 5), vec!["a", "b"]);
        assert_eq!(time_of_day(3_723_000), "01:02:03 UTC");
    }
}
