//! Credential events on NATS: every `credential:*` event of the mux feed is published to
//! `{prefix}.events.credential` (docs/scaling.md). Account names and reasons only, never a
//! key or token: the feed's events do not carry one.

use super::Link;
use protocol::mux::MuxEvent;
use protocol::nats::{CredentialEvent, CredentialEventType};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Publishes credential events until shutdown. Events before the first connect are dropped
/// (NATS is not a queue; the dashboard's feed still has them).
pub(super) async fn run(
    link: Arc<Link>,
    prefix: String,
    mut events: broadcast::Receiver<MuxEvent>,
    shutdown: CancellationToken,
) {
    let subject = format!("{prefix}.events.credential");
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "credential publisher lagged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(message) = credential_event(&event) else {
            continue;
        };
        let Some(client) = link.try_client() else {
            continue;
        };
        // Serialising strings cannot fail.
        let payload = serde_json::to_vec(&message).unwrap_or_default();
        if let Err(err) = client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(%err, "cannot publish a credential event");
        }
    }
}

/// The NATS message of a credential event of the mux feed.
pub fn credential_event(event: &MuxEvent) -> Option<CredentialEvent> {
    let (event_type, account, error, auth_url, user_code) = match event {
        MuxEvent::CredentialRefreshed { account } => {
            (CredentialEventType::Refreshed, account, None, None, None)
        }
        MuxEvent::CredentialRefreshFailed { account, error } => (
            CredentialEventType::RefreshFailed,
            account,
            Some(error.clone()),
            None,
            None,
        ),
        MuxEvent::CredentialReauthRequired {
            account,
            auth_url,
            user_code,
        } => (
            CredentialEventType::ReauthRequired,
            account,
            None,
            Some(auth_url.clone()),
            user_code.clone(),
        ),
        _ => return None,
    };
    Some(CredentialEvent {
        event_type,
        account: account.clone(),
        error,
        auth_url,
        user_code,
        ts: utc_seconds(std::time::SystemTime::now()),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `t` (civil-from-days, proleptic Gregorian calendar).
fn utc_seconds(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(utc_seconds(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc_seconds(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn events_carry_no_secret_fields() {
        let event = MuxEvent::CredentialRefreshFailed {
            account: "a".into(),
            error: "400".into(),
        };
        let json = serde_json::to_value(credential_event(&event).unwrap()).unwrap();
        assert_eq!(json["event_type"], "refresh_failed");
        assert_eq!(json["account"], "a");
        assert!(json.get("token").is_none() && json.get("auth_url").is_none());
    }
}
