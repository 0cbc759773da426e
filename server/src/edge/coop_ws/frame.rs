//! Encoding of the frames a `/ws` connection sends: events with the client's `request_id`
//! echoed, `error` events, and the hand-built `pty` frame of the hot path.

use base64::Engine as _;
use protocol::coop::{Correlated, WsEvent};
use serde_json::Value;

/// Room for the fixed part of a `pty` frame around its base64 data.
const PTY_FRAME_OVERHEAD_BYTES: usize = 64; // bytes

/// Encodes an event, with the client's `request_id` unchanged when it gave one.
pub fn encode(event: &WsEvent, request_id: Option<&Value>) -> String {
    let message = Correlated {
        message: event,
        request_id: request_id.cloned(),
    };
    // Through a `Value`: its `Display` is compiled (optimised) inside serde_json, whereas a
    // generic `to_string` would escape a multi-megabyte replay with this crate's own code,
    // which debug builds leave unoptimised. Serialising these types cannot fail.
    serde_json::to_value(&message)
        .map(|value| value.to_string())
        .unwrap_or_default()
}

/// An `error` event as coop sends them, with the client's `request_id` when it gave one.
pub fn error(code: &str, message: impl Into<String>, request_id: Option<&Value>) -> String {
    let event = WsEvent::Error {
        code: code.to_owned(),
        message: message.into(),
    };
    encode(&event, request_id)
}

/// A `pty` frame for `data` starting at absolute `offset`.
///
/// Built by hand rather than through [`WsEvent::Pty`]: this is the hot path, base64 needs no
/// JSON escaping, and the data is encoded straight into the frame without a copy.
pub fn pty(data: &[u8], offset: u64) -> String {
    let mut frame = String::with_capacity(data.len().div_ceil(3) * 4 + PTY_FRAME_OVERHEAD_BYTES);
    frame.push_str(r#"{"event":"pty","data":""#);
    base64::engine::general_purpose::STANDARD.encode_string(data, &mut frame);
    frame.push_str(r#"","offset":"#);
    frame.push_str(&offset.to_string());
    frame.push('}');
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pty_frames_match_the_typed_event() {
        let frame: WsEvent = serde_json::from_str(&pty(b"hi\x1b[0m", 42)).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(b"hi\x1b[0m");
        assert_eq!(frame, WsEvent::Pty { data, offset: 42 });
    }

    #[test]
    fn request_ids_are_echoed_as_given() {
        let id = json!({"nested": [1, null]});
        let frame: Value = serde_json::from_str(&encode(&WsEvent::Pong, Some(&id))).unwrap();
        assert_eq!(frame, json!({"event": "pong", "request_id": id}));
        let frame: Value = serde_json::from_str(&error("BUSY", "later", None)).unwrap();
        assert_eq!(
            frame,
            json!({"event": "error", "code": "BUSY", "message": "later"})
        );
    }
}
