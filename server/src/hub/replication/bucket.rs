//! Opening a JetStream key-value bucket on every supported server (docs/scaling.md, "NATS
//! versions"): 2.10 and later through the client's standard `create_key_value`; 2.9, whose
//! account info async-nats cannot parse (no `reserved_*` fields), by making the bucket's stream
//! with the key-value conventions by hand. `get_key_value` opens it either way.

use async_nats::jetstream::{self, kv};
use std::time::Duration;

/// The client's error behind a refusal (each JetStream call has its own error type).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a bucket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The server answered, without JetStream: nothing can be shared through it.
    #[error("the NATS server has no JetStream")]
    NoJetStream,
    /// The server did not answer in time.
    #[error("bucket {0}: timed out")]
    TimedOut(String),
    /// The server refused.
    #[error("bucket {bucket}: {what}: {reason}")]
    Refused {
        /// The bucket.
        bucket: String,
        /// What was asked.
        what: &'static str,
        /// The server's or the client's word.
        #[source]
        reason: Cause,
    },
}

/// Whether the server serves JetStream: its API answers, where a plain server has no
/// responder for it.
pub async fn has_jetstream(
    client: &async_nats::Client,
    timeout: Duration,
) -> Result<(), BucketError> {
    let request = async_nats::Request::new().timeout(Some(timeout));
    match client.send_request("$JS.API.INFO", request).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            Err(BucketError::NoJetStream)
        }
        Err(_) => Err(BucketError::TimedOut("$JS.API.INFO".to_owned())),
    }
}

/// Opens the bucket `name`, creating it when missing with one value per key and `max_age`
/// (zero: values do not expire). Each JetStream call is bounded by `timeout`.
pub async fn open(
    client: &async_nats::Client,
    name: &str,
    max_age: Duration,
    timeout: Duration,
) -> Result<kv::Store, BucketError> {
    let js = jetstream::new(client.clone());
    let bounded =
        |what: &'static str,
         result: Result<Result<kv::Store, Cause>, tokio::time::error::Elapsed>| {
            match result {
                Ok(Ok(store)) => Ok(store),
                Ok(Err(reason)) => Err(BucketError::Refused {
                    bucket: name.to_owned(),
                    what,
                    reason,
                }),
                Err(_) => Err(BucketError::TimedOut(name.to_owned())),
            }
        };
    if let Ok(Ok(store)) = tokio::time::timeout(timeout, js.get_key_value(name)).await {
        return Ok(store);
    }
    if parses_account_info(&client.server_info().version) {
        let config = kv::Config {
            bucket: name.to_owned(),
            history: 1,
            max_age,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let create = async { js.create_key_value(config).await.map_err(Cause::from) };
        return bounded("create", tokio::time::timeout(timeout, create).await);
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
    let create = async {
        js.get_or_create_stream(config)
            .await
            .map(drop)
            .map_err(Cause::from)
    };
    match tokio::time::timeout(timeout, create).await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            return Err(BucketError::Refused {
                bucket: name.to_owned(),
                what: "create",
                reason,
            })
        }
        Err(_) => return Err(BucketError::TimedOut(name.to_owned())),
    }
    let get = async { js.get_key_value(name).await.map_err(Cause::from) };
    bounded("open", tokio::time::timeout(timeout, get).await)
}

/// Whether a server of this version sends the account info async-nats reads (2.10 and later).
fn parses_account_info(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

#[cfg(test)]
mod tests {
    use super::parses_account_info;

    #[test]
    fn versions_from_2_10_take_the_standard_path() {
        assert!(!parses_account_info("2.9.10"));
        assert!(parses_account_info("2.10.0"));
        assert!(parses_account_info("2.15.1"));
        assert!(parses_account_info("3.0.0"));
        assert!(!parses_account_info(""));
    }
}
