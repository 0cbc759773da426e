//! The inspector beside the focused terminal: the agent's state, and actions (send keys,
//! type text, nudge, respond to a prompt) with the server's answer shown inline.

use crate::api::{act_on_session, SessionAction};
use crate::term::{send_to_focused, TermSignals};
use leptos::prelude::*;

/// The inspector of session `id`.
#[component]
pub fn Inspector(id: String, signals: TermSignals) -> impl IntoView {
    let agent = signals.agent;
    let result = RwSignal::new(String::new());
    let keys = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let nudge = RwSignal::new(String::new());
    let respond = RwSignal::new(r#"{"accept":true}"#.to_owned());

    let send_keys = move |_| {
        let list: Vec<String> = keys
            .get_untracked()
            .split([',', ' '])
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        let sent = send_to_focused(serde_json::json!({"event": "keys:send", "keys": list}));
        result.set(if sent {
            "keys sent".into()
        } else {
            "not connected".into()
        });
    };
    let send_text = move |_| {
        let body =
            serde_json::json!({"event": "input:send", "text": text.get_untracked(), "enter": true});
        let sent = send_to_focused(body);
        result.set(if sent {
            "text sent".into()
        } else {
            "not connected".into()
        });
    };
    let call = move |id: String, action: SessionAction| {
        leptos::task::spawn_local(async move {
            let line = match act_on_session(id, action).await {
                Ok(reply) => format!("ok: {reply}"),
                Err(err) => format!("error {}: {}", err.status, err.message),
            };
            result.set(line);
        });
    };
    let (nudge_id, respond_id) = (id.clone(), id);
    let do_nudge = move |_| {
        call(
            nudge_id.clone(),
            SessionAction::Nudge {
                message: nudge.get_untracked(),
            },
        );
    };
    let do_respond = move |_| match serde_json::from_str(&respond.get_untracked()) {
        Ok(body) => call(respond_id.clone(), SessionAction::Respond { body }),
        Err(err) => result.set(format!("invalid JSON: {err}")),
    };
    let field =
        |label: &'static str, v: Option<String>| v.map(|v| view! { <dt>{label}</dt><dd>{v}</dd> });
    view! {
        <aside class="inspector" aria-label="Inspector">
            <h3>"State"</h3>
            <dl>
                {move || agent.get().map(|a| view! {
                    <dt>"agent"</dt><dd>{a.agent.clone()}</dd>
                    <dt>"state"</dt><dd data-testid="agent-state">{a.state.to_string()}</dd>
                    {field("cause", a.detection_cause.clone())}
                    {field("prompt", a.prompt.as_ref().map(|p| p.to_string()))}
                    {field("error", a.error_detail.clone())}
                })}
            </dl>
            <h3>"Actions"</h3>
            <label>"Keys" <input placeholder="ctrl-c, enter" bind:value=keys/></label>
            <button on:click=send_keys>"Send keys"</button>
            <label>"Text" <input placeholder="text + Enter" bind:value=text/></label>
            <button on:click=send_text>"Type"</button>
            <label>"Nudge" <input placeholder="message" bind:value=nudge/></label>
            <button on:click=do_nudge>"Nudge"</button>
            <label>"Respond" <input bind:value=respond/></label>
            <button on:click=do_respond>"Respond"</button>
            <p class="result" role="status">{move || result.get()}</p>
            <h3>"Events"</h3>
            <ul class="log">
                {move || signals.log.get().into_iter().rev().map(|l| view! { <li>{l}</li> }).collect_view()}
            </ul>
        </aside>
    }
}
