//! Opening a JetStream key-value bucket on any server from 2.9 on (docs/scaling.md): the
//! fleet's and the credentials' buckets are made the same way.

use async_nats::jetstream::{self, kv};
use std::time::Duration;

/// Opens the bucket `name`, creating it when missing with one value per key and `max_age`
/// (zero: values do not expire). Each JetStream call is bounded by `timeout`.
///
/// The stream a bucket is gets made here with the key-value conventions rather than by
/// async-nats's `create_key_value`, which first reads the account info, whose 2.9 shape it
/// cannot parse (no `reserved_*` fields); `get_key_value` then opens it as a bucket.
pub async fn open_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
    timeout: Duration,
) -> Result<kv::Store, String> {
    let bounded = |what: &str, e: Option<String>| match e {
        Some(e) => format!("bucket {name}: {what}: {e}"),
        None => format!("bucket {name}: {what}: timed out"),
    };
    if let Ok(Ok(store)) = tokio::time::timeout(timeout, js.get_key_value(name)).await {
        return Ok(store);
    }
    let config = jetstream::stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_messages: -1,
        max_bytes: -1,
        max_message_size: -1,
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
    match tokio::time::timeout(timeout, js.get_or_create_stream(config)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(bounded("create", Some(e.to_string()))),
        Err(_) => return Err(bounded("create", None)),
    }
    match tokio::time::timeout(timeout, js.get_key_value(name)).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(e)) => Err(bounded("open", Some(e.to_string()))),
        Err(_) => Err(bounded("open", None)),
    }
}
