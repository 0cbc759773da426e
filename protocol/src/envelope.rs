//! The error envelope `{"error":{"code","message"}}`: coop's, which the hub answers with too
//! (docs/coop-protocol.md), so one type serves the session host, the hub and their clients.

use serde::{Deserialize, Serialize};

/// The error envelope every rejection uses, by a coop session and by the hub alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// The error itself.
    pub error: ErrorBody,
}

/// Code and human-readable message of an [`ErrorEnvelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code such as `BAD_REQUEST`, `SESSION_NOT_FOUND` or `EXITED`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}
