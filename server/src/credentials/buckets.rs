//! The JetStream buckets credentials are shared through (docs/scaling.md, "Credentials
//! across replicas"): their names, how an account name becomes a key, and opening them on a
//! 2.9 server.

use async_nats::jetstream::{self, kv};
use std::time::Duration;

/// The bucket of accounts and their secrets.
pub const ACCOUNTS_BUCKET: &str = "coopmux-credentials";
/// The bucket of refresh leases; its `max_age` is the lease's lifetime.
pub const LEASES_BUCKET: &str = "coopmux-credential-leases";
/// Limit of one JetStream call; a slower one counts as NATS being unavailable.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Both buckets of one connection.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// [`ACCOUNTS_BUCKET`].
    pub accounts: kv::Store,
    /// [`LEASES_BUCKET`].
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

/// Opens both buckets, creating them when missing.
pub async fn open(js: &jetstream::Context, lease_ttl: Duration) -> Result<Buckets, String> {
    Ok(Buckets {
        accounts: open_bucket(js, ACCOUNTS_BUCKET, Duration::ZERO).await?,
        // A lease nobody renews disappears after its lifetime: a dead holder blocks nobody.
        leases: open_bucket(js, LEASES_BUCKET, lease_ttl).await?,
    })
}

async fn open_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> Result<kv::Store, String> {
    if let Ok(Ok(store)) = tokio::time::timeout(OP_TIMEOUT, js.get_key_value(name)).await {
        return Ok(store);
    }
    // The stream a KV bucket is, made directly: async-nats's `create_key_value` first reads
    // the account info, whose 2.9 shape it cannot parse (no `reserved_*` fields).
    let config = jetstream::stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        // The duplicate window may not exceed max_age (zero: the server's default).
        duplicate_window: if max_age.is_zero() {
            Duration::ZERO
        } else {
            max_age.min(Duration::from_secs(120))
        },
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    let created = tokio::time::timeout(OP_TIMEOUT, js.get_or_create_stream(config)).await;
    match created {
        Ok(Ok(_)) => match tokio::time::timeout(OP_TIMEOUT, js.get_key_value(name)).await {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(format!("bucket {name}: {e}")),
            Err(_) => Err(format!("bucket {name}: timed out")),
        },
        Ok(Err(e)) => Err(format!("bucket {name}: {e}")),
        Err(_) => Err(format!("bucket {name}: timed out")),
    }
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
