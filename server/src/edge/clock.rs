//! Wall-clock time as the wire carries it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current time in epoch milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
