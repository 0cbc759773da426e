//! Keys that work everywhere on the page, also inside the terminal (where every other key,
//! Esc and Tab included, belongs to the program):
//!
//! - **Ctrl+Shift+L** leaves the terminal: closes the session and puts the keyboard focus on
//!   its tile (its tooltip says so on the close button);
//! - **Ctrl+Shift+↓ / Ctrl+Shift+↑** open the next / previous session in the sidebar's order;
//! - **/** (outside text fields and the terminal) focuses the filter.
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
}

/// The command of a key press: `key` as `KeyboardEvent.key`, then Ctrl (or Cmd), Shift, Alt,
/// and whether the focus is in a text field or the terminal.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn command(key: &str, ctrl: bool, shift: bool, alt: bool, typing: bool) -> Option<Command> {
    if ctrl && shift && !alt {
        return match key {
            "L" | "l" => Some(Command::Leave),
            "ArrowDown" => Some(Command::Next),
            "ArrowUp" => Some(Command::Previous),
            _ => None,
        };
    }
    (key == "/" && !ctrl && !alt && !typing).then_some(Command::Filter)
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
        let Some(cmd) = command(&ev.key(), ctrl, ev.shift_key(), ev.alt_key(), typing) else {
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
    use leptos::prelude::GetUntracked;
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
        assert_eq!(command("L", true, true, false, true), Some(Command::Leave));
        assert_eq!(
            command("ArrowDown", true, true, false, true),
            Some(Command::Next)
        );
        assert_eq!(
            command("ArrowUp", true, true, false, false),
            Some(Command::Previous)
        );
        assert_eq!(
            command("l", true, false, false, false),
            None,
            "Ctrl+L clears a shell"
        );
        assert_eq!(command("ArrowDown", false, true, false, false), None);
        assert_eq!(
            command("/", false, false, false, false),
            Some(Command::Filter)
        );
        assert_eq!(
            command("/", false, false, false, true),
            None,
            "typed into a field"
        );
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
