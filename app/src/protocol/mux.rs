//! The hub's REST shapes and the `/ws/mux` event stream (reference §2, §5, §7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"running"` while the mux serves.
    pub status: String,
    /// Number of registered sessions.
    pub session_count: usize,
}

/// The error envelope every rejection uses: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error itself.
    pub error: ErrorBody,
}

/// Code and human-readable message of an [`ErrorEnvelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code such as `BAD_REQUEST` or `SESSION_NOT_FOUND`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// One session in the `sessions` snapshot of `/ws/mux`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// Upstream base URL.
    pub url: String,
    /// Cached agent state, if a status was ever read.
    pub state: Option<String>,
    /// Free-form metadata given at registration.
    #[serde(default)]
    pub metadata: Value,
}

/// Messages the server sends on `/ws/mux`, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum MuxEvent {
    /// Snapshot of every session, sent on connect.
    #[serde(rename = "sessions")]
    Sessions {
        /// All registered sessions.
        sessions: Vec<SessionSummary>,
    },
    /// A session registered.
    #[serde(rename = "session:online")]
    SessionOnline {
        /// Session id.
        session: String,
        /// Upstream base URL.
        url: String,
        /// Registration metadata.
        #[serde(default)]
        metadata: Value,
    },
    /// A session was removed.
    #[serde(rename = "session:offline")]
    SessionOffline {
        /// Session id.
        session: String,
    },
    /// An error caused by a client message.
    #[serde(rename = "error")]
    Error {
        /// What went wrong.
        message: String,
    },
}
