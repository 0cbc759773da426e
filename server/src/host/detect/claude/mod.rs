//! Claude Code's state from its hooks and its screen (docs/architecture.md, "Agent state").
//!
//! Hooks decide (tier `"1"`): a prompt submitted or a tool used is `working`, `Stop` and the
//! idle notification are `idle`, a permission request, a question or a plan is `prompt`. A
//! prompt goes out once its dialog is on screen (so its options are the menu's), or after
//! [`PROMPT_WAIT`] without them. The screen decides where hooks say nothing (tier `"5"`), once it
//! has been still for [`SCREEN_SETTLE`] with no hook in between: the input box alone is `idle`
//! (or `error`/`parked` when the last answer was an error), a dialog is `prompt`, a dialog gone
//! is the prompt answered in the terminal. `screen` reads the screen, `prompt` builds the
//! prompt object.

pub mod prompt;
pub mod screen;

use super::{Detection, Tier};
use crate::host::state::StateTracker;
use protocol::claude::HookInput;
use protocol::coop::PromptContext;
use protocol::AgentState;
use screen::{DialogKind, View};
use std::time::Duration;
use tokio::time::Instant;

/// How long a prompt a hook announced waits for its dialog before it goes out without it.
pub const PROMPT_WAIT: Duration = Duration::from_millis(1000); // 1 s
/// How long the screen must be still, with no hook, before it is believed.
pub const SCREEN_SETTLE: Duration = Duration::from_millis(400); // 400 ms
/// How often a starting agent's terminal is looked at until it takes keys.
pub const KEYS_POLL: Duration = Duration::from_millis(50); // 50 ms

/// A prompt a hook announced, waiting for its dialog.
#[derive(Debug)]
struct Pending {
    /// The dialog expected; `None` takes whichever shows (a bare notification).
    kind: Option<DialogKind>,
    prompt: PromptContext,
    cause: &'static str,
    since: Instant,
}

/// The detector's memory between events.
#[derive(Debug)]
pub struct Detector {
    pending: Option<Pending>,
    /// The last hook or answer: the screen is read only once it is past.
    last_event: Instant,
    screen_seq: u64,
    /// Since when the screen is unchanged.
    screen_since: Instant,
    /// `SessionStart` came before the terminal took keys: idle once it does.
    session_started: bool,
}

impl Detector {
    /// A detector for a child that just started.
    pub fn new(now: Instant) -> Self {
        Self {
            pending: None,
            last_event: now,
            screen_seq: 0,
            screen_since: now,
            session_started: false,
        }
    }

    /// Forgets a prompt waiting for its dialog (a new child starts).
    pub fn reset(&mut self, now: Instant) {
        *self = Self::new(now);
    }

    /// A hook event; `reads_keys` tells whether the terminal takes keys yet.
    pub fn on_hook(
        &mut self,
        tracker: &StateTracker,
        hook: &HookInput,
        reads_keys: bool,
        now: Instant,
    ) {
        self.last_event = now;
        let tool = hook.tool_name.as_deref();
        match hook.hook_event_name.as_str() {
            "UserPromptSubmit" | "PostToolUse" | "PostToolUseFailure" | "PreCompact" => {
                self.working(tracker);
            }
            "PreToolUse" => match prompt::kind_of_tool(tool) {
                Some(kind) => self.expect(tracker, Some(kind), hook, now),
                None => self.working(tracker),
            },
            "PermissionRequest" => {
                let kind = prompt::kind_of_tool(tool).unwrap_or(DialogKind::Permission);
                self.expect(tracker, Some(kind), hook, now);
            }
            "Notification" => match hook.notification_type.as_deref() {
                Some("idle_prompt") => self.idle(tracker),
                Some("permission_prompt") => {
                    self.expect(tracker, Some(DialogKind::Permission), hook, now);
                }
                Some("elicitation_dialog") => self.expect(tracker, None, hook, now),
                _ => {}
            },
            "Stop" => self.idle(tracker),
            // Claude Code may announce its start before its terminal takes keys (what is typed
            // then is echoed by the line discipline and never submitted).
            "SessionStart" if tracker.get() == AgentState::Starting => {
                if reads_keys {
                    self.idle(tracker);
                } else {
                    self.session_started = true;
                }
            }
            _ => {}
        }
    }

    fn working(&mut self, tracker: &StateTracker) {
        self.pending = None;
        tracker.detect(Detection::new(
            AgentState::Working,
            Tier::Hook,
            "hook:working",
        ));
    }

    fn idle(&mut self, tracker: &StateTracker) {
        self.pending = None;
        tracker.detect(Detection::new(AgentState::Idle, Tier::Hook, "hook:idle"));
    }

    /// A prompt is coming. A notification about a prompt already known adds nothing.
    fn expect(
        &mut self,
        tracker: &StateTracker,
        kind: Option<DialogKind>,
        hook: &HookInput,
        now: Instant,
    ) {
        let notification = hook.hook_event_name == "Notification";
        let known = self.pending.is_some() || tracker.get() == AgentState::Prompt;
        if notification && known {
            return;
        }
        // Claude Code may announce one prompt twice (PreToolUse, then PermissionRequest).
        if let Some(p) = &self.pending {
            if p.prompt.tool == hook.tool_name && Some(p.prompt.kind.as_str()) == kind_str(kind) {
                return;
            }
        }
        let cause = match kind {
            Some(DialogKind::Question) => "hook:prompt(question)",
            Some(DialogKind::Plan) => "hook:prompt(plan)",
            Some(DialogKind::Permission) => "hook:prompt(permission)",
            None => "hook:prompt",
        };
        let draft = prompt::from_hook(kind.unwrap_or(DialogKind::Question), hook);
        let draft = if notification {
            without_tool(draft)
        } else {
            draft
        };
        self.pending = Some(Pending {
            kind,
            prompt: draft,
            cause,
            since: now,
        });
    }

    /// The answer goes in: `working` from now on, so that hooks it triggers come after.
    /// Returns the prompt answered, or `None` when there is none to answer.
    pub fn answering(&mut self, tracker: &StateTracker, now: Instant) -> Option<PromptContext> {
        let seen = tracker.snapshot();
        let prompt = seen.prompt.filter(|_| seen.state == AgentState::Prompt)?;
        if prompt.ready {
            self.last_event = now;
            self.pending = None;
            tracker.detect(Detection::new(AgentState::Working, Tier::Hook, "respond"));
        }
        Some(prompt)
    }

    /// Marks a nudge typed in: the screen waits past it.
    pub fn typed(&mut self, now: Instant) {
        self.last_event = now;
    }

    /// A look at the screen (screen `seq`); returns when to look again without a change.
    pub fn on_screen(
        &mut self,
        tracker: &StateTracker,
        view: &View,
        seq: u64,
        now: Instant,
    ) -> Option<Instant> {
        if seq != self.screen_seq {
            self.screen_seq = seq;
            self.screen_since = now;
        }
        if let Some(pending) = self.pending.take() {
            return self.resolve(tracker, view, pending, now);
        }
        let settled = self.screen_since.max(self.last_event) + SCREEN_SETTLE;
        let seen = tracker.snapshot();
        let state = seen.state;
        if state == AgentState::Starting {
            if !view.reads_keys {
                return Some(now + KEYS_POLL);
            }
            if self.session_started {
                self.idle(tracker);
                return None;
            }
        }
        match (state, seen.prompt) {
            (AgentState::Prompt, Some(current)) => match &view.dialog {
                Some(dialog) if dialog.kind.as_str() == current.kind => {
                    if !current.ready {
                        let shown = prompt::shown(current, dialog);
                        tracker.refine_prompt(|p| *p = shown);
                    }
                    None
                }
                _ if now < settled => Some(settled),
                // The dialog went without an answer through the host: answered in the terminal.
                _ if view.is_idle() => self.screen_idle(tracker, view),
                _ => {
                    tracker.detect(screen_working());
                    None
                }
            },
            (AgentState::Exited, _) => None,
            (state, _) if state == crate::host::state::restarting() => None,
            _ if now < settled => Some(settled),
            (state, _) => {
                if let Some(dialog) = &view.dialog {
                    let cause = match dialog.kind {
                        DialogKind::Question => "screen:prompt(question)",
                        DialogKind::Plan => "screen:prompt(plan)",
                        DialogKind::Permission => "screen:prompt(permission)",
                    };
                    let asked = prompt::from_screen(dialog);
                    tracker.detect(prompt_detection(asked, Tier::Screen, cause));
                } else if view.is_idle() {
                    self.screen_idle(tracker, view);
                } else if view.busy && state != AgentState::Working {
                    tracker.detect(screen_working());
                }
                None
            }
        }
    }

    /// A prompt a hook announced: out with its dialog, or without it once waited long enough.
    fn resolve(
        &mut self,
        tracker: &StateTracker,
        view: &View,
        pending: Pending,
        now: Instant,
    ) -> Option<Instant> {
        let matching = view
            .dialog
            .as_ref()
            .filter(|d| pending.kind.is_none_or(|k| k == d.kind));
        let prompt = match matching {
            Some(dialog) => {
                let mut draft = pending.prompt;
                draft.kind = dialog.kind.as_str().to_owned();
                prompt::shown(draft, dialog)
            }
            None if now < pending.since + PROMPT_WAIT => {
                let due = pending.since + PROMPT_WAIT;
                self.pending = Some(pending);
                return Some(due);
            }
            None => prompt::unseen(pending.prompt),
        };
        let cause = match (pending.cause, prompt.kind.as_str()) {
            ("hook:prompt", "plan") => "hook:prompt(plan)",
            ("hook:prompt", "permission") => "hook:prompt(permission)",
            ("hook:prompt", _) => "hook:prompt(question)",
            (cause, _) => cause,
        };
        tracker.detect(prompt_detection(prompt, Tier::Hook, cause));
        None
    }

    /// The input box waits: `idle`, or `error`/`parked` when the last answer failed.
    fn screen_idle(&mut self, tracker: &StateTracker, view: &View) -> Option<Instant> {
        let Some(error) = &view.error else {
            tracker.detect(Detection::new(
                AgentState::Idle,
                Tier::Screen,
                "screen:idle",
            ));
            return None;
        };
        let (state, category) = classify(error);
        let cause = if state == AgentState::Parked {
            "screen:parked"
        } else {
            "screen:error"
        };
        tracker.detect(Detection {
            error_detail: Some(error.clone()),
            error_category: Some(category.to_owned()),
            ..Detection::new(state, Tier::Screen, cause)
        });
        None
    }
}

fn kind_str(kind: Option<DialogKind>) -> Option<&'static str> {
    kind.map(DialogKind::as_str)
}

fn screen_working() -> Detection {
    Detection::new(AgentState::Working, Tier::Screen, "screen:working")
}

fn prompt_detection(prompt: PromptContext, tier: Tier, cause: &'static str) -> Detection {
    Detection {
        prompt: Some(prompt),
        ..Detection::new(AgentState::Prompt, tier, cause)
    }
}

/// A notification names no tool (its text is for people).
fn without_tool(mut prompt: PromptContext) -> PromptContext {
    prompt.tool = None;
    prompt.input = None;
    prompt
}

/// Rate limits and spent credit park the agent until later; anything else is an error.
fn classify(error: &str) -> (AgentState, &'static str) {
    let text = error.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["rate limit", "429", "usage limit"]) {
        (AgentState::Parked, "rate_limited")
    } else if has(&["credit", "quota", "billing"]) {
        (AgentState::Parked, "out_of_credits")
    } else if has(&["api key", "auth", "401", "log in", "login"]) {
        (AgentState::Error, "unauthorized")
    } else if has(&["network", "connection", "timed out", "timeout"]) {
        (AgentState::Error, "network")
    } else {
        (AgentState::Error, "other")
    }
}

#[cfg(test)]
mod tests;
