//! Bounds on the agent's text in an item: the agent decides what a prompt says, so the hub
//! keeps a bounded copy (docs/security.md, "The agent is untrusted").

use protocol::coop::{PromptContext, PromptQuestion};
use serde_json::Value;

/// Longest tool input kept (a plan is the longest), in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// Longest label, option, question or tool name kept, in bytes.
pub const MAX_TEXT_BYTES: usize = 2 * 1024;
/// Options kept per menu.
pub const MAX_OPTIONS: usize = 32;
/// Questions kept per prompt.
pub const MAX_QUESTIONS: usize = 16;

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A label or option cut to [`MAX_TEXT_BYTES`].
pub fn text(text: &str) -> String {
    cut(text, MAX_TEXT_BYTES)
}

fn options(options: &[String]) -> Vec<String> {
    options.iter().take(MAX_OPTIONS).map(|o| text(o)).collect()
}

/// The prompt of a transition, bounded; a shape the hub cannot read becomes type `unknown`.
pub fn prompt(value: &Value) -> PromptContext {
    let Ok(prompt) = serde_json::from_value::<PromptContext>(value.clone()) else {
        return PromptContext {
            kind: "unknown".to_owned(),
            ..PromptContext::default()
        };
    };
    PromptContext {
        kind: text(&prompt.kind),
        tool: prompt.tool.as_deref().map(text),
        input: prompt.input.as_deref().map(|i| cut(i, MAX_INPUT_BYTES)),
        options: options(&prompt.options),
        options_fallback: prompt.options_fallback,
        questions: (prompt.questions.iter().take(MAX_QUESTIONS))
            .map(|q| PromptQuestion {
                question: text(&q.question),
                options: options(&q.options),
            })
            .collect(),
        question_current: prompt.question_current,
        ready: prompt.ready,
        subtype: prompt.subtype.as_deref().map(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_agents_text_is_bounded_and_an_odd_shape_is_unknown() {
        let long = "é".repeat(MAX_INPUT_BYTES);
        let many: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let p = prompt(&json!({"type": "permission", "input": long, "options": many}));
        assert!(p.input.unwrap().len() <= MAX_INPUT_BYTES);
        assert_eq!(p.options.len(), MAX_OPTIONS);
        assert_eq!(prompt(&json!({"type": 3})).kind, "unknown");
        assert_eq!(prompt(&Value::Null).kind, "unknown");
    }
}
