//! Folding `/ws/mux` events into the fleet: membership in a stable order, states, screens,
//! credential alerts, launches and the OAuth prompt.

use super::inbox::{Inbox, InboxEvent};
use super::{Preview, SessionView};
use leptos::prelude::*;
use protocol::credentials::{AccountStatus, CredentialStatus};
use protocol::inbox::GoneReason;
use protocol::mux::{CachedStatus, MuxEvent, MuxTransition, ScreenEntry, SessionSummary};
use protocol::AgentState;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

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
    /// The account's key expired (seen in its status, e.g. on page load).
    Expired,
}

/// A session's agent asks the operator to log in through a browser (coop's `prompt` with
/// subtype `oauth_login`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthPrompt {
    /// The session asking.
    pub session: String,
    /// Where to log in.
    pub url: String,
}

/// The order sessions are shown in: the order the page first saw them, remembered while
/// they are away (a hub restart, whose sessions come back in any order).
#[derive(Debug, Default)]
struct Ranks {
    next: u64,
    by_id: HashMap<String, u64>,
}

/// Ranks remembered beyond the sessions shown, before the oldest are forgotten.
const SPARE_RANKS: usize = 1024;

impl Ranks {
    fn rank(&mut self, id: &str) -> u64 {
        if let Some(rank) = self.by_id.get(id) {
            return *rank;
        }
        let rank = self.next;
        self.next += 1;
        self.by_id.insert(id.to_owned(), rank);
        rank
    }

    /// Forgets the ranks of sessions long gone, keeping those of `shown`.
    fn trim(&mut self, shown: &[SessionView]) {
        if self.by_id.len() > 2 * shown.len() + SPARE_RANKS {
            let keep: std::collections::HashSet<&str> =
                shown.iter().map(|v| v.id.as_str()).collect();
            self.by_id.retain(|id, _| keep.contains(id.as_str()));
        }
    }
}

/// Everything the live feed maintains.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// Sessions in a stable order (first seen first); `None` until the first snapshot.
    pub sessions: RwSignal<Option<Vec<SessionView>>>,
    ranks: StoredValue<Ranks>,
    /// Credential alerts by account.
    pub alerts: RwSignal<BTreeMap<String, CredentialAlert>>,
    /// Bumped on every `launch:*` event, so the recent launches refetch.
    pub launches_changed: RwSignal<u64>,
    /// Bumped on every `credential:*` event.
    pub credentials_changed: RwSignal<u64>,
    /// The latest OAuth login a session asks for, until dismissed or answered.
    pub oauth: RwSignal<Option<OAuthPrompt>>,
    /// Every prompt an agent waits on (`inbox:*` events).
    pub inbox: Inbox,
}

/// What folding an event asks the socket to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Nothing.
    None,
    /// Watch these sessions (transitions and screens).
    Subscribe(Vec<String>),
    /// A fresh snapshot: watch these sessions and read all their states at once.
    Resync(Vec<String>),
    /// Read these sessions' status (their exit code).
    Refresh(Vec<String>),
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self {
            sessions: RwSignal::new(None),
            ranks: StoredValue::new(Ranks::default()),
            alerts: RwSignal::new(BTreeMap::new()),
            launches_changed: RwSignal::new(0),
            credentials_changed: RwSignal::new(0),
            oauth: RwSignal::new(None),
            inbox: Inbox::new(),
        }
    }

    /// The session with `id`, if known.
    pub fn get(&self, id: &str) -> Option<SessionView> {
        self.sessions
            .with_untracked(|s| s.as_ref()?.iter().find(|v| v.id == id).cloned())
    }

    /// The session with `id`, tracking membership.
    pub fn find(&self, id: &str) -> Option<SessionView> {
        self.sessions
            .with(|s| s.as_ref()?.iter().find(|v| v.id == id).cloned())
    }

    /// Folds one `/ws/mux` event in.
    pub fn apply(&self, event: MuxEvent) -> FollowUp {
        match event {
            MuxEvent::Sessions { sessions } => self.snapshot(sessions),
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
                self.ranks.update_value(|ranks| {
                    let rank = ranks.rank(&session);
                    self.sessions.update(|list| {
                        let list = list.get_or_insert_with(Vec::new);
                        let at = list.partition_point(|v| ranks.by_id.get(&v.id) < Some(&rank));
                        list.insert(at, view);
                    });
                });
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
                if self
                    .oauth
                    .with_untracked(|o| o.as_ref().is_some_and(|o| o.session == session))
                {
                    self.oauth.set(None);
                }
                FollowUp::None
            }
            MuxEvent::Transition(t) => self.transition(t),
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
            MuxEvent::InboxItem(item) => {
                self.inbox.apply(InboxEvent::Item(Box::new(item)));
                FollowUp::None
            }
            MuxEvent::InboxGone { item, reason, .. } => {
                self.inbox.apply(match reason {
                    GoneReason::Replaced => InboxEvent::Replaced(item),
                    GoneReason::Left | GoneReason::Offline => InboxEvent::Gone(item),
                });
                FollowUp::None
            }
            MuxEvent::Error { .. } => FollowUp::None,
        }
    }

    /// A snapshot (every connect, and after a lag): sessions keep the place they had when
    /// first seen (also after being away), new ones follow in the snapshot's order, the
    /// others are gone. A state the hub does not know yet (`None`, e.g. right after it
    /// restarted) keeps the one shown.
    fn snapshot(&self, sessions: Vec<SessionSummary>) -> FollowUp {
        let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        let mut known: HashMap<String, SessionView> = self
            .sessions
            .get_untracked()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        let mut next: Vec<(u64, SessionView)> = self
            .ranks
            .try_update_value(|ranks| {
                sessions
                    .into_iter()
                    .map(|summary| {
                        let rank = ranks.rank(&summary.id);
                        let view = match known.remove(&summary.id) {
                            Some(view) => {
                                if summary.state.is_some()
                                    && view.state.get_untracked() != summary.state
                                {
                                    view.state.set(summary.state);
                                }
                                SessionView {
                                    url: summary.url,
                                    metadata: summary.metadata,
                                    ..view
                                }
                            }
                            None => SessionView::new(summary),
                        };
                        (rank, view)
                    })
                    .collect()
            })
            .unwrap_or_default();
        next.sort_by_key(|(rank, _)| *rank);
        let next: Vec<SessionView> = next.into_iter().map(|(_, v)| v).collect();
        self.ranks.update_value(|ranks| ranks.trim(&next));
        self.sessions.set(Some(next));
        FollowUp::Resync(ids)
    }

    fn transition(&self, t: MuxTransition) -> FollowUp {
        let Some(view) = self.get(&t.session) else {
            return FollowUp::None;
        };
        if let Some(url) = oauth_url(t.prompt.as_ref()) {
            self.oauth.set(Some(OAuthPrompt {
                session: t.session.clone(),
                url,
            }));
        } else if self
            .oauth
            .with_untracked(|o| o.as_ref().is_some_and(|o| o.session == t.session))
        {
            self.oauth.set(None);
        }
        if let Some(msg) = t.last_message.filter(|m| !m.trim().is_empty()) {
            view.last_message.set(Some(msg));
        }
        let exited = t.next == AgentState::Exited;
        if view.state.get_untracked().as_ref() != Some(&t.next) {
            view.state.set(Some(t.next));
        }
        if exited {
            return FollowUp::Refresh(vec![t.session]);
        }
        if view.exit_code.get_untracked().is_some() {
            view.exit_code.set(None);
        }
        FollowUp::None
    }

    /// Applies statuses read from the hub (after a reconnect, or an exit): state and exit code.
    pub fn apply_states(&self, states: BTreeMap<String, CachedStatus>) {
        for (id, status) in states {
            self.apply_state(&id, status.state, status.exit_code);
        }
    }

    /// Sets session `id`'s state and exit code as read (nothing when it is not known).
    pub fn apply_state(&self, id: &str, state: AgentState, exit_code: Option<i32>) {
        let Some(view) = self.get(id) else { return };
        if view.state.get_untracked().as_ref() != Some(&state) {
            view.state.set(Some(state));
        }
        if view.exit_code.get_untracked() != exit_code {
            view.exit_code.set(exit_code);
        }
    }

    /// Derives alerts from the accounts' status (read on page load, when no event told of
    /// them): an expired key is an alert (also one still called healthy whose expiry has
    /// passed: nothing refreshes a key without a refresh token); a valid one has none.
    pub fn alerts_from_status(&self, accounts: &[AccountStatus]) {
        self.alerts.update(|alerts| {
            for account in accounts {
                let lapsed = account.has_api_key && account.expires_in_secs == Some(0);
                match account.status {
                    CredentialStatus::Expired => {
                        alerts
                            .entry(account.name.clone())
                            .or_insert(CredentialAlert::Expired);
                    }
                    CredentialStatus::Healthy if lapsed => {
                        alerts
                            .entry(account.name.clone())
                            .or_insert(CredentialAlert::Expired);
                    }
                    CredentialStatus::Healthy => {
                        alerts.remove(&account.name);
                    }
                    CredentialStatus::Missing | CredentialStatus::Refreshing => {}
                }
            }
        });
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

/// The login URL of an OAuth prompt: `prompt.input` when `prompt.subtype` is `oauth_login`.
fn oauth_url(prompt: Option<&Value>) -> Option<String> {
    let prompt = prompt?;
    if prompt.get("subtype").and_then(Value::as_str) != Some("oauth_login") {
        return None;
    }
    let url = prompt.get("input").and_then(Value::as_str)?;
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_owned())
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
    let text = lines[..keep.min(lines.len())].join("\n");
    let mut rows = if ansi.len() == lines.len() {
        ansi
    } else {
        lines
    };
    rows.truncate(keep.max(1));
    Preview { rows, cols, text }
}

#[cfg(test)]
mod tests {
    use super::super::summary;
    use super::*;
    use serde_json::json;

    fn ids(fleet: &Fleet) -> Vec<String> {
        fleet
            .sessions
            .get_untracked()
            .unwrap()
            .iter()
            .map(|s| s.id.clone())
            .collect()
    }

    fn transition(session: &str, prev: &str, next: &str, prompt: Option<Value>) -> MuxEvent {
        MuxEvent::Transition(MuxTransition {
            session: session.into(),
            prev: prev.into(),
            next: next.into(),
            seq: 7,
            cause: None,
            last_message: None,
            prompt,
            error_detail: None,
            error_category: None,
            parked_reason: None,
            resume_at_epoch_ms: None,
        })
    }

    #[test]
    fn membership_follows_snapshot_online_and_offline() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            let follow = fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("a", Some("idle")), summary("b", None)],
            });
            assert_eq!(follow, FollowUp::Resync(vec!["a".into(), "b".into()]));
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
            assert_eq!(ids(&fleet), vec!["b", "c"]);
        });
    }

    #[test]
    fn snapshots_keep_the_order_shown_and_the_states_known() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("a", Some("idle")), summary("b", Some("working"))],
            });
            fleet.apply(MuxEvent::SessionOnline {
                session: "c".into(),
                url: "http://h:1".into(),
                metadata: json!({}),
            });
            // A restarted hub lists the sessions in the order they registered again, without
            // states yet; one is new, one has not come back.
            fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("d", None), summary("c", None), summary("a", None)],
            });
            assert_eq!(ids(&fleet), vec!["a", "c", "d"]);
            // The missing one comes back later: in its old place.
            fleet.apply(MuxEvent::SessionOnline {
                session: "b".into(),
                url: "http://h:2".into(),
                metadata: json!({}),
            });
            assert_eq!(ids(&fleet), vec!["a", "b", "c", "d"]);
            let a = fleet.get("a").unwrap();
            assert_eq!(a.state.get_untracked(), Some(AgentState::Idle));
            let mut states = BTreeMap::new();
            let status: CachedStatus =
                serde_json::from_value(json!({"state": "exited", "exit_code": 3})).unwrap();
            states.insert("a".to_owned(), status);
            fleet.apply_states(states);
            assert_eq!(a.state.get_untracked(), Some(AgentState::Exited));
            assert_eq!(a.exit_code.get_untracked(), Some(3));
        });
    }

    #[test]
    fn an_exit_asks_for_the_status_and_a_restart_clears_the_code() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("a", Some("working"))],
            });
            let follow = fleet.apply(transition("a", "working", "exited", None));
            assert_eq!(follow, FollowUp::Refresh(vec!["a".into()]));
            let a = fleet.get("a").unwrap();
            a.exit_code.set(Some(1));
            assert_eq!(
                fleet.apply(transition("a", "exited", "working", None)),
                FollowUp::None
            );
            assert_eq!(a.exit_code.get_untracked(), None);
        });
    }

    #[test]
    fn an_oauth_prompt_is_kept_until_the_session_moves_on() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            fleet.apply(MuxEvent::Sessions {
                sessions: vec![summary("a", Some("idle"))],
            });
            let prompt = json!({"type": "setup", "subtype": "oauth_login", "input": "https://login.example/x"});
            fleet.apply(transition("a", "idle", "prompt", Some(prompt)));
            assert_eq!(
                fleet.oauth.get_untracked(),
                Some(OAuthPrompt {
                    session: "a".into(),
                    url: "https://login.example/x".into()
                })
            );
            // Not a URL: no toast.
            let odd = json!({"subtype": "oauth_login", "input": "javascript:alert(1)"});
            fleet.apply(transition("a", "prompt", "prompt", Some(odd)));
            assert_eq!(fleet.oauth.get_untracked(), None);
        });
    }

    #[test]
    fn inbox_events_fold_into_the_inbox() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            let item: protocol::inbox::InboxItem = serde_json::from_value(json!({
                "id": "a:3", "session": "a", "seq": 3, "since_ms": 1,
                "prompt": {"type": "permission", "tool": "Bash", "input": "{}"}}))
            .unwrap();
            assert_eq!(fleet.apply(MuxEvent::InboxItem(item)), FollowUp::None);
            assert_eq!(fleet.inbox.of_session("a").unwrap().id, "a:3");
            fleet.apply(MuxEvent::InboxGone {
                item: "a:3".into(),
                session: "a".into(),
                reason: protocol::inbox::GoneReason::Left,
            });
            assert_eq!(fleet.inbox.of_session("a"), None);
        });
    }

    #[test]
    fn account_status_raises_and_clears_alerts() {
        Owner::new().with(|| {
            let fleet = Fleet::new();
            let account = |name: &str, status: &str| -> AccountStatus {
                serde_json::from_value(json!({"name": name, "provider": "openai",
                    "status": status, "has_api_key": true}))
                .unwrap()
            };
            let mut lapsed = account("c", "healthy");
            lapsed.expires_in_secs = Some(0);
            fleet.alerts_from_status(&[account("a", "expired"), account("b", "healthy"), lapsed]);
            let alerts = fleet.alerts.get_untracked();
            assert_eq!(alerts.get("a"), Some(&CredentialAlert::Expired));
            assert_eq!(alerts.get("c"), Some(&CredentialAlert::Expired));
            assert_eq!(alerts.len(), 2);
            fleet.alerts_from_status(&[account("a", "healthy"), account("c", "healthy")]);
            assert!(fleet.alerts.get_untracked().is_empty());
        });
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
        let p = preview(screen.clone());
        assert_eq!(p.rows, vec!["\x1b[1m$ ls", "x"]);
        assert_eq!(p.text, "$ ls\nx");
        let blank = ScreenEntry {
            lines: vec!["".into(), "".into()],
            ansi: vec![],
            ..screen
        };
        assert_eq!(preview(blank).rows, vec![""]);
    }
}
