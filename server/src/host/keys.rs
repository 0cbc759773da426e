//! Key names (docs/coop-protocol.md, "Key names") to the bytes a terminal sends, and signal
//! names to signals.

use nix::sys::signal::Signal;
use protocol::coop::SignalSpec;
use std::str::FromStr;

/// The bytes for one key name (case-insensitive), or `None` for an unknown name. Arrows are
/// always `ESC [ x`, whatever cursor-key mode the program asked for, as coop sends them.
pub fn key_bytes(name: &str) -> Option<Vec<u8>> {
    let lower = name.trim().to_ascii_lowercase();
    let bytes: &[u8] = match lower.as_str() {
        "enter" | "return" => b"\r",
        "tab" => b"\t",
        "escape" | "esc" => b"\x1b",
        "backspace" => b"\x7f",
        "delete" | "del" => b"\x1b[3~",
        "space" => b" ",
        "up" => b"\x1b[A",
        "down" => b"\x1b[B",
        "right" => b"\x1b[C",
        "left" => b"\x1b[D",
        "home" => b"\x1b[H",
        "end" => b"\x1b[F",
        "pageup" | "page_up" | "pgup" => b"\x1b[5~",
        "pagedown" | "page_down" | "pgdn" => b"\x1b[6~",
        "insert" => b"\x1b[2~",
        "f1" => b"\x1bOP",
        "f2" => b"\x1bOQ",
        "f3" => b"\x1bOR",
        "f4" => b"\x1bOS",
        "f5" => b"\x1b[15~",
        "f6" => b"\x1b[17~",
        "f7" => b"\x1b[18~",
        "f8" => b"\x1b[19~",
        "f9" => b"\x1b[20~",
        "f10" => b"\x1b[21~",
        "f11" => b"\x1b[23~",
        "f12" => b"\x1b[24~",
        other => return ctrl_bytes(other).map(|b| vec![b]),
    };
    Some(bytes.to_vec())
}

/// `ctrl-c`, `ctrl+c`, `ctrl_c`, `c-c`: the control character of a letter or of one of
/// `@ [ \ ] ^ _ ?`, and `ctrl-space` (NUL).
fn ctrl_bytes(name: &str) -> Option<u8> {
    let key = ["ctrl-", "ctrl+", "ctrl_", "control-", "c-"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))?;
    match key.as_bytes() {
        [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
        [c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c & 0x1f),
        [b'?'] => Some(0x7f),
        _ if key == "space" => Some(0),
        _ => None,
    }
}

/// Concatenates the bytes of several keys; `Err` names the first unknown key.
pub fn keys_bytes(names: &[String]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for name in names {
        out.extend(key_bytes(name).ok_or_else(|| name.clone())?);
    }
    Ok(out)
}

/// Parses `SIGINT`, `INT`, `int`, `2` or the number 2.
pub fn parse_signal(spec: &SignalSpec) -> Option<Signal> {
    match spec {
        SignalSpec::Number(n) => Signal::try_from(*n).ok(),
        SignalSpec::Name(name) => {
            let name = name.trim();
            if let Ok(n) = name.parse::<i32>() {
                return Signal::try_from(n).ok();
            }
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&full).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_bytes() {
        assert_eq!(key_bytes("Enter").unwrap(), b"\r");
        assert_eq!(key_bytes("ctrl-c").unwrap(), [3]);
        assert_eq!(key_bytes("CTRL+A").unwrap(), [1]);
        assert_eq!(key_bytes("ctrl_z").unwrap(), [26]);
        assert_eq!(key_bytes("c-d").unwrap(), [4]);
        assert_eq!(key_bytes("ctrl-[").unwrap(), [0x1b]);
        assert_eq!(key_bytes("ctrl-\\").unwrap(), [0x1c]);
        assert_eq!(key_bytes("ctrl-space").unwrap(), [0]);
        assert_eq!(key_bytes("up").unwrap(), b"\x1b[A");
        assert_eq!(key_bytes("page_up").unwrap(), b"\x1b[5~");
        assert_eq!(key_bytes("Page_Down").unwrap(), b"\x1b[6~");
        assert_eq!(key_bytes("f12").unwrap(), b"\x1b[24~");
        assert!(key_bytes("ctrl-1").is_none());
        assert!(key_bytes("ctrl-").is_none());
        assert!(key_bytes("hyper").is_none());
        let keys = vec!["a".to_owned()];
        assert_eq!(keys_bytes(&keys), Err("a".to_owned()));
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        let name = |s: &str| parse_signal(&SignalSpec::Name(s.to_owned()));
        assert_eq!(name("SIGINT"), Some(Signal::SIGINT));
        assert_eq!(name("term"), Some(Signal::SIGTERM));
        assert_eq!(name("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal(&SignalSpec::Number(1)), Some(Signal::SIGHUP));
        assert_eq!(name("NOPE"), None);
        assert_eq!(parse_signal(&SignalSpec::Number(999)), None);
    }
}
