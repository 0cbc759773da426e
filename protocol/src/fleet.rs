//! What hub replicas share through NATS JetStream key-value buckets (docs/scaling.md,
//! "Replicas sharing one fleet"). One bucket holds a [`SessionRecord`] per session id, one a
//! [`TokenRecord`] per registration-token hash, one a [`LaunchRecord`] per launch id.

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
    /// SHA-256 of the per-launch registration token that registered it, if one did: on
    /// every replica only that token may heartbeat or deregister it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrant: Option<String>,
    /// HTTP or NATS.
    pub transport: RecordTransport,
    /// When the session first registered, epoch ms.
    pub registered_at_ms: u64,
    /// The fleet's order: registration time in epoch µs, strictly increasing on the replica
    /// that registered it; every replica lists sessions by it, then by id.
    pub order_us: u64,
    /// Last registration, heartbeat or announce, epoch ms.
    pub seen_at_ms: u64,
    /// The replica that wrote this version (so it can recognise its own write in the watch).
    pub origin: String,
    /// That replica's write counter for this version.
    pub origin_seq: u64,
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
