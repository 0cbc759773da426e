//! Screens as claudeless (a Claude Code simulator) draws them at 80×24.

use super::*;

fn rows(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

const SEP: &str =
    "────────────────────────────────────────────────────────────────────────────────";

fn idle_screen(above: &str) -> Vec<String> {
    rows(&format!(
        "\n ▐▛███▜▌   Claudeless 0.4.0\n\n{above}\n\n{SEP}\n❯\n{SEP}\n  ? for shortcuts\n"
    ))
}

#[test]
fn permission_dialog_lists_its_menu() {
    let view = parse(&rows(&format!(
        "❯ please deploy\n\n⏺ Deploying.\n\n⏺ Bash(echo deploying-now)\n  ⎿  Running…\n\n{SEP}\n \
         Bash command\n\n   echo deploying-now\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. Yes, \
         allow echo commands from this project\n   3. No\n\n Esc to cancel · Tab to amend\n"
    )));
    assert!(!view.is_idle());
    let dialog = view.dialog.expect("a dialog");
    assert_eq!(dialog.kind, DialogKind::Permission);
    assert_eq!(
        dialog.options,
        ["Yes", "Yes, allow echo commands from this project", "No"]
    );
    let subject = dialog.subject.expect("what it asks about");
    assert_eq!(
        (subject.tool, subject.input.as_str()),
        ("Bash", r#"{"command":"echo deploying-now"}"#)
    );
}

#[test]
fn an_edit_dialog_names_its_file() {
    let border = " ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌";
    let view = parse(&rows(&format!(
        "{SEP}\n Edit file\n src/main.rs\n{border}\n 1 -old\n 1 +new\n{border}\n Do you want to \
         make this edit to src/main.rs?\n ❯ 1. Yes\n   2. Yes, allow all edits during this \
         session\n   3. No\n\n Esc to cancel · Tab to amend\n"
    )));
    let subject = view.dialog.and_then(|d| d.subject).expect("a subject");
    assert_eq!(
        (subject.tool, subject.input.as_str()),
        ("Edit", r#"{"file_path":"src/main.rs"}"#)
    );
}

#[test]
fn a_dialog_still_being_drawn_is_not_read() {
    let view = parse(&rows(&format!(
        "{SEP}\n Bash command\n\n   echo deploying-now\n\n Do you want to proceed?\n ❯ 1. Yes\n"
    )));
    assert_eq!(view.dialog, None);
}

#[test]
fn question_dialog_lists_its_menu_and_question() {
    let view = parse(&rows(&format!(
        "{SEP}\n ☐ Database\n\nWhich database?\n\n❯ 1. Postgres\n     A server\n  2. SQLite ✔\n     \
         A file\n  3. Type something.\n{SEP}\n  4. Chat about this\n  Enter to select · Tab/Arrow \
         keys to navigate · Esc to cancel\n"
    )));
    let dialog = view.dialog.expect("a dialog");
    assert_eq!(dialog.kind, DialogKind::Question);
    assert_eq!(
        dialog.options,
        ["Postgres", "SQLite", "Type something.", "Chat about this"]
    );
    assert_eq!(dialog.heading.as_deref(), Some("Which database?"));
}

#[test]
fn plan_options_are_the_menu_only_not_the_plan_steps() {
    let border = " ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌";
    let view = parse(&rows(&format!(
        "{SEP}\n Ready to code?\n Here is Claude's plan:\n\n{border}\n # Add a cache\n\n 1. Add a \
         cache table\n 2. Read through the cache\n 3. Expire entries hourly\n{border}\n\n❯ 1. Yes, \
         clear context and auto-accept edits (shift+tab)\n  2. Yes, auto-accept edits\n  3. Yes, \
         manually approve edits\n  4. Type here to tell Claude what to change\n{SEP}\n\n  ctrl-g \
         to edit in VS Code · ~/.claude/plans/plan.md\n  Enter to select · ↑/↓ to navigate · Esc \
         to cancel\n"
    )));
    let dialog = view.dialog.expect("a dialog");
    assert_eq!(dialog.kind, DialogKind::Plan);
    assert_eq!(
        dialog.options,
        [
            "Yes, clear context and auto-accept edits (shift+tab)",
            "Yes, auto-accept edits",
            "Yes, manually approve edits",
            "Type here to tell Claude what to change"
        ]
    );
}

#[test]
fn a_numbered_list_in_an_answer_is_no_dialog() {
    let view = parse(&idle_screen("⏺ Steps:\n  1. Build\n  2. Test"));
    assert_eq!(view.dialog, None);
    assert!(view.is_idle());
    assert_eq!(view.error, None);
}

#[test]
fn the_input_box_alone_is_idle_and_a_spinner_is_busy() {
    assert!(parse(&idle_screen("❯ hello\n\n⏺ Ready.")).is_idle());
    let thinking = idle_screen("❯ hello\n\n✶ Pondering…");
    let view = parse(&thinking);
    assert!(view.input_box && view.busy && !view.is_idle());
}

#[test]
fn a_failed_answer_is_read_as_an_error() {
    let view = parse(&idle_screen(
        "❯ rate please\n\n⏺ Error: Rate limited. Retry after 30 seconds.",
    ));
    assert_eq!(
        view.error.as_deref(),
        Some("Error: Rate limited. Retry after 30 seconds.")
    );
    // An earlier error answered since is not the last answer.
    let view = parse(&idle_screen(
        "⏺ Error: API key expired\n\n❯ again\n\n⏺ Ready.",
    ));
    assert_eq!(view.error, None);
}
