//! The config tab: the session's credential profiles with a switch to each, restart, shutdown
//! (after a confirmation), its stop and start configuration, and its transcripts. Profiles,
//! switch, restart and shutdown go through the hub's server functions (the session's HTTP
//! API); the rest are requests on its socket (`stop:config:get`, `config:start:get`,
//! `transcript:list`). What the session does not support shows its error.

use super::super::use_ui;
use super::{fields, Ask, Section};
use crate::api::{act_on_session, SessionAction};
use crate::term::{request_focused, Reply};
use leptos::prelude::*;
use serde_json::Value;

/// Profile names and whether each is the active one, from a `GET /session/profiles` answer.
fn profile_names(list: &Value) -> Vec<(String, bool)> {
    let active = list.get("active_profile").and_then(Value::as_str);
    list.get("profiles")
        .and_then(Value::as_array)
        .map(|profiles| {
            profiles
                .iter()
                .filter_map(|p| p.get("name")?.as_str())
                .map(|name| (name.to_owned(), Some(name) == active))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `action` on session `id`: whether it succeeded, and the result line.
async fn run(id: String, what: &str, action: SessionAction) -> (bool, String) {
    match act_on_session(id, action).await {
        Ok(_) => (true, format!("{what}: done")),
        Err(e) => (false, format!("{what} failed: {} {}", e.status, e.message)),
    }
}

/// The config tab of session `id`.
#[component]
pub fn ConfigTab(id: String) -> impl IntoView {
    let ui = use_ui();
    let result = RwSignal::new(String::new());
    let profiles = RwSignal::new(None::<Reply>);
    let stop_config = RwSignal::new(None::<Reply>);
    let start_config = RwSignal::new(None::<Reply>);
    let transcripts = RwSignal::new(None::<Reply>);
    let confirming = RwSignal::new(false);
    let id = StoredValue::new(id);
    let load_profiles = move || {
        leptos::task::spawn_local(async move {
            let reply = act_on_session(id.get_value(), SessionAction::Profiles)
                .await
                .map_err(|e| format!("{} {}", e.status, e.message));
            profiles.set(Some(reply));
        });
    };
    load_profiles();
    // An unforced switch is applied when the session is next idle (coop's contract), after its
    // 202: keep reading which profile is active.
    #[cfg(feature = "hydrate")]
    {
        let every = std::time::Duration::from_millis(super::state::REFRESH_MS);
        if let Ok(handle) = set_interval_with_handle(load_profiles, every) {
            on_cleanup(move || handle.clear());
        }
    }
    request_focused(
        &Ask {
            event: "stop:config:get",
        },
        move |r| stop_config.set(Some(r)),
    );
    request_focused(
        &Ask {
            event: "config:start:get",
        },
        move |r| start_config.set(Some(r)),
    );
    request_focused(
        &Ask {
            event: "transcript:list",
        },
        move |r| transcripts.set(Some(r)),
    );

    let profile_list = move || match profiles.get() {
        None => view! { <p class="muted">"…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="error">{err}</p> }.into_any(),
        Some(Ok(list)) => {
            let rows = profile_names(&list)
                .into_iter()
                .map(|(name, active)| {
                    let label = name.clone();
                    let switch = move |_| {
                        let action = SessionAction::Switch {
                            profile: name.clone(),
                        };
                        leptos::task::spawn_local(async move {
                            result.set(run(id.get_value(), "switch", action).await.1);
                            load_profiles();
                        });
                    };
                    view! {
                        <li class="profile" class:active=active>
                            <span>{label}</span>
                            {active.then(|| view! { <span class="tag">"active"</span> })}
                            <button disabled=active on:click=switch>"Switch"</button>
                        </li>
                    }
                })
                .collect_view();
            view! {
                {fields(&list)}
                <ul class="profiles">{rows}</ul>
            }
            .into_any()
        }
    };
    let restart = move |_| {
        leptos::task::spawn_local(async move {
            result.set(
                run(id.get_value(), "restart", SessionAction::Restart)
                    .await
                    .1,
            );
        });
    };
    let shut_down = move |_| {
        confirming.set(false);
        leptos::task::spawn_local(async move {
            let (ok, line) = run(id.get_value(), "shutdown", SessionAction::Shutdown).await;
            result.set(line);
            if ok {
                ui.close();
            }
        });
    };
    view! {
        <section class="inspector-section" data-section="profiles">
            <h3>"profiles"</h3>
            {profile_list}
        </section>
        <h3>"session"</h3>
        <div class="button-row">
            <button on:click=restart>"Restart"</button>
            <button class="danger" on:click=move |_| confirming.set(true)>"Shut down…"</button>
        </div>
        <Show when=move || confirming.get()>
            <div class="confirm" role="alertdialog" aria-label="Confirm shutdown">
                <p>"Shut this session down? Its program is stopped and the session leaves the hub."</p>
                <button class="danger" on:click=shut_down>"Shut down"</button>
                <button on:click=move |_| confirming.set(false)>"Cancel"</button>
            </div>
        </Show>
        <p class="result" role="status">{move || result.get()}</p>
        <Section title="stop config" reply=stop_config/>
        <Section title="start config" reply=start_config/>
        <Section title="transcripts" reply=transcripts/>
    }
}

#[cfg(test)]
mod tests {
    use super::profile_names;
    use serde_json::json;

    #[test]
    fn profiles_are_listed_with_the_active_one_marked() {
        let list = json!({"profiles": [{"name": "a", "status": "active"}, {"name": "b"}],
            "mode": "manual", "active_profile": "a"});
        assert_eq!(
            profile_names(&list),
            vec![("a".to_owned(), true), ("b".to_owned(), false)]
        );
        assert!(profile_names(&json!({})).is_empty());
    }
}
