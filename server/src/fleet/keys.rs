//! Bucket keys. JetStream keys allow `[-/_=.A-Za-z0-9]` with no empty `.`-separated token;
//! session ids also allow `:` and any dots, so `.`, `:` and `=` are escaped as `=XX`.

/// The bucket key of a session id, launch id or token hash.
pub fn kv_key(id: &str) -> String {
    let mut key = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '.' => key.push_str("=2E"),
            ':' => key.push_str("=3A"),
            '=' => key.push_str("=3D"),
            c => key.push(c),
        }
    }
    key
}

/// The id a key was made from ([`kv_key`] reversed); `None` for a key it cannot make.
pub fn id_of_key(key: &str) -> Option<String> {
    let mut id = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find('=') {
        id.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        id.push(match code {
            "2E" => '.',
            "3A" => ':',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    id.push_str(rest);
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_valid_keys() {
        assert_eq!(kv_key("pod-7.ns"), "pod-7=2Ens");
        assert_eq!(kv_key("a:b_c"), "a=3Ab_c");
        assert_eq!(kv_key("..x"), "=2E=2Ex");
        assert_ne!(kv_key("a.b"), kv_key("a=2Eb"));
        for id in ["pod-7.ns", "a:b_c", "..x", "plain"] {
            assert_eq!(id_of_key(&kv_key(id)).as_deref(), Some(id));
        }
    }
}
