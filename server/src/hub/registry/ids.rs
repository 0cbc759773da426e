//! Session id rules: 1–128 characters of `[A-Za-z0-9._:-]`, and never a name
//! that a fixed route uses in the id's position.

/// Longest accepted id, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Names of fixed routes that sit where an id goes (`/api/v1/sessions/launch`, `/ws/mux`).
pub const RESERVED_IDS: [&str; 2] = ["launch", "mux"];

/// Checks an id; the error says what is wrong, for a person.
pub fn validate(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "invalid session id: must be 1 to {MAX_ID_LEN} characters"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(format!(
            "invalid session id: character {bad:?} is not allowed (use A-Z a-z 0-9 . _ : -)"
        ));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(format!("invalid session id: {id:?} is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_hostnames_and_prefixed_ids() {
        for id in [
            "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
            "pod-7.ns",
            "a:b_c",
            "x",
            &"a".repeat(MAX_ID_LEN),
        ] {
            assert_eq!(validate(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn rejects_empty_long_odd_and_reserved_ids() {
        for id in ["", "a/b", "a b", "a*", "a>", "é", "launch", "mux"] {
            assert!(validate(id).is_err(), "{id:?} should be rejected");
        }
        assert!(validate(&"a".repeat(MAX_ID_LEN + 1)).is_err());
    }
}
