//! Publishing audit entries on the JetStream stream `{prefix}-audit` (subject
//! `{prefix}.audit`), so that replicas sharing NATS have one trail. Best effort: an entry
//! published while NATS is away is in the replica's file only.

use crate::hub::nats::Link;
use async_nats::jetstream;
use protocol::inbox::AuditEntry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Entries waiting to be published (count; each under 8 KiB: `sent` is cut at 4 KiB); beyond
/// it they are in the file only.
const PUBLISH_QUEUE: usize = 4096;
/// Longest wait for one publish's acknowledgement (and for creating the stream).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Publisher {
    queue: mpsc::Sender<Vec<u8>>,
}

impl Publisher {
    pub(super) fn start(link: Arc<Link>, prefix: &str) -> Self {
        let (queue, entries) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(run(link, prefix.to_owned(), entries));
        Self { queue }
    }

    pub(super) fn publish(&self, entry: &AuditEntry) {
        let body = serde_json::to_vec(entry).unwrap_or_default();
        if self.queue.try_send(body).is_err() {
            tracing::warn!("audit stream queue full; the entry is in the file only");
        }
    }
}

async fn run(link: Arc<Link>, prefix: String, mut entries: mpsc::Receiver<Vec<u8>>) {
    let subject = format!("{prefix}.audit");
    let mut stream_ready = false;
    while let Some(body) = entries.recv().await {
        let Some(client) = link.try_client().filter(|_| link.is_up()) else {
            continue;
        };
        let js = jetstream::new(client.clone());
        if !stream_ready {
            let config = jetstream::stream::Config {
                name: format!("{prefix}-audit"),
                subjects: vec![subject.clone()],
                ..Default::default()
            };
            let created = tokio::time::timeout(PUBLISH_TIMEOUT, js.get_or_create_stream(config));
            stream_ready = matches!(created.await, Ok(Ok(_)));
            if !stream_ready {
                tracing::debug!("cannot open the audit stream; entry kept in the file only");
                continue;
            }
        }
        let published = async { js.publish(subject.clone(), body.into()).await?.await };
        match tokio::time::timeout(PUBLISH_TIMEOUT, published).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                stream_ready = false;
                tracing::debug!(%err, "audit entry not published");
            }
            Err(_) => tracing::debug!("audit publish timed out"),
        }
    }
}
