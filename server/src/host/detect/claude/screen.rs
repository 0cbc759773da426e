//! Reading Claude Code's screen (docs/architecture.md, "Agent state"): the dialog it shows
//! (permission, question, plan) with its menu, whether its input box waits for a prompt, whether
//! it is busy, and the error its last answer reported. Hooks say what happens; the screen says
//! what the operator sees and what the menu offers.

/// Text that marks a permission dialog, above its menu.
const PERMISSION_MARKERS: [&str; 3] = [
    "Do you want to proceed?",
    "Do you want to make this edit",
    "Do you want to create",
];
/// Text that marks a plan approval dialog.
const PLAN_MARKERS: [&str; 2] = ["Here is Claude's plan", "Ready to code?"];
/// A permission dialog's title → the tool that asks (Claude Code draws the command or the
/// file on the next non-blank row).
const PERMISSION_TITLES: [(&str, &str, &str); 3] = [
    ("Bash command", "Bash", "command"),
    ("Edit file", "Edit", "file_path"),
    ("Create file", "Write", "file_path"),
];
/// Menu entries only a question dialog has.
const QUESTION_ENTRIES: [&str; 3] = ["Type something.", "Chat about this", "Submit answers"];
/// The footer every dialog ends with; a dialog without it is still being drawn.
const FOOTER_MARKERS: [&str; 2] = ["Esc to cancel", "Enter to select"];
/// Text that marks a busy agent (Claude Code's spinner line).
const BUSY_MARKERS: [&str; 2] = ["esc to interrupt", "Running…"];
/// The frames of Claude Code's spinner.
const SPINNER_FRAMES: [char; 7] = ['·', '✢', '*', '✳', '✶', '✻', '✽'];
/// How an answer that failed starts.
const ERROR_PREFIXES: [&str; 2] = ["Error:", "API Error"];

/// The kind of dialog on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    /// A tool wants permission.
    Permission,
    /// AskUserQuestion.
    Question,
    /// ExitPlanMode's approval.
    Plan,
}

impl DialogKind {
    /// The prompt `type` on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permission => "permission",
            Self::Question => "question",
            Self::Plan => "plan",
        }
    }
}

/// A dialog and its menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// What it asks about.
    pub kind: DialogKind,
    /// The menu's labels, in order (numbered from 1 on screen).
    pub options: Vec<String>,
    /// The line just above the menu (a question dialog's question).
    pub heading: Option<String>,
    /// A permission dialog's tool and what it wants, as drawn.
    pub subject: Option<Subject>,
}

/// What a permission dialog shows it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The tool's name (`Bash`, `Edit`, `Write`).
    pub tool: &'static str,
    /// The tool's input as JSON text: `{"command"}` or `{"file_path"}` (its first row only, when
    /// it wraps).
    pub input: String,
}

/// What the screen shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The dialog, when one waits for an answer.
    pub dialog: Option<Dialog>,
    /// The input box waits for a prompt.
    pub input_box: bool,
    /// A spinner or "esc to interrupt" shows the agent at work.
    pub busy: bool,
    /// The last answer reported an error (its text).
    pub error: Option<String>,
    /// The terminal is out of canonical mode: keys reach the program (the screen cannot show
    /// it; the host sets it from the PTY).
    pub reads_keys: bool,
}

impl View {
    /// Waiting for the operator's next prompt: the input box takes keys, nothing else goes on.
    pub fn is_idle(&self) -> bool {
        self.input_box && self.reads_keys && !self.busy && self.dialog.is_none()
    }
}

/// Reads the screen's rows.
pub fn parse(lines: &[String]) -> View {
    let input_row = input_box_row(lines);
    View {
        dialog: dialog(lines),
        input_box: input_row.is_some(),
        busy: lines.iter().any(|l| is_busy(l)),
        error: input_row.and_then(|row| last_error(&lines[..row])),
        reads_keys: true,
    }
}

/// A row of a numbered menu: `❯ 2. Label` → `(2, "Label")`.
fn menu_row(line: &str) -> Option<(usize, String)> {
    let rest = line.trim_start();
    let rest = rest.strip_prefix('❯').unwrap_or(rest).trim_start();
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let number = rest[..digits].parse().ok()?;
    let label = rest[digits..].strip_prefix(". ")?;
    // A selected entry of a question is marked with a check.
    let label = label.trim_end().trim_end_matches(" ✔").trim();
    (!label.is_empty()).then(|| (number, label.to_owned()))
}

/// The menu closest to the bottom: from its last entry up to entry 1, other lines (option
/// descriptions, separators) in between. Numbered lines above entry 1 (a plan's own steps) are
/// not part of it. Returns the rows of entry 1 and of the last entry, and the labels.
fn bottom_menu(lines: &[String]) -> Option<(usize, usize, Vec<String>)> {
    let (last_row, (last, label)) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| menu_row(l).map(|m| (i, m)))?;
    let mut labels = vec![label];
    let mut want = last.checked_sub(1)?;
    let mut first_row = last_row;
    for (i, line) in lines[..last_row].iter().enumerate().rev() {
        if want == 0 {
            break;
        }
        if let Some((n, label)) = menu_row(line) {
            if n != want {
                return None;
            }
            labels.push(label);
            first_row = i;
            want -= 1;
        }
    }
    if want != 0 {
        return None;
    }
    labels.reverse();
    Some((first_row, last_row, labels))
}

fn dialog(lines: &[String]) -> Option<Dialog> {
    let (first_row, last_row, options) = bottom_menu(lines)?;
    // Drawn top to bottom: until the footer shows, the menu may still grow.
    let footer = lines[last_row + 1..]
        .iter()
        .any(|l| FOOTER_MARKERS.iter().any(|m| l.contains(m)));
    if !footer {
        return None;
    }
    let above = &lines[..first_row];
    let heading = above
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .map(str::to_owned);
    let kind = if options
        .iter()
        .any(|o| QUESTION_ENTRIES.contains(&o.as_str()))
    {
        DialogKind::Question
    } else if above
        .iter()
        .any(|l| PLAN_MARKERS.iter().any(|m| l.contains(m)))
    {
        DialogKind::Plan
    } else if heading
        .as_deref()
        .is_some_and(|h| PERMISSION_MARKERS.iter().any(|m| h.contains(m)))
    {
        DialogKind::Permission
    } else {
        // A numbered list in the conversation is no dialog.
        return None;
    };
    let subject = (kind == DialogKind::Permission)
        .then(|| subject(above))
        .flatten();
    Some(Dialog {
        kind,
        options,
        heading,
        subject,
    })
}

/// The last permission title above the menu and the first non-blank row under it.
fn subject(above: &[String]) -> Option<Subject> {
    let (row, (_, tool, field)) = above.iter().enumerate().rev().find_map(|(i, l)| {
        let title = l.trim();
        PERMISSION_TITLES
            .iter()
            .find(|(t, _, _)| *t == title)
            .map(|found| (i, *found))
    })?;
    let what = above[row + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !is_separator(l))?;
    let mut input = serde_json::Map::new();
    input.insert(field.to_owned(), what.into());
    Some(Subject {
        tool,
        input: serde_json::Value::Object(input).to_string(),
    })
}

fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.chars().count() >= 10 && line.chars().all(|c| c == '─')
}

/// The row of the input box: a `❯` (or `>`) line between two separators.
fn input_box_row(lines: &[String]) -> Option<usize> {
    (1..lines.len().saturating_sub(1)).rev().find(|&i| {
        let row = lines[i].trim_start();
        (row.starts_with('❯') || row.starts_with('>'))
            && is_separator(&lines[i - 1])
            && is_separator(&lines[i + 1])
    })
}

fn is_busy(line: &str) -> bool {
    if BUSY_MARKERS.iter().any(|m| line.contains(m)) {
        return true;
    }
    let row = line.trim_start();
    let mut chars = row.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some(frame), Some(' ')) if SPINNER_FRAMES.contains(&frame)
    ) && row.trim_end().ends_with('…')
}

/// The error the last answer (`⏺ …` above the input box) reported, if it did.
fn last_error(lines: &[String]) -> Option<String> {
    let last = lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('⏺'))?;
    let text = last.trim_start_matches('⏺').trim();
    ERROR_PREFIXES
        .iter()
        .any(|p| text.starts_with(p))
        .then(|| text.to_owned())
}

#[cfg(test)]
#[path = "screen_tests.rs"]
mod tests;
