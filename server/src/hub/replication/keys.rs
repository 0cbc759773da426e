//! The one key codec of every replicated bucket. JetStream keys allow `[-/_=.A-Za-z0-9]` with
//! no empty `.`-separated token; ids and names may hold anything, so every byte outside
//! `[-_A-Za-z0-9]` is written `=XX` (hex). A session id `pod-7.ns` is the key `pod-7=2Ens`.

/// The bucket key of an id (a session id, token hash, launch id or account name).
pub fn encode(id: &str) -> String {
    let mut key = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

/// The id a key was made from ([`encode`] reversed); `None` for a key it cannot make.
pub fn decode(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_become_valid_keys_and_back() {
        assert_eq!(encode("pod-7.ns"), "pod-7=2Ens");
        assert_eq!(encode("a:b_c"), "a=3Ab_c");
        assert_eq!(encode("..x"), "=2E=2Ex");
        assert_eq!(encode("work 1"), "work=201");
        assert_ne!(encode("a.b"), encode("a=2Eb"));
        for id in ["pod-7.ns", "a:b_c", "..x", "plain", "work 1", "é/ü", "a=b"] {
            assert_eq!(decode(&encode(id)).as_deref(), Some(id));
        }
        assert_eq!(decode("bad=Z1"), None);
        assert_eq!(decode("cut=4"), None);
    }
}
