//! Answering a prompt as a person would: the keys Claude Code's dialogs take (docs/coop-protocol.md,
//! "Claude Code"). A number picks a menu entry at once; free text is typed on the dialog's
//! free-text row (reached with the arrow keys from the first entry) and sent with Enter; Esc
//! declines a question or a plan.

use protocol::coop::{PromptContext, RespondAnswer, RespondRequest};

/// Arrow down.
const DOWN: &[u8] = b"\x1b[B";
/// Enter.
const ENTER: &[u8] = b"\r";
/// Escape, alone in its write so that it is not read as the start of a sequence.
const ESCAPE: &[u8] = b"\x1b";

/// One write to the terminal; the next waits until the screen showed its effect.
pub type Step = Vec<u8>;

/// The keys that answer `prompt` with `request`, or why the request does not fit it.
pub fn respond(prompt: &PromptContext, request: &RespondRequest) -> Result<Vec<Step>, String> {
    match prompt.kind.as_str() {
        "permission" => permission(prompt, request),
        "question" => question(prompt, request),
        "plan" => plan(prompt, request),
        other => Err(format!("cannot answer a {other:?} prompt")),
    }
}

/// The keys that type a nudge and send it.
pub fn nudge(message: &str) -> Vec<Step> {
    vec![message.as_bytes().to_vec(), ENTER.to_vec()]
}

fn permission(prompt: &PromptContext, request: &RespondRequest) -> Result<Vec<Step>, String> {
    let count = prompt.options.len();
    let option = match (request.option, request.accept) {
        (Some(option), _) => option,
        (None, Some(true)) => 1,
        // The last entry declines ("No").
        (None, Some(false)) => u32::try_from(count).unwrap_or(u32::MAX),
        (None, None) => return Err("a permission prompt takes accept or option".into()),
    };
    Ok(vec![pick(option, count)?])
}

fn question(prompt: &PromptContext, request: &RespondRequest) -> Result<Vec<Step>, String> {
    if request.answers.is_empty() && request.option.is_none() && request.text.is_none() {
        return match request.accept {
            Some(false) => Ok(vec![ESCAPE.to_vec()]),
            _ => Err("a question takes option, text or answers".into()),
        };
    }
    let answers: Vec<RespondAnswer> = if request.answers.is_empty() {
        vec![RespondAnswer {
            option: request.option,
            text: request.text.clone(),
        }]
    } else {
        request
            .answers
            .iter()
            .map(|a| serde_json::from_value(a.clone()).map_err(|e| format!("answers: {e}")))
            .collect::<Result<_, _>>()?
    };
    let first = prompt.question_current;
    let left = prompt.questions.len().saturating_sub(first).max(1);
    if answers.len() > left {
        return Err(format!(
            "{} answers for {left} question(s) left",
            answers.len()
        ));
    }
    let mut steps = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let count = prompt
            .questions
            .get(first + i)
            .map_or(prompt.options.len(), |q| q.options.len());
        match (answer.option, &answer.text) {
            (Some(option), _) => steps.push(pick(option, count)?),
            (None, Some(text)) => steps.extend(free_text(count, text)),
            (None, None) => return Err("each answer takes option or text".into()),
        }
    }
    // Several questions end on a review page whose first entry submits them all.
    if prompt.questions.len() > 1 && answers.len() == left {
        steps.push(b"1".to_vec());
    }
    Ok(steps)
}

fn plan(prompt: &PromptContext, request: &RespondRequest) -> Result<Vec<Step>, String> {
    let count = prompt.options.len();
    match (request.option, &request.text, request.accept) {
        (Some(option), _, _) => Ok(vec![pick(option, count)?]),
        // The last entry is where Claude is told what to change.
        (None, Some(text), _) => Ok(free_text(count.saturating_sub(1), text)),
        (None, None, Some(true)) => Ok(vec![pick(1, count)?]),
        (None, None, Some(false)) => Ok(vec![ESCAPE.to_vec()]),
        (None, None, None) => Err("a plan takes accept, option or text".into()),
    }
}

/// The number key of entry `option` (from 1) of a menu of `count`.
fn pick(option: u32, count: usize) -> Result<Step, String> {
    let valid = 1..=count.min(9);
    match usize::try_from(option) {
        Ok(n) if valid.contains(&n) => Ok(n.to_string().into_bytes()),
        _ => Err(format!("option {option} is not one of 1–{}", count.min(9))),
    }
}

/// Down to the free-text row `rows_above` entries below the first, the text, Enter.
fn free_text(rows_above: usize, text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if rows_above > 0 {
        steps.push(DOWN.repeat(rows_above));
    }
    if !text.is_empty() {
        steps.push(text.as_bytes().to_vec());
    }
    steps.push(ENTER.to_vec());
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::coop::PromptQuestion;
    use serde_json::json;

    fn prompt(kind: &str, options: &[&str]) -> PromptContext {
        PromptContext {
            kind: kind.into(),
            options: options.iter().map(|s| (*s).to_owned()).collect(),
            ready: true,
            ..PromptContext::default()
        }
    }

    fn ask(body: serde_json::Value) -> RespondRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_permission_is_accepted_with_1_and_declined_with_its_last_entry() {
        let p = prompt("permission", &["Yes", "Yes, allow echo", "No"]);
        assert_eq!(
            respond(&p, &ask(json!({"accept":true}))),
            Ok(vec![b"1".to_vec()])
        );
        assert_eq!(
            respond(&p, &ask(json!({"accept":false}))),
            Ok(vec![b"3".to_vec()])
        );
        assert_eq!(
            respond(&p, &ask(json!({"option":2}))),
            Ok(vec![b"2".to_vec()])
        );
        assert!(respond(&p, &ask(json!({"option":4}))).is_err());
        assert!(respond(&p, &ask(json!({"text":"hi"}))).is_err());
    }

    #[test]
    fn questions_take_numbers_or_free_text_and_several_are_submitted() {
        let mut p = prompt("question", &["Postgres", "SQLite"]);
        p.questions = vec![
            PromptQuestion {
                question: "Which database?".into(),
                options: vec!["Postgres".into(), "SQLite".into()],
            },
            PromptQuestion {
                question: "Which cache?".into(),
                options: vec!["Redis".into()],
            },
        ];
        let steps = respond(
            &p,
            &ask(json!({"answers":[{"option":2},{"text":"memcached"}]})),
        );
        let want: Vec<Step> = vec![
            b"2".to_vec(),
            DOWN.to_vec(),
            b"memcached".to_vec(),
            ENTER.to_vec(),
            b"1".to_vec(),
        ];
        assert_eq!(steps, Ok(want));
        assert_eq!(
            respond(&p, &ask(json!({"accept":false}))),
            Ok(vec![ESCAPE.to_vec()])
        );
        assert!(respond(&p, &ask(json!({"answers":[{},{},{}]}))).is_err());
    }

    #[test]
    fn a_plan_is_approved_by_number_and_revised_on_its_last_row() {
        let p = prompt(
            "plan",
            &["Yes, clear", "Yes, auto", "Yes, manual", "Type here"],
        );
        assert_eq!(
            respond(&p, &ask(json!({"option":3}))),
            Ok(vec![b"3".to_vec()])
        );
        let revise = respond(&p, &ask(json!({"text":"smaller"}))).unwrap();
        assert_eq!(revise[0], DOWN.repeat(3));
        assert_eq!(
            respond(&p, &ask(json!({"accept":false}))),
            Ok(vec![ESCAPE.to_vec()])
        );
    }
}
