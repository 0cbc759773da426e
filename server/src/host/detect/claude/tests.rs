//! The detector's decisions, event by event, on synthetic screens.

use super::screen::{Dialog, Subject};
use super::*;
use serde_json::json;

fn hook(name: &str) -> HookInput {
    HookInput {
        hook_event_name: name.into(),
        ..HookInput::default()
    }
}

fn tool_hook(name: &str, tool: &str, input: serde_json::Value) -> HookInput {
    HookInput {
        tool_name: Some(tool.into()),
        tool_input: Some(input),
        ..hook(name)
    }
}

fn permission_view() -> View {
    View {
        dialog: Some(Dialog {
            kind: DialogKind::Permission,
            options: vec![
                "Yes".into(),
                "Yes, allow echo commands from this project".into(),
                "No".into(),
            ],
            heading: Some("Do you want to proceed?".into()),
            subject: None,
        }),
        ..View::default()
    }
}

fn idle_view() -> View {
    View {
        input_box: true,
        reads_keys: true,
        ..View::default()
    }
}

fn state(tracker: &StateTracker) -> (AgentState, &'static str) {
    let seen = tracker.snapshot();
    (seen.state, seen.cause.unwrap_or_default())
}

#[test]
fn a_permission_goes_out_when_its_dialog_shows_with_the_tool_and_the_menu() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    d.on_hook(&tracker, &hook("UserPromptSubmit"), true, t0);
    assert_eq!(state(&tracker), (AgentState::Working, "hook:working"));
    let bash = json!({"command":"echo deploying-now"});
    d.on_hook(
        &tracker,
        &tool_hook("PreToolUse", "Bash", bash.clone()),
        true,
        t0,
    );
    d.on_hook(
        &tracker,
        &tool_hook("PermissionRequest", "Bash", bash),
        true,
        t0,
    );
    // Not on screen yet: the prompt waits, and says when it gives up waiting.
    let due = d.on_screen(&tracker, &View::default(), 1, t0);
    assert_eq!(due, Some(t0 + PROMPT_WAIT));
    assert_eq!(tracker.get(), AgentState::Working);
    d.on_screen(&tracker, &permission_view(), 2, t0);
    assert_eq!(
        state(&tracker),
        (AgentState::Prompt, "hook:prompt(permission)")
    );
    let prompt = tracker.snapshot().prompt.unwrap();
    assert_eq!(prompt.tool.as_deref(), Some("Bash"));
    assert_eq!(
        prompt.input.as_deref(),
        Some(r#"{"command":"echo deploying-now"}"#)
    );
    assert_eq!(prompt.options.len(), 3);
    assert!(prompt.ready && !prompt.options_fallback);
    // The notification that follows is the same prompt: no new transition.
    let seq = tracker.snapshot().since_seq;
    let mut note = hook("Notification");
    note.notification_type = Some("permission_prompt".into());
    d.on_hook(&tracker, &note, true, t0);
    d.on_screen(&tracker, &permission_view(), 2, t0);
    assert_eq!(tracker.snapshot().since_seq, seq);
}

#[test]
fn a_prompt_that_never_shows_goes_out_with_fallback_options() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    d.on_hook(
        &tracker,
        &tool_hook("PermissionRequest", "Write", json!({"file_path":"a.txt"})),
        true,
        t0,
    );
    d.on_screen(&tracker, &View::default(), 1, t0 + PROMPT_WAIT);
    let prompt = tracker.snapshot().prompt.unwrap();
    assert!(!prompt.ready && prompt.options_fallback);
    assert_eq!(prompt.options, ["Yes", "No"]);
    // When it shows after all, it becomes ready in place.
    let seq = tracker.snapshot().since_seq;
    d.on_screen(&tracker, &permission_view(), 2, t0 + PROMPT_WAIT);
    let prompt = tracker.snapshot().prompt.unwrap();
    assert!(prompt.ready && !prompt.options_fallback);
    assert_eq!(tracker.snapshot().since_seq, seq);
}

#[test]
fn a_permission_only_a_notification_announced_takes_its_tool_from_the_dialog() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    let notice = HookInput {
        notification_type: Some("permission_prompt".into()),
        ..hook("Notification")
    };
    d.on_hook(&tracker, &notice, true, t0);
    let mut view = permission_view();
    let command = r#"{"command":"echo deploying-now"}"#;
    if let Some(dialog) = view.dialog.as_mut() {
        dialog.subject = Some(Subject {
            tool: "Bash",
            input: command.into(),
        });
    }
    d.on_screen(&tracker, &view, 1, t0);
    let seen = tracker.snapshot();
    assert_eq!(seen.cause, Some("hook:prompt(permission)"));
    let prompt = seen.prompt.expect("a prompt");
    assert_eq!(
        (
            prompt.tool.as_deref(),
            prompt.input.as_deref(),
            prompt.ready
        ),
        (Some("Bash"), Some(command), true)
    );
}

#[test]
fn an_answer_moves_to_working_and_the_settled_input_box_to_idle() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    d.on_hook(
        &tracker,
        &tool_hook("PermissionRequest", "Bash", json!({})),
        true,
        t0,
    );
    d.on_screen(&tracker, &permission_view(), 1, t0);
    let answered = d.answering(&tracker, t0).expect("a prompt");
    assert_eq!(answered.kind, "permission");
    assert_eq!(state(&tracker), (AgentState::Working, "respond"));
    assert!(d.answering(&tracker, t0).is_none(), "answered once only");
    let t1 = t0 + Duration::from_millis(10);
    // The dialog may linger a moment: no prompt is read from it before the screen settles.
    assert!(d.on_screen(&tracker, &permission_view(), 2, t1).is_some());
    let due = d
        .on_screen(&tracker, &idle_view(), 3, t1)
        .expect("a settle deadline");
    assert_eq!(due, t1 + SCREEN_SETTLE);
    d.on_screen(&tracker, &idle_view(), 3, due);
    assert_eq!(state(&tracker), (AgentState::Idle, "screen:idle"));
    assert_eq!(tracker.snapshot().tier, "5");
}

#[test]
fn a_question_has_its_questions_and_goes_idle_on_the_notification() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    let ask = json!({"questions":[{"question":"Which database?",
        "options":[{"label":"Postgres"},{"label":"SQLite"}]}]});
    d.on_hook(
        &tracker,
        &tool_hook("PreToolUse", "AskUserQuestion", ask),
        true,
        t0,
    );
    let view = View {
        dialog: Some(Dialog {
            kind: DialogKind::Question,
            options: vec![
                "Postgres".into(),
                "SQLite".into(),
                "Type something.".into(),
                "Chat about this".into(),
            ],
            heading: Some("Which database?".into()),
            subject: None,
        }),
        ..View::default()
    };
    d.on_screen(&tracker, &view, 1, t0);
    assert_eq!(
        state(&tracker),
        (AgentState::Prompt, "hook:prompt(question)")
    );
    let prompt = tracker.snapshot().prompt.unwrap();
    assert_eq!(prompt.options, ["Postgres", "SQLite"]);
    assert_eq!(prompt.questions[0].question, "Which database?");
    let mut idle = hook("Notification");
    idle.notification_type = Some("idle_prompt".into());
    d.on_hook(&tracker, &idle, true, t0);
    assert_eq!(state(&tracker), (AgentState::Idle, "hook:idle"));
    assert!(tracker.snapshot().prompt.is_none());
}

#[test]
fn the_screen_alone_finds_idle_errors_and_dialogs_once_settled() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    assert!(d.on_screen(&tracker, &idle_view(), 1, t0).is_some());
    assert_eq!(tracker.get(), AgentState::Starting);
    let later = t0 + SCREEN_SETTLE;
    d.on_screen(&tracker, &idle_view(), 1, later);
    assert_eq!(state(&tracker), (AgentState::Idle, "screen:idle"));
    let failed = View {
        error: Some("Error: Rate limited. Retry after 30 seconds.".into()),
        ..idle_view()
    };
    assert!(d.on_screen(&tracker, &failed, 2, later).is_some());
    d.on_screen(&tracker, &failed, 2, later + SCREEN_SETTLE);
    assert_eq!(state(&tracker), (AgentState::Parked, "screen:parked"));
    assert_eq!(
        tracker.snapshot().error_category.as_deref(),
        Some("rate_limited")
    );
    let t2 = later + SCREEN_SETTLE * 2;
    d.on_screen(&tracker, &permission_view(), 3, t2);
    d.on_screen(&tracker, &permission_view(), 3, t2 + SCREEN_SETTLE);
    assert_eq!(
        state(&tracker),
        (AgentState::Prompt, "screen:prompt(permission)")
    );
    assert_eq!(tracker.snapshot().prompt.unwrap().tool, None);
}

#[test]
fn a_start_before_the_terminal_takes_keys_waits_for_it() {
    let t0 = Instant::now();
    let tracker = StateTracker::new();
    let mut d = Detector::new(t0);
    let cooked = View {
        reads_keys: false,
        ..idle_view()
    };
    d.on_hook(&tracker, &hook("SessionStart"), false, t0);
    assert_eq!(tracker.get(), AgentState::Starting);
    assert_eq!(d.on_screen(&tracker, &cooked, 1, t0), Some(t0 + KEYS_POLL));
    d.on_screen(&tracker, &idle_view(), 1, t0 + KEYS_POLL);
    assert_eq!(state(&tracker), (AgentState::Idle, "hook:idle"));
}

#[test]
fn errors_are_classified() {
    assert_eq!(
        classify("Error: API key expired"),
        (AgentState::Error, "unauthorized")
    );
    assert_eq!(
        classify("Error: No credits remaining"),
        (AgentState::Parked, "out_of_credits")
    );
    assert_eq!(
        classify("Error: Network is unreachable"),
        (AgentState::Error, "network")
    );
}
