//! What hub replicas share through NATS JetStream key-value buckets (docs/scaling.md,
//! "Replicas sharing one fleet"). One bucket holds a [`SessionRecord`] per session id, one a
//! [`TokenRecord`] per registration-token hash, one a [`LaunchRecord`] per launch id. Every
//! value is wrapped in a [`Versioned`]: the change's [`Clock`], who wrote it, and the value, or
//! none for a delete (a tombstone, so that a stale replica cannot bring the value back).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the session reached the fleet, which decides how its liveness is judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RecordTransport {
    /// Registered over HTTP: health checks judge it.
    Http,
    /// Discovered on NATS under `prefix`: announces judge it.
    Nats {
        /// The subject prefix it announced under.
        prefix: String,
    },
}

/// One session of the fleet, the value of key `{id}` in the sessions bucket. It holds the
/// upstream's token, so the NATS account that can read the bucket must be protected
/// (docs/security.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id (also the key).
    pub id: String,
    /// Upstream base URL without a trailing `/` (empty for a url-less NATS session).
    pub url: String,
    /// Bearer token the hub sends upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Free-form registration metadata.
    #[serde(default)]
    pub metadata: Value,
    /// HTTP or NATS.
    pub transport: RecordTransport,
    /// When the session first registered, epoch ms.
    pub registered_at_ms: u64,
    /// The fleet's order: registration time in epoch µs, strictly increasing on the replica
    /// that registered it; every replica lists sessions by it, then by id.
    pub order_us: u64,
    /// Last registration, heartbeat or announce, epoch ms.
    pub seen_at_ms: u64,
}

/// A per-launch registration token, the value of key `sha256(token)` in the tokens bucket
/// (the token itself is never stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The session the token is bound to, once it registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// Which session a launch became, the value of key `{launch_id}` in the launches bucket;
/// written create-only, so a launch maps to exactly one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRecord {
    /// The session id the launch registered as.
    pub session: String,
}

/// A claim of an inbox item in the `answers` or `notified` bucket: the first one the bucket
/// took is the one (docs/architecture.md, "The inbox").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// When it was claimed, in epoch milliseconds.
    pub at_ms: u64,
    /// The replica that claimed it.
    pub replica: String,
}

/// When a replicated change was made: a hybrid logical clock (docs/scaling.md, "The conflict
/// rule"). Ordered by `us`, then `n`, then `node`, then `after`: the newer change wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Clock {
    /// Wall-clock time of the change in epoch µs, never behind any clock the writer had seen.
    pub us: u64,
    /// Changes within the same `us`, counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: u32,
    /// The replica whose clock this is (ties between replicas are broken by it).
    #[serde(default)]
    pub node: String,
    /// Set on an eviction: it is ordered right after the value it judged dead, so that any
    /// later change of that value (a heartbeat through another replica) wins over it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A value of a replicated bucket with the clock of its change; `value` is absent for a
/// delete (a tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// When the change was made.
    pub clock: Clock,
    /// The replica that wrote it (an eviction keeps the clock of what it judged, so the writer
    /// is named apart).
    pub by: String,
    /// The value; `None` when the key was deleted.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
}
