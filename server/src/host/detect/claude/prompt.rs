//! The `prompt` object (docs/coop-protocol.md, "Claude Code"): what the hook said (tool, input,
//! questions) completed by what the screen shows (the menu's options, the question asked).

use super::screen::{Dialog, DialogKind};
use protocol::claude::HookInput;
use protocol::coop::{PromptContext, PromptQuestion};
use serde_json::Value;

/// The tool whose call is a question to the operator.
pub const QUESTION_TOOL: &str = "AskUserQuestion";
/// The tool whose call is a plan to approve.
pub const PLAN_TOOL: &str = "ExitPlanMode";
/// Menu entries a question dialog adds after the question's own options.
const QUESTION_EXTRAS: [&str; 2] = ["Type something.", "Chat about this"];
/// What a permission prompt offers when its menu could not be read.
const FALLBACK_OPTIONS: [&str; 2] = ["Yes", "No"];

/// The prompt a tool's call opens, if it opens one by itself (a question or a plan; any
/// other tool asks only when it needs permission).
pub fn kind_of_tool(tool: Option<&str>) -> Option<DialogKind> {
    match tool? {
        QUESTION_TOOL => Some(DialogKind::Question),
        PLAN_TOOL => Some(DialogKind::Plan),
        _ => None,
    }
}

/// What a hook tells about a prompt of `kind`; not ready until the screen shows it.
pub fn from_hook(kind: DialogKind, hook: &HookInput) -> PromptContext {
    let input = hook.tool_input.as_ref();
    let questions = if kind == DialogKind::Question {
        input.map(questions).unwrap_or_default()
    } else {
        Vec::new()
    };
    PromptContext {
        kind: kind.as_str().to_owned(),
        tool: hook.tool_name.clone(),
        input: input.map(Value::to_string),
        options: questions
            .first()
            .map(|q| q.options.clone())
            .unwrap_or_default(),
        questions,
        ..PromptContext::default()
    }
}

/// AskUserQuestion's `questions[].{question, options[].label}`.
fn questions(input: &Value) -> Vec<PromptQuestion> {
    let list = input.get("questions").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .map(|q| PromptQuestion {
            question: text(q.get("question")),
            options: q
                .get("options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|o| text(o.get("label")))
                .collect(),
        })
        .collect()
}

fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The prompt once its dialog is on screen: ready, with the menu's options (a question's
/// options are those of the question asked, without the free-text and chat entries).
pub fn shown(mut prompt: PromptContext, dialog: &Dialog) -> PromptContext {
    prompt.ready = true;
    prompt.options_fallback = false;
    // No hook named the tool (only a notification, or none, announced the dialog): the
    // dialog shows it.
    if let (None, Some(subject)) = (&prompt.tool, &dialog.subject) {
        prompt.tool = Some(subject.tool.to_owned());
        prompt.input = Some(subject.input.clone());
    }
    if dialog.kind != DialogKind::Question {
        prompt.options.clone_from(&dialog.options);
        return prompt;
    }
    let own: Vec<String> = dialog
        .options
        .iter()
        .filter(|o| !QUESTION_EXTRAS.contains(&o.as_str()))
        .cloned()
        .collect();
    let asked = dialog.heading.as_deref();
    if let Some(i) = prompt
        .questions
        .iter()
        .position(|q| Some(&*q.question) == asked)
    {
        prompt.question_current = i;
    }
    if prompt.questions.is_empty() {
        prompt.questions.push(PromptQuestion {
            question: asked.unwrap_or_default().to_owned(),
            options: own.clone(),
        });
    }
    prompt.options = own;
    prompt
}

/// The prompt when its dialog did not show in time: the options are a default.
pub fn unseen(mut prompt: PromptContext) -> PromptContext {
    if prompt.options.is_empty() && prompt.kind == DialogKind::Permission.as_str() {
        prompt.options = FALLBACK_OPTIONS.map(str::to_owned).to_vec();
    }
    prompt.options_fallback = true;
    prompt
}

/// A prompt only the screen saw (no hook announced it): a permission's tool and input as the
/// dialog draws them.
pub fn from_screen(dialog: &Dialog) -> PromptContext {
    let bare = PromptContext {
        kind: dialog.kind.as_str().to_owned(),
        ..PromptContext::default()
    };
    shown(bare, dialog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ask() -> HookInput {
        HookInput {
            hook_event_name: "PreToolUse".into(),
            tool_name: Some(QUESTION_TOOL.into()),
            tool_input: Some(json!({"questions":[
                {"question":"Which database?","header":"Database","multiSelect":false,
                 "options":[{"label":"Postgres","description":"A server"},{"label":"SQLite"}]},
                {"question":"Which cache?","options":[{"label":"Redis"}]}]})),
            ..HookInput::default()
        }
    }

    #[test]
    fn a_question_has_its_questions_from_the_hook_and_its_place_from_the_screen() {
        let prompt = from_hook(DialogKind::Question, &ask());
        assert!(!prompt.ready);
        assert_eq!(prompt.questions[0].options, ["Postgres", "SQLite"]);
        let dialog = Dialog {
            kind: DialogKind::Question,
            options: vec![
                "Redis".into(),
                "Type something.".into(),
                "Chat about this".into(),
            ],
            heading: Some("Which cache?".into()),
            subject: None,
        };
        let prompt = shown(prompt, &dialog);
        assert!(prompt.ready);
        assert_eq!(prompt.question_current, 1);
        assert_eq!(prompt.options, ["Redis"]);
        assert_eq!(prompt.questions.len(), 2);
    }

    #[test]
    fn a_permission_has_the_tool_input_as_json_text_and_the_screen_menu() {
        let hook = HookInput {
            hook_event_name: "PermissionRequest".into(),
            tool_name: Some("Bash".into()),
            tool_input: Some(json!({"command":"echo deploying-now"})),
            ..HookInput::default()
        };
        let prompt = from_hook(DialogKind::Permission, &hook);
        assert_eq!(
            prompt.input.as_deref(),
            Some(r#"{"command":"echo deploying-now"}"#)
        );
        assert!(unseen(prompt.clone()).options_fallback);
        let dialog = Dialog {
            kind: DialogKind::Permission,
            options: vec!["Yes".into(), "No".into()],
            heading: None,
            subject: None,
        };
        let prompt = shown(prompt, &dialog);
        assert_eq!((prompt.options.len(), prompt.options_fallback), (2, false));
    }
}
