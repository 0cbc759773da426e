//! The inbox (docs/architecture.md, "The inbox"): every prompt every session's agent waits on,
//! derived from the sessions' state feeds, one item per prompt named by the session and the
//! state sequence of the transition into it. Items appear and go as `inbox:item` and
//! `inbox:gone` on `/ws/mux`; every replica follows every session itself, so each holds the
//! same inbox. Answers name an item and are sent at most once ([`answer`], [`claims`]); each
//! new item is announced to the `--notify-url`s ([`notify`]).
//!
//! The prompt is the agent's text: it is bounded here ([`bound`]) and handed on as data,
//! never as markup, and never used to decide where anything goes.

pub mod answer;
pub mod api;
mod bound;
pub mod claims;
mod follow;
pub mod notify;

use crate::hub::registry::{now_ms, Registry};
use protocol::coop::PromptContext;
use protocol::inbox::{GoneReason, InboxItem};
use protocol::mux::{MuxEvent, MuxTransition};
use protocol::AgentState;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// One session's waiting prompt.
#[derive(Debug)]
struct Entry {
    item: InboxItem,
    /// Arrival order among items with the same `since_ms`.
    arrival: u64,
    /// An answer is being sent or was sent: another one is refused.
    answered: bool,
}

/// Items answered here lately (count), so that an answer repeated after the item left is
/// told it was answered rather than that it changed.
const ANSWERED_MEMORY: usize = 1024;

#[derive(Debug, Default)]
struct Items {
    by_session: HashMap<String, Entry>,
    arrivals: u64,
    answered: VecDeque<String>,
}

/// The inbox of one hub.
#[derive(Debug)]
pub struct Inbox {
    registry: Arc<Registry>,
    items: Mutex<Items>,
    claims: claims::Claims,
    notifier: Option<notify::Notifier>,
}

impl Inbox {
    /// An inbox over `registry`'s sessions; `claims` decides which answer and which
    /// notification of an item is the one; `notifier` announces new items.
    pub fn new(
        registry: Arc<Registry>,
        claims: claims::Claims,
        notifier: Option<notify::Notifier>,
    ) -> Arc<Self> {
        Arc::new(Self {
            registry,
            items: Mutex::default(),
            claims,
            notifier,
        })
    }

    /// Starts following every session (until `shutdown`).
    pub fn start(self: &Arc<Self>, shutdown: &CancellationToken) {
        follow::spawn(self.clone(), shutdown.clone());
    }

    fn lock(&self) -> MutexGuard<'_, Items> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The waiting items, oldest first.
    pub fn list(&self) -> Vec<InboxItem> {
        let items = self.lock();
        let mut entries: Vec<&Entry> = items.by_session.values().collect();
        entries.sort_by_key(|e| (e.item.since_ms, e.arrival));
        entries.into_iter().map(|e| e.item.clone()).collect()
    }

    /// A session's state changed: its item appears, changes or goes.
    pub(crate) fn apply(&self, t: &MuxTransition) {
        let mut events = Vec::new();
        let mut announce = None;
        {
            let mut items = self.lock();
            let Items {
                by_session,
                arrivals,
                ..
            } = &mut *items;
            // One feed per session delivers its transitions in order, and a feed that
            // reconnects starts with the current state: the newest is always right (also when
            // a restarted session counts from 1 again).
            if t.next != AgentState::Prompt {
                if let Some(gone) = by_session.remove(&t.session) {
                    events.push(gone_event(&gone.item, GoneReason::Left));
                }
            } else {
                let prompt = bound::prompt(t.prompt.as_ref().unwrap_or(&Value::Null));
                let id = InboxItem::id_of(&t.session, t.seq);
                match by_session.get_mut(&t.session) {
                    // The same prompt again (a feed that reconnected) or made ready in place.
                    Some(entry) if entry.item.id == id => {
                        if entry.item.prompt != prompt {
                            entry.item.prompt = prompt;
                            events.push(MuxEvent::InboxItem(entry.item.clone()));
                        }
                    }
                    previous => {
                        // A `prompt` → `prompt` transition asking the very same thing names a
                        // new item but is not news for the notification hooks.
                        let repeated = previous
                            .as_ref()
                            .is_some_and(|p| same_ask(&p.item.prompt, &prompt));
                        if let Some(old) = previous {
                            events.push(gone_event(&old.item, GoneReason::Replaced));
                        }
                        let item = self.item(&t.session, t.seq, prompt);
                        *arrivals += 1;
                        events.push(MuxEvent::InboxItem(item.clone()));
                        if !repeated {
                            announce = Some(item.clone());
                        }
                        by_session.insert(
                            t.session.clone(),
                            Entry {
                                item,
                                arrival: *arrivals,
                                answered: false,
                            },
                        );
                    }
                }
            }
        }
        self.emit(events);
        if let (Some(item), Some(notifier)) = (announce, &self.notifier) {
            notifier.announce(item);
        }
    }

    /// A session went offline: its item goes.
    pub(crate) fn session_gone(&self, session: &str) {
        let gone = self.lock().by_session.remove(session);
        if let Some(entry) = gone {
            self.emit(vec![gone_event(&entry.item, GoneReason::Offline)]);
        }
    }

    fn emit(&self, events: Vec<MuxEvent>) {
        let sender = self.registry.event_sender();
        for event in events {
            let _ = sender.send(event);
        }
    }

    fn item(&self, session: &str, seq: u64, prompt: PromptContext) -> InboxItem {
        let metadata = self
            .registry
            .get(session)
            .map(|s| s.info().metadata)
            .unwrap_or(Value::Null);
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| metadata.get(*k)?.as_str())
                .map(bound::text)
        };
        InboxItem {
            id: InboxItem::id_of(session, seq),
            session: session.to_owned(),
            seq,
            label: text(&["label", "name"]),
            location: text(&["cwd", "repo"]),
            agent: text(&["agent"]),
            prompt,
            since_ms: now_ms(),
        }
    }

    /// Marks `id` as being answered: `Err` with the reason when it cannot be.
    fn begin_answer(&self, id: &str, session: &str) -> Result<InboxItem, answer::InboxError> {
        let mut items = self.lock();
        let Items {
            by_session,
            answered,
            ..
        } = &mut *items;
        if answered.iter().any(|a| a == id) {
            return Err(answer::InboxError::AlreadyAnswered(id.to_owned()));
        }
        match by_session.get_mut(session) {
            Some(entry) if entry.item.id == id && entry.answered => {
                Err(answer::InboxError::AlreadyAnswered(id.to_owned()))
            }
            Some(entry) if entry.item.id == id => {
                entry.answered = true;
                if answered.len() == ANSWERED_MEMORY {
                    answered.pop_front();
                }
                answered.push_back(id.to_owned());
                Ok(entry.item.clone())
            }
            _ => Err(answer::InboxError::Changed(id.to_owned())),
        }
    }

    /// An answer of `id` was not sent after all (the replicas could not be asked).
    fn abort_answer(&self, id: &str, session: &str) {
        let mut items = self.lock();
        items.answered.retain(|a| a != id);
        if let Some(entry) = items.by_session.get_mut(session) {
            if entry.item.id == id {
                entry.answered = false;
            }
        }
    }
}

fn gone_event(item: &InboxItem, reason: GoneReason) -> MuxEvent {
    MuxEvent::InboxGone {
        item: item.id.clone(),
        session: item.session.clone(),
        reason,
    }
}

/// Whether two prompts ask the same thing (readiness and the fallback menu aside).
fn same_ask(a: &PromptContext, b: &PromptContext) -> bool {
    (&a.kind, &a.tool, &a.input, &a.questions) == (&b.kind, &b.tool, &b.input, &b.questions)
}
