//! The JetStream buckets credentials are shared through (docs/scaling.md, "Credentials
//! across replicas"): their names, how an account name becomes a key, and opening them on a
//! 2.9 server.

use crate::nats::kv::open_bucket;
use async_nats::jetstream::{self, kv};
use std::time::Duration;

/// Name of the bucket of accounts and their secrets, after the `--nats-kv-prefix`.
pub const ACCOUNTS_SUFFIX: &str = "credentials";
/// Name of the bucket of refresh leases (its `max_age` is the lease's lifetime), after the
/// `--nats-kv-prefix`.
pub const LEASES_SUFFIX: &str = "credential-leases";
/// Limit of one JetStream call; a slower one counts as NATS being unavailable.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Both buckets of one connection.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// `{prefix}-`[`ACCOUNTS_SUFFIX`].
    pub accounts: kv::Store,
    /// `{prefix}-`[`LEASES_SUFFIX`].
    pub leases: kv::Store,
}

/// The key of an account: its name when that is a valid key, else `x.` and its hex bytes.
pub fn key_of(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        name.to_owned()
    } else {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x.{hex}")
    }
}

/// Opens both buckets `{prefix}-…`, creating them when missing.
pub async fn open(
    js: &jetstream::Context,
    prefix: &str,
    lease_ttl: Duration,
) -> Result<Buckets, String> {
    Ok(Buckets {
        accounts: open_bucket(
            js,
            &format!("{prefix}-{ACCOUNTS_SUFFIX}"),
            Duration::ZERO,
            OP_TIMEOUT,
        )
        .await?,
        // A lease nobody renews disappears after its lifetime: a dead holder blocks nobody.
        leases: open_bucket(
            js,
            &format!("{prefix}-{LEASES_SUFFIX}"),
            lease_ttl,
            OP_TIMEOUT,
        )
        .await?,
    })
}

#[cfg(test)]
mod tests {
    use super::key_of;

    #[test]
    fn keys_are_names_or_hex() {
        assert_eq!(key_of("work-1_a"), "work-1_a");
        assert_eq!(key_of("a b"), "x.612062");
        assert_eq!(key_of("a.b"), "x.612e62");
    }
}
