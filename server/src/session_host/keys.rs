//! Key names (docs/coop-protocol.md, "Key names") to the bytes a terminal sends, and signal
//! names to signals.

use nix::sys::signal::Signal;
use protocol::coop::SignalSpec;
use std::str::FromStr;

/// The bytes for one key name (case-insensitive), or `None` for an unknown name.
/// `app_cursor` selects the `ESC O` arrow form that full-screen programs ask for.
pub fn key_bytes(name: &str, app_cursor: bool) -> Option<Vec<u8>> {
    let lower = name.trim().to_ascii_lowercase();
    let arrow = |c: u8| -> Vec<u8> {
        if app_cursor {
            vec![0x1b, b'O', c]
        } else {
            vec![0x1b, b'[', c]
        }
    };
    let bytes: Vec<u8> = match lower.as_str() {
        "enter" | "return" => b"\r".to_vec(),
        "tab" => b"\t".to_vec(),
        "escape" | "esc" => b"\x1b".to_vec(),
        "backspace" => b"\x7f".to_vec(),
        "delete" | "del" => b"\x1b[3~".to_vec(),
        "space" => b" ".to_vec(),
        "up" => arrow(b'A'),
        "down" => arrow(b'B'),
        "right" => arrow(b'C'),
        "left" => arrow(b'D'),
        "home" => b"\x1b[H".to_vec(),
        "end" => b"\x1b[F".to_vec(),
        "pageup" => b"\x1b[5~".to_vec(),
        "pagedown" => b"\x1b[6~".to_vec(),
        "insert" => b"\x1b[2~".to_vec(),
        "f1" => b"\x1bOP".to_vec(),
        "f2" => b"\x1bOQ".to_vec(),
        "f3" => b"\x1bOR".to_vec(),
        "f4" => b"\x1bOS".to_vec(),
        "f5" => b"\x1b[15~".to_vec(),
        "f6" => b"\x1b[17~".to_vec(),
        "f7" => b"\x1b[18~".to_vec(),
        "f8" => b"\x1b[19~".to_vec(),
        "f9" => b"\x1b[20~".to_vec(),
        "f10" => b"\x1b[21~".to_vec(),
        "f11" => b"\x1b[23~".to_vec(),
        "f12" => b"\x1b[24~".to_vec(),
        other => {
            let letter = other.strip_prefix("ctrl-")?;
            match letter.as_bytes() {
                [c @ b'a'..=b'z'] => vec![c - b'a' + 1],
                _ => return None,
            }
        }
    };
    Some(bytes)
}

/// Concatenates the bytes of several keys; `Err` names the first unknown key.
pub fn keys_bytes(names: &[String], app_cursor: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for name in names {
        out.extend(key_bytes(name, app_cursor).ok_or_else(|| name.clone())?);
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
        assert_eq!(key_bytes("Enter", false).unwrap(), b"\r");
        assert_eq!(key_bytes("ctrl-c", false).unwrap(), [3]);
        assert_eq!(key_bytes("ctrl-z", false).unwrap(), [26]);
        assert_eq!(key_bytes("up", false).unwrap(), b"\x1b[A");
        assert_eq!(key_bytes("up", true).unwrap(), b"\x1bOA");
        assert_eq!(key_bytes("f12", false).unwrap(), b"\x1b[24~");
        assert!(key_bytes("ctrl-1", false).is_none());
        assert!(key_bytes("hyper", false).is_none());
        let keys = vec!["a".to_owned()];
        assert_eq!(keys_bytes(&keys, false), Err("a".to_owned()));
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
