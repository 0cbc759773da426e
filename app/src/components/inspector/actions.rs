//! The actions tab: press keys, type text, nudge the agent, answer its prompt, signal the
//! program (INT, TERM, KILL) and resize its terminal. Each shows the session's answer.

use crate::api::{act_on_session, SessionAction};
use crate::term::{request_focused, Reply};
use leptos::prelude::*;
use protocol::coop::{InputKeys, InputText, Resize, SignalRequest, SignalSpec, WsRequest};

/// The signals offered, as `signal:send` names them.
const SIGNALS: [&str; 3] = ["INT", "TERM", "KILL"];

/// How an answer reads in the result line.
fn outcome(what: &str, reply: &Reply) -> String {
    match reply {
        Ok(value) => {
            let mut fields = value.clone();
            if let Some(map) = fields.as_object_mut() {
                map.remove("request_id");
            }
            format!("{what}: {fields}")
        }
        Err(err) => format!("{what} failed: {err}"),
    }
}

/// The actions tab of session `id`.
#[component]
pub fn ActionsTab(id: String) -> impl IntoView {
    let result = RwSignal::new(String::new());
    let keys = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let nudge = RwSignal::new(String::new());
    let respond = RwSignal::new(r#"{"accept":true}"#.to_owned());
    let cols = RwSignal::new("120".to_owned());
    let rows = RwSignal::new("40".to_owned());
    let ask = move |what: &'static str, request: WsRequest| {
        request_focused(&request, move |reply| result.set(outcome(what, &reply)));
    };
    let send_keys = move |_| {
        let list: Vec<String> = keys
            .get_untracked()
            .split([',', ' '])
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        ask("keys", WsRequest::KeysSend(InputKeys { keys: list }));
    };
    let send_text = move |_| {
        let input = InputText {
            text: text.get_untracked(),
            enter: true,
        };
        ask("text", WsRequest::InputSend(input));
    };
    let resize = move |_| match (cols.get_untracked().parse(), rows.get_untracked().parse()) {
        (Ok(cols), Ok(rows)) => ask("resize", WsRequest::Resize(Resize { cols, rows })),
        _ => result.set("resize: columns and rows are whole numbers".into()),
    };
    let call = move |id: String, what: &'static str, action: SessionAction| {
        leptos::task::spawn_local(async move {
            let reply = act_on_session(id, action)
                .await
                .map_err(|e| format!("{} {}", e.status, e.message));
            result.set(outcome(what, &reply));
        });
    };
    let (nudge_id, respond_id) = (id.clone(), id);
    let do_nudge = move |_| {
        let message = nudge.get_untracked();
        call(nudge_id.clone(), "nudge", SessionAction::Nudge { message });
    };
    let do_respond = move |_| match serde_json::from_str(&respond.get_untracked()) {
        Ok(body) => call(
            respond_id.clone(),
            "respond",
            SessionAction::Respond { body },
        ),
        Err(err) => result.set(format!("respond: invalid JSON: {err}")),
    };
    let signal_buttons = SIGNALS
        .into_iter()
        .map(|name| {
            let send = move |_| {
                let signal = SignalRequest {
                    signal: SignalSpec::Name(name.to_owned()),
                };
                ask("signal", WsRequest::SignalSend(signal));
            };
            view! { <button title=format!("Send SIG{name} to the program") on:click=send>{name}</button> }
        })
        .collect_view();
    view! {
        <label>"Keys" <input placeholder="ctrl-c, enter" bind:value=keys/></label>
        <button on:click=send_keys>"Send keys"</button>
        <label>"Text" <input placeholder="text + Enter" bind:value=text/></label>
        <button on:click=send_text>"Type"</button>
        <label>"Nudge" <input placeholder="message" bind:value=nudge/></label>
        <button on:click=do_nudge>"Nudge"</button>
        <label>"Respond" <input bind:value=respond/></label>
        <button on:click=do_respond>"Respond"</button>
        <h3>"signal"</h3>
        <div class="button-row">{signal_buttons}</div>
        <h3>"resize"</h3>
        <div class="button-row">
            <input class="num" aria-label="Columns" bind:value=cols/>
            "×"
            <input class="num" aria-label="Rows" bind:value=rows/>
            <button on:click=resize>"Resize"</button>
        </div>
        <p class="result" role="status">{move || result.get()}</p>
    }
}
