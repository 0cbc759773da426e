//! The dashboard's view of the fleet, folded from `/ws/mux` events (docs/architecture.md,
//! "The path of a `/ws/mux` event").
//!
//! Membership lives in one signal; each session's state, last message and screen live in
//! signals of their own, so a screen batch for 50 sessions re-renders only the tiles whose
//! screen changed. [`fleet`] folds the events; this module holds one session's view and the
//! rules the components share (titles, attention order, badges, the filter).

mod fleet;
pub mod inbox;

pub use fleet::{preview, CredentialAlert, Fleet, FollowUp, OAuthPrompt};

use crate::case::{lower, upper};
use leptos::prelude::*;
use protocol::mux::SessionSummary;
use protocol::AgentState;
use serde_json::Value;

/// The last screen of a session, as a tile shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// ANSI rows, trailing blank rows dropped (at least one kept).
    pub rows: Vec<String>,
    /// Width of the source terminal.
    pub cols: u16,
    /// The plain text of the rows, for the filter.
    pub text: String,
}

/// One session as the dashboard knows it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Upstream URL.
    pub url: String,
    /// Registration metadata.
    pub metadata: Value,
    /// Agent state (`idle`, `working`, `prompt`, …), unknown until a status was read.
    pub state: ArcRwSignal<Option<AgentState>>,
    /// The agent's last non-empty message.
    pub last_message: ArcRwSignal<Option<String>>,
    /// Latest screen.
    pub preview: ArcRwSignal<Option<Preview>>,
    /// The program's exit code, once it exited (read from the session's status).
    pub exit_code: ArcRwSignal<Option<i32>>,
}

/// Two views are the same row when they show the same session (their signals carry the rest).
impl PartialEq for SessionView {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl SessionView {
    fn new(summary: SessionSummary) -> Self {
        Self {
            id: summary.id,
            url: summary.url,
            metadata: summary.metadata,
            state: ArcRwSignal::new(summary.state),
            last_message: ArcRwSignal::new(None),
            preview: ArcRwSignal::new(None),
            exit_code: ArcRwSignal::new(None),
        }
    }

    /// Tile and sidebar title: the k8s pod, else the URL host, else the id's first 12 chars.
    pub fn title(&self) -> String {
        if let Some(pod) = self.metadata.pointer("/k8s/pod").and_then(Value::as_str) {
            return pod.to_owned();
        }
        url_host(&self.url).unwrap_or_else(|| prefix(&self.id, 12).to_owned())
    }

    /// Subtitle: `{namespace} · {id[..8]}`, or just the id's first 8 characters.
    pub fn subtitle(&self) -> String {
        let short = prefix(&self.id, 8);
        match self
            .metadata
            .pointer("/k8s/namespace")
            .and_then(Value::as_str)
        {
            Some(ns) => format!("{ns} · {short}"),
            None => short.to_owned(),
        }
    }

    /// Metadata flattened to `key: value` pairs (dotted nesting), leaving out `agent`, `k8s`.
    pub fn labels(&self) -> String {
        let mut pairs = Vec::new();
        if let Value::Object(map) = &self.metadata {
            for (key, value) in map {
                if key != "agent" && key != "k8s" {
                    flatten(key, value, &mut pairs);
                }
            }
        }
        pairs.join(" · ")
    }

    /// Whether the session matches the filter `query` (lower case, trimmed): every word must
    /// occur in its title, labels, id, state or screen text. Tracks state and screen.
    pub fn matches(&self, query: &str) -> bool {
        if query.is_empty() {
            return true;
        }
        let state = lower(&self.state.with(|s| state_label(s.as_ref())));
        let known = lower(&format!(
            "{} {} {} {} {state}",
            self.title(),
            self.subtitle(),
            self.labels(),
            self.id
        ));
        self.preview.with(|p| {
            let screen = p.as_ref().map(|p| lower(&p.text)).unwrap_or_default();
            query
                .split_whitespace()
                .all(|word| known.contains(word) || screen.contains(word))
        })
    }
}

fn flatten(key: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Value::String(s) => out.push(format!("{key}: {s}")),
        other => out.push(format!("{key}: {other}")),
    }
}

/// The first `n` characters of `s`.
pub fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| host.to_owned())
}

/// Attention group of a state: 0 prompt, 1 error/parked, 2 idle, 3 working, 4 anything else.
pub fn attention(state: Option<&AgentState>) -> u8 {
    match state {
        Some(s) if s.is_prompt() => 0,
        Some(s) if s.is_error() || *s == AgentState::Parked => 1,
        Some(AgentState::Idle | AgentState::WaitingForInput) => 2,
        Some(AgentState::Working) => 3,
        _ => 4,
    }
}

/// Whether a session in `state` waits for the operator (a prompt or an error): these are
/// counted in the page title.
pub fn waits_for_operator(state: Option<&AgentState>) -> bool {
    state.is_some_and(|s| s.is_prompt() || s.is_error())
}

/// A state as badges and the sidebar show it: upper case, or `UNKNOWN`.
pub fn state_label(state: Option<&AgentState>) -> String {
    state.map_or("UNKNOWN".to_owned(), |s| upper(s.as_str()))
}

/// CSS class of a state's badge and dot.
pub fn state_class(state: Option<&AgentState>) -> &'static str {
    match state {
        Some(AgentState::Exited) => "st-exited",
        _ => match attention(state) {
            0 => "st-prompt",
            1 => "st-error",
            2 => "st-idle",
            3 => "st-working",
            _ => "st-other",
        },
    }
}

/// Healthy as coop's own dashboard counts it: a state that is not empty, not `exited`, no `error`.
pub fn is_healthy(state: Option<&AgentState>) -> bool {
    matches!(state, Some(s) if !s.as_str().is_empty() && *s != AgentState::Exited && !s.is_error())
}

/// How an exit reads on a tile: `exit 3`, or `exit ?` while the code is not known yet.
pub fn exit_label(code: Option<i32>) -> String {
    code.map_or_else(|| "exit ?".to_owned(), |c| format!("exit {c}"))
}

/// A session summary as the hub sends it, for the tests of this module and [`fleet`].
#[cfg(test)]
fn summary(id: &str, state: Option<&str>) -> SessionSummary {
    SessionSummary {
        id: id.into(),
        url: format!("http://127.0.0.1:1/{id}"),
        state: state.map(Into::into),
        metadata: serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attention_orders_prompt_error_idle_working_rest() {
        let order: Vec<u8> = ["prompt", "error", "parked", "idle", "working", "exited"]
            .iter()
            .map(|s| attention(Some(&AgentState::parse(s))))
            .collect();
        assert_eq!(order, vec![0, 1, 1, 2, 3, 4]);
        assert_eq!(attention(None), 4);
        assert!(is_healthy(Some(&AgentState::Idle)) && !is_healthy(Some(&AgentState::Exited)));
        assert!(!is_healthy(Some(&AgentState::Error)) && !is_healthy(None));
        assert!(waits_for_operator(Some(&AgentState::Prompt)));
        assert!(waits_for_operator(Some(&AgentState::parse(
            "provider_error"
        ))));
        assert!(!waits_for_operator(Some(&AgentState::Parked)) && !waits_for_operator(None));
        assert_eq!(state_class(Some(&AgentState::Exited)), "st-exited");
    }

    #[test]
    fn titles_prefer_pod_then_host_then_id() {
        let mut view = SessionView::new(summary("0123456789abcdefXYZ", None));
        assert_eq!(view.title(), "127.0.0.1:1");
        view.url = String::new();
        assert_eq!(view.title(), "0123456789ab");
        view.metadata = json!({"k8s":{"pod":"agent-7","namespace":"team"},"team":{"name":"a"}});
        assert_eq!(view.title(), "agent-7");
        assert_eq!(view.subtitle(), "team · 01234567");
        assert_eq!(view.labels(), "team.name: a");
    }

    #[test]
    fn the_filter_matches_title_labels_id_state_and_screen_text() {
        let owner = Owner::new();
        owner.with(|| {
            let mut view = SessionView::new(summary("abc-123", Some("prompt")));
            view.metadata = json!({"team": "infra"});
            view.preview.set(Some(Preview {
                rows: vec!["\x1b[1mcargo build".into()],
                cols: 80,
                text: "cargo build".into(),
            }));
            for query in [
                "",
                "infra",
                "abc-1",
                "prompt",
                "cargo",
                "infra cargo",
                "127.0.0.1",
            ] {
                assert!(view.matches(query), "{query:?} should match");
            }
            for query in ["idle", "infra npm", "xyz"] {
                assert!(!view.matches(query), "{query:?} should not match");
            }
        });
    }
}
