//! The hub's inbox as the dashboard knows it (docs/architecture.md, "The inbox"): every prompt
//! an agent waits on, in arrival order, folded from `inbox:item` / `inbox:gone` and the list
//! read after each (re)connect; which item is selected; and what each asks, as plain text.
//!
//! Everything here is the agent's text: it is shown as text nodes, never as markup.

use leptos::prelude::*;
use protocol::coop::{PromptContext, RespondRequest};
use protocol::inbox::InboxItem;

/// One inbox change from `/ws/mux`.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxEvent {
    /// `inbox:item`: a new item, or an item whose prompt changed in place.
    Item(Box<InboxItem>),
    /// `inbox:gone`: the item with this id left.
    Gone(String),
    /// `inbox:gone` with reason `replaced`: a newer prompt of its session takes its place.
    Replaced(String),
}

/// Replaced items remembered until their session's next item (count).
const REPLACED_MEMORY: usize = 256;

/// The inbox: items, the selected one, the latest arrival.
#[derive(Debug, Clone, Copy)]
pub struct Inbox {
    /// Waiting items, oldest first.
    pub items: RwSignal<Vec<InboxItem>>,
    /// The id of the item the keys answer (the oldest when none was picked).
    pub selected: RwSignal<Option<String>>,
    /// The latest item that was new to this page (for the browser notification).
    pub arrived: RwSignal<Option<InboxItem>>,
    /// Events seen while the list is being read, replayed over it when it comes.
    during_sync: StoredValue<Option<Vec<InboxEvent>>>,
    /// Items that left for a newer prompt of their session: one that asks the same again is
    /// no news (the hub's notifications skip it too).
    replaced: StoredValue<Vec<InboxItem>>,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            selected: RwSignal::new(None),
            arrived: RwSignal::new(None),
            during_sync: StoredValue::new(None),
            replaced: StoredValue::new(Vec::new()),
        }
    }

    /// Folds one event in.
    pub fn apply(&self, event: InboxEvent) {
        self.during_sync.update_value(|log| {
            if let Some(log) = log {
                log.push(event.clone());
            }
        });
        match &event {
            InboxEvent::Item(item) => {
                let seen = self
                    .items
                    .with_untracked(|l| l.iter().any(|i| i.id == item.id));
                let mut repeated = false;
                self.replaced.update_value(|r| {
                    repeated = r
                        .iter()
                        .any(|o| o.session == item.session && same_ask(&o.prompt, &item.prompt));
                    r.retain(|o| o.session != item.session);
                });
                if !seen && !repeated {
                    self.arrived.set(Some((**item).clone()));
                }
            }
            InboxEvent::Replaced(id) => {
                let old = self
                    .items
                    .with_untracked(|l| l.iter().find(|i| i.id == *id).cloned());
                self.replaced.update_value(|r| {
                    if r.len() == REPLACED_MEMORY {
                        r.remove(0);
                    }
                    r.extend(old);
                });
            }
            InboxEvent::Gone(_) => {}
        }
        self.fold(event);
    }

    fn fold(&self, event: InboxEvent) {
        self.items.update(|list| match event {
            InboxEvent::Item(item) => {
                let item = *item;
                // A session waits on one prompt at a time: a newer one takes the place of
                // the old (the hub also says the old one left).
                match list
                    .iter()
                    .position(|i| i.id == item.id || i.session == item.session)
                {
                    Some(at) => list[at] = item,
                    None => list.push(item),
                }
            }
            InboxEvent::Gone(id) | InboxEvent::Replaced(id) => list.retain(|i| i.id != id),
        });
    }

    /// The list is about to be read: events from now on are kept for [`Self::synced`].
    pub fn syncing(&self) {
        self.during_sync.set_value(Some(Vec::new()));
    }

    /// The list as read: it replaces what was shown, then the events that came while it was
    /// read are applied again (an item that left meanwhile stays gone).
    pub fn synced(&self, items: Vec<InboxItem>) {
        let log = self.during_sync.try_update_value(Option::take).flatten();
        self.items.set(items);
        for event in log.unwrap_or_default() {
            self.fold(event);
        }
    }

    /// Reading the list failed: stop keeping events.
    pub fn sync_failed(&self) {
        self.during_sync.set_value(None);
    }

    /// The selected item, else the oldest (tracks both).
    pub fn current(&self) -> Option<InboxItem> {
        let selected = self.selected.get();
        self.items.with(|list| {
            selected
                .and_then(|id| list.iter().find(|i| i.id == id))
                .or_else(|| list.first())
                .cloned()
        })
    }

    /// Moves the selection `by` items (wrapping).
    pub fn step(&self, by: isize) {
        let ids: Vec<String> = self
            .items
            .with_untracked(|l| l.iter().map(|i| i.id.clone()).collect());
        if ids.is_empty() {
            return;
        }
        let at = self
            .current_untracked()
            .and_then(|c| ids.iter().position(|id| *id == c.id))
            .unwrap_or(0) as isize;
        let n = ids.len() as isize;
        let next = (at + by).rem_euclid(n) as usize;
        self.selected.set(Some(ids[next].clone()));
    }

    /// [`Self::current`] without tracking.
    pub fn current_untracked(&self) -> Option<InboxItem> {
        untrack(|| self.current())
    }

    /// The waiting item of `session` (tracks the list).
    pub fn of_session(&self, session: &str) -> Option<InboxItem> {
        self.items
            .with(|l| l.iter().find(|i| i.session == session).cloned())
    }

    /// The ids of the items asking exactly what `item` asks (same prompt type, tool, input
    /// and questions), `item` first: one answer can go to all of them.
    pub fn identical(&self, item: &InboxItem) -> Vec<String> {
        self.items.with(|l| {
            let mut ids = vec![item.id.clone()];
            ids.extend(
                l.iter()
                    .filter(|i| i.id != item.id && same_ask(&i.prompt, &item.prompt))
                    .map(|i| i.id.clone()),
            );
            ids
        })
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether two prompts ask the same thing (the hub's rule: type, tool, input, questions).
pub fn same_ask(a: &PromptContext, b: &PromptContext) -> bool {
    (&a.kind, &a.tool, &a.input, &a.questions) == (&b.kind, &b.tool, &b.input, &b.questions)
}

/// What a prompt asks, in words a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// `Bash`, `Question`, `Plan`, …
    pub heading: String,
    /// The command or file, the question, or the plan.
    pub body: String,
    /// The choices, numbered from 1 on screen.
    pub options: Vec<String>,
    /// A permission: `y`/`n` accept or deny it.
    pub permission: bool,
}

/// Fields of a tool input that name what a permission is for, most telling first.
const DETAIL_FIELDS: [&str; 7] = [
    "command",
    "file_path",
    "path",
    "notebook_path",
    "url",
    "pattern",
    "query",
];

/// What `prompt` asks. `fields` reads the string fields of a JSON object (the tool input).
pub fn ask(prompt: &PromptContext, fields: impl Fn(&str) -> Vec<(String, String)>) -> Ask {
    let input = prompt.input.clone().unwrap_or_default();
    let tool = prompt.tool.clone().filter(|t| !t.is_empty());
    let field = |names: &[&str]| {
        let found = fields(&input);
        names
            .iter()
            .find_map(|n| found.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    };
    match prompt.kind.as_str() {
        "permission" => Ask {
            heading: tool.unwrap_or_else(|| "Permission".to_owned()),
            body: field(&DETAIL_FIELDS).unwrap_or(input),
            options: prompt.options.clone(),
            permission: true,
        },
        "question" => {
            let question = prompt
                .questions
                .get(prompt.question_current)
                .or(prompt.questions.first());
            Ask {
                heading: "Question".to_owned(),
                body: question.map(|q| q.question.clone()).unwrap_or(input),
                options: question
                    .map(|q| q.options.clone())
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| prompt.options.clone()),
                permission: false,
            }
        }
        "plan" => Ask {
            heading: "Plan".to_owned(),
            body: field(&["plan"]).unwrap_or(input),
            options: prompt.options.clone(),
            permission: false,
        },
        other => Ask {
            heading: tool.unwrap_or_else(|| other.to_owned()),
            body: input,
            options: prompt.options.clone(),
            permission: false,
        },
    }
}

/// The answer a key gives `ask`: `1`–`9` an option it has, `y`/`n` a permission.
pub fn key_answer(ask: &Ask, key: &str) -> Option<RespondRequest> {
    match key {
        "y" | "n" if ask.permission => Some(RespondRequest {
            accept: Some(key == "y"),
            ..RespondRequest::default()
        }),
        _ => {
            let n: u32 = key.parse().ok().filter(|n| (1..=9).contains(n))?;
            (n as usize <= ask.options.len()).then(|| RespondRequest {
                option: Some(n),
                ..RespondRequest::default()
            })
        }
    }
}

/// The answer typed text gives a prompt of type `kind`: a question takes it as the answer to
/// its question, anything else as `text`.
pub fn text_answer(kind: &str, text: &str) -> Option<RespondRequest> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(if kind == "question" {
        RespondRequest {
            answers: vec![serde_json::Value::Object(
                [("text".to_owned(), text.into())].into_iter().collect(),
            )],
            ..RespondRequest::default()
        }
    } else {
        RespondRequest {
            text: Some(text.to_owned()),
            ..RespondRequest::default()
        }
    })
}

#[cfg(feature = "hydrate")]
pub use crate::rest::inbox::input_fields;

/// The string fields of the JSON object `text` (none when it is not one), with serde; the
/// browser build reads them with `JSON.parse` instead (`crate::rest::inbox::input_fields`).
#[cfg(not(feature = "hydrate"))]
pub fn input_fields(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::coop::PromptQuestion;

    fn item(session: &str, seq: u64, prompt: PromptContext) -> InboxItem {
        InboxItem {
            id: InboxItem::id_of(session, seq),
            session: session.into(),
            seq,
            label: None,
            location: None,
            agent: Some("claude".into()),
            prompt,
            since_ms: seq,
        }
    }

    fn bash(command: &str) -> PromptContext {
        PromptContext {
            kind: "permission".into(),
            tool: Some("Bash".into()),
            input: Some(format!(r#"{{"command":"{command}"}}"#)),
            options: vec!["Yes".into(), "Yes, allow echo".into(), "No".into()],
            ..PromptContext::default()
        }
    }

    fn ids(inbox: &Inbox) -> Vec<String> {
        inbox
            .items
            .get_untracked()
            .iter()
            .map(|i| i.id.clone())
            .collect()
    }

    #[test]
    fn items_arrive_in_order_replace_their_sessions_and_leave() {
        Owner::new().with(|| {
            let inbox = Inbox::new();
            inbox.apply(InboxEvent::Item(Box::new(item("a", 1, bash("ls")))));
            inbox.apply(InboxEvent::Item(Box::new(item("b", 2, bash("ls")))));
            assert_eq!(ids(&inbox), ["a:1", "b:2"]);
            assert_eq!(inbox.arrived.get_untracked().unwrap().id, "b:2");
            assert_eq!(inbox.current_untracked().unwrap().id, "a:1", "the oldest");
            // The same item again (made ready in place) is not news.
            inbox.arrived.set(None);
            inbox.apply(InboxEvent::Item(Box::new(item("a", 1, bash("ls")))));
            assert_eq!(inbox.arrived.get_untracked(), None);
            // A newer prompt of a session takes its place.
            inbox.apply(InboxEvent::Item(Box::new(item("a", 5, bash("pwd")))));
            assert_eq!(ids(&inbox), ["a:5", "b:2"]);
            inbox.step(1);
            assert_eq!(inbox.current_untracked().unwrap().id, "b:2");
            inbox.step(1);
            assert_eq!(inbox.current_untracked().unwrap().id, "a:5", "wraps");
            inbox.apply(InboxEvent::Gone("a:5".into()));
            assert_eq!(ids(&inbox), ["b:2"]);
            assert_eq!(
                inbox.current_untracked().unwrap().id,
                "b:2",
                "the oldest once the selected left"
            );
        });
    }

    #[test]
    fn a_prompt_replaced_by_the_same_ask_is_no_news() {
        Owner::new().with(|| {
            let inbox = Inbox::new();
            inbox.apply(InboxEvent::Item(Box::new(item("a", 5, bash("pwd")))));
            assert_eq!(inbox.arrived.get_untracked().unwrap().id, "a:5");
            inbox.arrived.set(None);
            inbox.apply(InboxEvent::Replaced("a:5".into()));
            inbox.apply(InboxEvent::Item(Box::new(item("a", 6, bash("pwd")))));
            assert_eq!(inbox.arrived.get_untracked(), None);
            assert_eq!(ids(&inbox), ["a:6"]);
            inbox.apply(InboxEvent::Replaced("a:6".into()));
            inbox.apply(InboxEvent::Item(Box::new(item("a", 7, bash("whoami")))));
            assert_eq!(inbox.arrived.get_untracked().unwrap().id, "a:7");
        });
    }

    #[test]
    fn events_during_a_sync_are_replayed_over_the_list() {
        Owner::new().with(|| {
            let inbox = Inbox::new();
            inbox.apply(InboxEvent::Item(Box::new(item("old", 1, bash("ls")))));
            inbox.syncing();
            // Came while the list was read: one new, one gone that the list still has.
            inbox.apply(InboxEvent::Item(Box::new(item("c", 9, bash("ls")))));
            inbox.apply(InboxEvent::Gone("b:2".into()));
            inbox.synced(vec![item("a", 1, bash("ls")), item("b", 2, bash("ls"))]);
            assert_eq!(ids(&inbox), ["a:1", "c:9"]);
            // Afterwards, nothing is kept.
            inbox.apply(InboxEvent::Gone("c:9".into()));
            inbox.synced(vec![item("a", 1, bash("ls"))]);
            assert_eq!(ids(&inbox), ["a:1"]);
        });
    }

    #[test]
    fn identical_prompts_are_found_across_sessions() {
        Owner::new().with(|| {
            let inbox = Inbox::new();
            let first = item("a", 1, bash("make deploy"));
            inbox.apply(InboxEvent::Item(Box::new(first.clone())));
            inbox.apply(InboxEvent::Item(Box::new(item("b", 2, bash("make test")))));
            let mut ready = bash("make deploy");
            ready.ready = true;
            inbox.apply(InboxEvent::Item(Box::new(item("c", 3, ready))));
            assert_eq!(inbox.identical(&first), ["a:1", "c:3"]);
        });
    }

    #[test]
    fn prompts_read_as_command_question_and_plan() {
        let permission = ask(&bash("echo deploying-now"), input_fields);
        assert_eq!(
            (permission.heading.as_str(), permission.body.as_str()),
            ("Bash", "echo deploying-now")
        );
        assert!(permission.permission);
        let question = PromptContext {
            kind: "question".into(),
            tool: Some("AskUserQuestion".into()),
            questions: vec![PromptQuestion {
                question: "Which database?".into(),
                options: vec!["Postgres".into(), "SQLite".into()],
            }],
            ..PromptContext::default()
        };
        let q = ask(&question, input_fields);
        assert_eq!(
            (q.body.as_str(), q.options.clone()),
            ("Which database?", vec!["Postgres".into(), "SQLite".into()])
        );
        let plan = PromptContext {
            kind: "plan".into(),
            tool: Some("ExitPlanMode".into()),
            input: Some(r##"{"plan":"# Cache\n1. Add it"}"##.into()),
            options: vec!["Yes".into(), "No".into()],
            ..PromptContext::default()
        };
        assert_eq!(ask(&plan, input_fields).body, "# Cache\n1. Add it");
        // Input that is not an object is shown as it is.
        let odd = PromptContext {
            input: Some("rm -rf /".into()),
            ..bash("x")
        };
        assert_eq!(ask(&odd, input_fields).body, "rm -rf /");
    }

    #[test]
    fn keys_answer_with_options_accept_or_deny() {
        let permission = ask(&bash("ls"), input_fields);
        assert_eq!(key_answer(&permission, "y").unwrap().accept, Some(true));
        assert_eq!(key_answer(&permission, "n").unwrap().accept, Some(false));
        assert_eq!(key_answer(&permission, "3").unwrap().option, Some(3));
        assert_eq!(key_answer(&permission, "4"), None, "no fourth option");
        assert_eq!(key_answer(&permission, "0"), None);
        let plan = Ask {
            permission: false,
            ..permission
        };
        assert_eq!(key_answer(&plan, "y"), None, "y/n only for permissions");
        let typed = text_answer("question", " DuckDB ").unwrap();
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            serde_json::json!({"answers": [{"text": "DuckDB"}]})
        );
        assert_eq!(
            text_answer("plan", "shorter").unwrap().text.as_deref(),
            Some("shorter")
        );
        assert_eq!(text_answer("plan", "  "), None);
    }
}
