//! Keys that work everywhere on the page, also inside the terminal (where every other key,
//! Esc and Tab included, belongs to the program):
//!
//! - **Ctrl+Shift+L** leaves the terminal: closes the session and puts the keyboard focus on
//!   its tile (its tooltip says so on the close button);
//! - **Ctrl+Shift+↓ / Ctrl+Shift+↑** open the next / previous session in the sidebar's order;
//! - **/** (outside text fields and the terminal) focuses the filter;
//! - **i** (outside text fields and the terminal) opens or closes the inbox; while it is open,
//!   **1**–**9** pick an option of the selected item, **y** / **n** allow or deny a
//!   permission, **↓ / ↑** (or **j** / **k**) select the next / previous item and **a** turns
//!   "answer all identical prompts" on or off.
//!
//! They are read in the capture phase, before xterm.js sees them.

#[cfg(feature = "hydrate")]
use super::Ui;

/// The documented key that leaves the terminal, as tooltips show it.
pub const LEAVE_KEY: &str = "Ctrl+Shift+L";

/// What a key press asks for.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Leave,
    Next,
    Previous,
    Filter,
    Inbox,
    /// A key that may answer the selected inbox item (`1`–`9`, `y`, `n`).
    Answer(char),
    InboxNext,
    InboxPrevious,
    AllIdentical,
}

/// The command of a key press: `key` as `KeyboardEvent.key`, then Ctrl (or Cmd), Shift, Alt,
/// whether the focus is in a text field or the terminal, and whether the inbox is open.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn command(
    key: &str,
    ctrl: bool,
    shift: bool,
    alt: bool,
    typing: bool,
    inbox: bool,
) -> Option<Command> {
    if ctrl && shift && !alt {
        return match key {
            "L" | "l" => Some(Command::Leave),
            "ArrowDown" => Some(Command::Next),
            "ArrowUp" => Some(Command::Previous),
            _ => None,
        };
    }
    if ctrl || alt || typing {
        return None;
    }
    match key {
        "/" => Some(Command::Filter),
        "i" => Some(Command::Inbox),
        _ if !inbox => None,
        "y" | "n" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" => {
            key.chars().next().map(Command::Answer)
        }
        "ArrowDown" | "j" => Some(Command::InboxNext),
        "ArrowUp" | "k" => Some(Command::InboxPrevious),
        "a" => Some(Command::AllIdentical),
        _ => None,
    }
}

/// The session after (or before) `current` in `order`, wrapping around; the first (or last)
/// when none is open.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn step(order: &[String], current: Option<&str>, forward: bool) -> Option<String> {
    let n = order.len();
    if n == 0 {
        return None;
    }
    let at = current.and_then(|c| order.iter().position(|id| id == c));
    let next = match (at, forward) {
        (Some(i), true) => (i + 1) % n,
        (Some(i), false) => (i + n - 1) % n,
        (None, true) => 0,
        (None, false) => n - 1,
    };
    Some(order[next].clone())
}

/// Installs the capture-phase key listener until the dashboard unmounts.
#[cfg(feature = "hydrate")]
pub fn listen(ui: Ui) {
    use crate::handlers::{own_until_cleanup, Listener};
    use leptos::prelude::GetUntracked;
    use wasm_bindgen::JsCast;
    use web_sys::KeyboardEvent;

    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let on_key = move |ev: KeyboardEvent| {
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| {
                matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    || el.closest(".xterm").ok().flatten().is_some()
            });
        let ctrl = ev.ctrl_key() || ev.meta_key();
        let inbox = ui.inbox_open.get_untracked();
        let Some(cmd) = command(&ev.key(), ctrl, ev.shift_key(), ev.alt_key(), typing, inbox)
        else {
            return;
        };
        ev.prevent_default();
        ev.stop_propagation();
        run(ui, cmd);
    };
    own_until_cleanup(vec![Listener::capture(&doc, "keydown", on_key)]);
}

#[cfg(feature = "hydrate")]
fn run(ui: Ui, cmd: Command) {
    use leptos::prelude::{GetUntracked, Update};
    match cmd {
        Command::Leave => {
            let Some(id) = ui.focused.get_untracked() else {
                return;
            };
            ui.close();
            // The tile comes back on the next render; focus it then.
            leptos::prelude::request_animation_frame(move || focus_selector(&tile_selector(&id)));
        }
        Command::Next | Command::Previous => {
            let order: Vec<String> = ui.ordered().into_iter().map(|v| v.id).collect();
            let current = ui.focused.get_untracked();
            if let Some(id) = step(&order, current.as_deref(), cmd == Command::Next) {
                ui.open(&id);
            }
        }
        Command::Filter => focus_selector("#session-filter"),
        Command::Inbox => super::inbox::toggle(ui),
        Command::Answer(key) => super::inbox::key(ui, key.encode_utf8(&mut [0; 4])),
        Command::InboxNext => ui.feed.fleet.inbox.step(1),
        Command::InboxPrevious => ui.feed.fleet.inbox.step(-1),
        Command::AllIdentical => ui.inbox_all.update(|all| *all = !*all),
    }
}

#[cfg(feature = "hydrate")]
fn tile_selector(id: &str) -> String {
    // Ids are `[A-Za-z0-9._:-]` (checked by the hub), safe inside a quoted attribute value.
    format!(".grid .tile[data-session=\"{id}\"]")
}

#[cfg(feature = "hydrate")]
fn focus_selector(selector: &str) {
    use wasm_bindgen::JsCast;
    let el = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(selector).ok().flatten())
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(el) = el {
        let _ = el.focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_commands_only_with_their_modifiers() {
        let cmd = |key, ctrl, shift, typing| command(key, ctrl, shift, false, typing, false);
        assert_eq!(cmd("L", true, true, true), Some(Command::Leave));
        assert_eq!(cmd("ArrowDown", true, true, true), Some(Command::Next));
        assert_eq!(cmd("ArrowUp", true, true, false), Some(Command::Previous));
        assert_eq!(cmd("l", true, false, false), None, "Ctrl+L clears a shell");
        assert_eq!(cmd("ArrowDown", false, true, false), None);
        assert_eq!(cmd("/", false, false, false), Some(Command::Filter));
        assert_eq!(cmd("/", false, false, true), None, "typed into a field");
    }

    #[test]
    fn inbox_keys_answer_only_while_it_is_open_and_nothing_is_typed() {
        assert_eq!(
            command("i", false, false, false, false, false),
            Some(Command::Inbox)
        );
        assert_eq!(command("i", false, false, false, true, false), None);
        assert_eq!(command("i", true, false, false, false, false), None);
        assert_eq!(command("y", false, false, false, false, false), None);
        assert_eq!(command("1", false, false, false, false, false), None);
        let open = |key| command(key, false, false, false, false, true);
        assert_eq!(open("y"), Some(Command::Answer('y')));
        assert_eq!(open("n"), Some(Command::Answer('n')));
        assert_eq!(open("9"), Some(Command::Answer('9')));
        assert_eq!(open("0"), None);
        assert_eq!(open("j"), Some(Command::InboxNext));
        assert_eq!(open("ArrowUp"), Some(Command::InboxPrevious));
        assert_eq!(open("a"), Some(Command::AllIdentical));
        assert_eq!(open("i"), Some(Command::Inbox), "closes it");
        assert_eq!(
            command("y", false, false, false, true, true),
            None,
            "typed into the answer field"
        );
        assert_eq!(command("y", false, false, true, false, true), None, "Alt+y");
    }

    #[test]
    fn stepping_wraps_and_starts_at_either_end() {
        let order: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(step(&order, Some("a"), true).as_deref(), Some("b"));
        assert_eq!(step(&order, Some("c"), true).as_deref(), Some("a"));
        assert_eq!(step(&order, Some("a"), false).as_deref(), Some("c"));
        assert_eq!(step(&order, None, true).as_deref(), Some("a"));
        assert_eq!(step(&order, None, false).as_deref(), Some("c"));
        assert_eq!(step(&order, Some("gone"), true).as_deref(), Some("a"));
        assert_eq!(step(&[], None, true), None);
    }
}
