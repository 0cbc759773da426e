//! The writer: drains the queue of local changes into the buckets, in order, each write
//! bounded by [`super::FLEET_OP_TIMEOUT`]. A write that fails clears its pending mark so
//! that the watch's next value of the key is applied again.

use super::{kv_key, Fleet, Write};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(super) async fn run(
    fleet: Arc<Fleet>,
    mut queue: mpsc::Receiver<Write>,
    shutdown: CancellationToken,
) {
    loop {
        let write = tokio::select! {
            () = shutdown.cancelled() => return,
            write = queue.recv() => write,
        };
        let Some(write) = write else { return };
        let Some(buckets) = fleet.buckets() else {
            continue;
        };
        let (key, outcome) = match write {
            Write::PutSession(record) => {
                let key = kv_key(&record.id);
                let value = serde_json::to_vec(&record).unwrap_or_default();
                let put = buckets.sessions.put(&key, value.into());
                let outcome = tokio::time::timeout(super::FLEET_OP_TIMEOUT, put).await;
                (
                    Some(key),
                    outcome.map(|r| r.map(|_| ()).map_err(|e| e.to_string())),
                )
            }
            Write::DeleteSession(id) => {
                let key = kv_key(&id);
                let delete = buckets.sessions.delete(&key);
                let outcome = tokio::time::timeout(super::FLEET_OP_TIMEOUT, delete).await;
                (Some(key), outcome.map(|r| r.map_err(|e| e.to_string())))
            }
            Write::PutToken(hash, record) => {
                let value = serde_json::to_vec(&record).unwrap_or_default();
                let put = buckets.tokens.put(&hash, value.into());
                let outcome = tokio::time::timeout(super::FLEET_OP_TIMEOUT, put).await;
                (
                    None,
                    outcome.map(|r| r.map(|_| ()).map_err(|e| e.to_string())),
                )
            }
            Write::DeleteToken(hash) => {
                let delete = buckets.tokens.delete(&hash);
                let outcome = tokio::time::timeout(super::FLEET_OP_TIMEOUT, delete).await;
                (None, outcome.map(|r| r.map_err(|e| e.to_string())))
            }
        };
        let error = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(err)) => err,
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(%error, "fleet bucket write failed; the next reconcile repairs it");
        if let Some(key) = key {
            fleet.keys().pending.remove(&key);
        }
    }
}
