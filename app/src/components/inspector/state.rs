//! The state tab: the session's health, status, agent and usage, read every 2 s over its
//! socket (`health:get`, `status:get`, `agent:get`, `usage:get`), and the event log.

use super::{Ask, Section};
use crate::term::{request_focused, Reply, TermSignals};
use leptos::prelude::*;
use protocol::coop::WsRequest;

/// How often the shown state is read again, in milliseconds.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(super) const REFRESH_MS: u64 = 2_000;

/// The state tab.
#[component]
pub fn StateTab(signals: TermSignals) -> impl IntoView {
    let health = RwSignal::new(None::<Reply>);
    let status = RwSignal::new(None::<Reply>);
    let agent = RwSignal::new(None::<Reply>);
    let usage = RwSignal::new(None::<Reply>);
    let read = move || {
        request_focused(&WsRequest::HealthGet, move |r| health.set(Some(r)));
        request_focused(&WsRequest::StatusGet, move |r| status.set(Some(r)));
        request_focused(&WsRequest::AgentGet, move |r| agent.set(Some(r)));
        request_focused(&Ask { event: "usage:get" }, move |r| usage.set(Some(r)));
    };
    #[cfg(feature = "hydrate")]
    {
        read();
        let every = std::time::Duration::from_millis(REFRESH_MS);
        if let Ok(handle) = set_interval_with_handle(read, every) {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = read;
    view! {
        <Section title="health" reply=health/>
        <Section title="status" reply=status/>
        <Section title="agent" reply=agent/>
        <Section title="usage" reply=usage/>
        <h3>"events"</h3>
        <ul class="log">
            {move || signals.log.get().into_iter().rev().map(|l| view! { <li>{l}</li> }).collect_view()}
        </ul>
    }
}
