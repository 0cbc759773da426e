//! The dashboard's view of the fleet, folded from `/ws/mux` events (docs/architecture.md,
//! "The path of a `/ws/mux` event").
//!
//! Membership lives in one signal; each session's state, last message and screen live in
//! signals of their own, so a screen batch for 50 sessions re-renders only the tiles whose
//! screen changed.

use leptos::prelude::*;
use protocol::mux::{MuxEvent, MuxTransition, ScreenEntry, SessionSummary};
use protocol::AgentState;
use serde_json::Value;
use std::collections::BTreeMap;

/// The last screen of a session, as a tile shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// ANSI rows, trailing blank rows dropped (at least one kept).
    pub rows: Vec<String>,
    /// Width of the source terminal.
    pub cols: u16,
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

/// A state as badges and the sidebar show it: upper case, or `UNKNOWN`.
pub fn state_label(state: Option<&AgentState>) -> String {
    state.map_or("UNKNOWN".to_owned(), |s| s.as_str().to_uppercase())
}

/// CSS class of a state's badge and dot.
pub fn state_class(state: Option<&AgentState>) -> &'static str {
    match attention(state) {
        0 => "st-prompt",
        1 => "st-error",
        2 => "st-idle",
        3 => "st-working",
        _ => "st-other",
    }
}

/// Healthy as coop's own dashboard counts it: a state that is not empty, not `exited`, no `error`.
pub fn is_healthy(state: Option<&AgentState>) -> bool {
    matches!(state, Some(s) if !s.as_str().is_empty() && *s != AgentState::Exited && !s.is_error())
}

/// An unresolved credential problem, keyed by account.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialAlert {
    /// A refresh failed.
    Failed {
        /// The broker's reason.
        error: String,
    },
    /// A person must authorise the account again.
    Reauth {
        /// Where to authorise.
        auth_url: String,
        /// Code to type there.
        user_code: Option<String>,
    },
}

/// Everything the live feed maintains.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// Sessions in registration order; `None` until the first snapshot.
    pub sessions: RwSignal<Option<Vec<SessionView>>>,
    /// Credential alerts by account.
    pub alerts: RwSignal<BTreeMap<String, CredentialAlert>>,
    /// Bumped on every `launch:*` event, so the recent launches refetch.
    pub launches_changed: RwSignal<u64>,
    /// Bumped on every `credential:*` event.
    pub credentials_changed: RwSignal<u64>,
}

/// What folding an event asks the socket to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Nothing.
    None,
    /// Watch these sessions (transitions and screens).
    Subscribe(Vec<String>),
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self {
            sessions: RwSignal::new(None),
            alerts: RwSignal::new(BTreeMap::new()),
            launches_changed: RwSignal::new(0),
            credentials_changed: RwSignal::new(0),
        }
    }

    /// The session with `id`, if known.
    pub fn get(&self, id: &str) -> Option<SessionView> {
        self.sessions
            .with_untracked(|s| s.as_ref()?.iter().find(|v| v.id == id).cloned())
    }

    /// Folds one `/ws/mux` event in.
    pub fn apply(&self, event: MuxEvent) -> FollowUp {
        match event {
            MuxEvent::Sessions { sessions } => {
                let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
                let known = self.sessions.get_untracked().unwrap_or_default();
                let next = sessions
                    .into_iter()
                    .map(|summary| match known.iter().find(|v| v.id == summary.id) {
                        Some(view) => {
                            view.state.set(summary.state.clone());
                            view.clone()
                        }
                        None => SessionView::new(summary),
                    })
                    .collect();
                self.sessions.set(Some(next));
                FollowUp::Subscribe(ids)
            }
            MuxEvent::SessionOnline {
                session,
                url,
                metadata,
            } => {
                if self.get(&session).is_some() {
                    return FollowUp::None;
                }
                let view = SessionView::new(SessionSummary {
                    id: session.clone(),
                    url,
                    state: None,
                    metadata,
                });
                self.sessions
                    .update(|list| list.get_or_insert_with(Vec::new).push(view));
                FollowUp::Subscribe(vec![session])
            }
            MuxEvent::SessionOffline { session } => {
                if self.get(&session).is_some() {
                    self.sessions.update(|list| {
                        if let Some(list) = list {
                            list.retain(|s| s.id != session);
                        }
                    });
                }
                FollowUp::None
            }
            MuxEvent::Transition(t) => {
                self.transition(t);
                FollowUp::None
            }
            MuxEvent::ScreenBatch { screens } => {
                for screen in screens {
                    if let Some(view) = self.get(&screen.session) {
                        view.preview.set(Some(preview(screen)));
                    }
                }
                FollowUp::None
            }
            MuxEvent::CredentialRefreshed { account } => {
                self.alerts.update(|a| {
                    a.remove(&account);
                });
                self.credentials_changed.update(|n| *n += 1);
                FollowUp::None
            }
            MuxEvent::CredentialRefreshFailed { account, error } => {
                self.alerts
                    .update(|a| drop(a.insert(account, CredentialAlert::Failed { error })));
                self.credentials_changed.update(|n| *n += 1);
                FollowUp::None
            }
            MuxEvent::CredentialReauthRequired {
                account,
                auth_url,
                user_code,
            } => {
                let alert = CredentialAlert::Reauth {
                    auth_url,
                    user_code,
                };
                self.alerts.update(|a| drop(a.insert(account, alert)));
                self.credentials_changed.update(|n| *n += 1);
                FollowUp::None
            }
            MuxEvent::LaunchStarted { .. }
            | MuxEvent::LaunchRegistered { .. }
            | MuxEvent::LaunchWaiting { .. }
            | MuxEvent::LaunchFailed { .. } => {
                self.launches_changed.update(|n| *n += 1);
                FollowUp::None
            }
            MuxEvent::Error { .. } => FollowUp::None,
        }
    }

    fn transition(&self, t: MuxTransition) {
        let Some(view) = self.get(&t.session) else {
            return;
        };
        if view.state.get_untracked().as_ref() != Some(&t.next) {
            view.state.set(Some(t.next));
        }
        if let Some(msg) = t.last_message.filter(|m| !m.trim().is_empty()) {
            view.last_message.set(Some(msg));
        }
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes one `/ws/mux` frame. Screen batches, the bulk of the traffic, skip serde's
/// buffering of internally tagged enums, which would parse the whole batch twice.
pub fn decode(text: &str) -> Option<MuxEvent> {
    if text.starts_with(r#"{"event":"screen_batch""#) {
        #[derive(serde::Deserialize)]
        struct Batch {
            screens: Vec<ScreenEntry>,
        }
        let batch: Batch = serde_json::from_str(text).ok()?;
        return Some(MuxEvent::ScreenBatch {
            screens: batch.screens,
        });
    }
    serde_json::from_str(text).ok()
}

/// Drops trailing blank rows (keeping one) from a screen, ANSI rows falling back to plain.
pub fn preview(screen: ScreenEntry) -> Preview {
    let ScreenEntry {
        lines, ansi, cols, ..
    } = screen;
    let keep = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(1, |i| i + 1);
    let mut rows = if ansi.len() == lines.len() {
        ansi
    } else {
        lines
    };
    rows.truncate(keep.max(1));
    Preview { rows, cols }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(id: &str, state: Option<&str>) -> SessionSummary {
        SessionSummary {
            id: id.into(),
            url: format!("http://127.0.0.1:1/{id}"),
            state: state.map(Into::into),
            metadata: json!({}),
        }
    }

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
    fn membership_follows_snapshot_online_and_offline() {
        let owner = Owner::new();
        owner.with(|| {
            let fleet = Fleet::new();
            let follow = fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("a", Some("idle")), summary("b", None)],
            });
            assert_eq!(follow, FollowUp::Subscribe(vec!["a".into(), "b".into()]));
            let online = MuxEvent::SessionOnline {
                session: "c".into(),
                url: "http://h:1".into(),
                metadata: json!({}),
            };
            assert_eq!(
                fleet.apply(online.clone()),
                FollowUp::Subscribe(vec!["c".into()])
            );
            assert_eq!(fleet.apply(online), FollowUp::None, "duplicates are normal");
            fleet.apply(MuxEvent::SessionOffline {
                session: "a".into(),
            });
            let ids: Vec<String> = fleet
                .sessions
                .get_untracked()
                .unwrap()
                .iter()
                .map(|s| s.id.clone())
                .collect();
            assert_eq!(ids, vec!["b", "c"]);
        });
    }

    #[test]
    fn frames_decode_with_and_without_the_fast_path() {
        let batch = MuxEvent::ScreenBatch {
            screens: vec![ScreenEntry {
                session: "a".into(),
                lines: vec!["x".into()],
                ansi: vec!["\x1b[1mx".into()],
                cols: 80,
                rows: 1,
                seq: 7,
            }],
        };
        let text = serde_json::to_string(&batch).unwrap();
        assert!(text.starts_with(r#"{"event":"screen_batch""#), "{text}");
        assert_eq!(decode(&text), Some(batch));
        let offline = MuxEvent::SessionOffline {
            session: "a".into(),
        };
        assert_eq!(
            decode(&serde_json::to_string(&offline).unwrap()),
            Some(offline)
        );
        assert_eq!(decode("{not json"), None);
    }

    #[test]
    fn previews_drop_trailing_blank_rows() {
        let screen = ScreenEntry {
            session: "a".into(),
            lines: vec!["$ ls".into(), "x".into(), "  ".into(), "".into()],
            ansi: vec!["\x1b[1m$ ls".into(), "x".into(), "  ".into(), "".into()],
            cols: 80,
            rows: 4,
            seq: 1,
        };
        assert_eq!(preview(screen.clone()).rows, vec!["\x1b[1m$ ls", "x"]);
        let blank = ScreenEntry {
            lines: vec!["".into(), "".into()],
            ansi: vec![],
            ..screen
        };
        assert_eq!(preview(blank).rows, vec![""]);
    }
}
