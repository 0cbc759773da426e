//! Notifications of new items (docs/architecture.md, "The inbox"): a JSON POST
//! ([`InboxNotification`]) to every `--notify-url` for each new item, at most one per item
//! (among replicas: the first claim of the `notified` bucket), retried with
//! [`backoff::NOTIFY`], signed with HMAC-SHA256 of the body under `--notify-secret` in the
//! [`SIGNATURE_HEADER`] header (`sha256=<hex>`).

use super::claims::{Claimed, Claims};
use crate::edge::backoff::{self, Backoff};
use protocol::inbox::{InboxItem, InboxNotification};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-coopmux-signature";
/// New items waiting to be announced (count; each bounded by the inbox, about 1 MiB at
/// most); beyond it an announcement is dropped (logged).
const NOTIFY_QUEUE: usize = 256;
/// Items announced at once (count).
const NOTIFY_CONCURRENCY: usize = 16;
/// Longest wait for one POST.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the replicas to say which replica announces an item (NATS may be back
/// within it; after it the item is not announced, rather than twice).
const CLAIM_WAIT: Duration = Duration::from_secs(30);

/// Where and how new items are announced.
#[derive(Clone)]
pub struct NotifySettings {
    /// The `--notify-url`s.
    pub urls: Vec<String>,
    /// The `--notify-secret` (empty: unsigned).
    pub secret: String,
    /// The hub's URL as people reach it, for the item's link.
    pub hub_url: String,
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySettings")
            .field("urls", &self.urls)
            .field("hub_url", &self.hub_url)
            .finish_non_exhaustive()
    }
}

/// Item ids announced lately (count), so that an item seen again (its session went and came
/// back while it waited) is not announced again; the replicas' `notified` bucket keeps them
/// all.
const ANNOUNCED_MEMORY: usize = 4096;

impl NotifySettings {
    /// Refuses a `--notify-url` that is not an absolute `http(s)` URL.
    pub fn check(&self) -> Result<(), String> {
        for url in &self.urls {
            let parsed =
                reqwest::Url::parse(url).map_err(|e| format!("--notify-url {url:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "--notify-url {url:?}: only http and https URLs are notified"
                ));
            }
        }
        Ok(())
    }
}

/// Announces new items in the background.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::Sender<InboxItem>,
    announced: Arc<Mutex<VecDeque<String>>>,
}

impl Notifier {
    /// Starts announcing to `settings.urls` (until `shutdown`); `None` without a URL.
    pub fn start(
        settings: NotifySettings,
        claims: Claims,
        shutdown: CancellationToken,
    ) -> Option<Self> {
        if settings.urls.is_empty() {
            return None;
        }
        let (queue, items) = mpsc::channel(NOTIFY_QUEUE);
        tokio::spawn(run(Arc::new(settings), claims, items, shutdown));
        Some(Self {
            queue,
            announced: Arc::default(),
        })
    }

    /// Queues `item`'s announcement.
    pub fn announce(&self, item: InboxItem) {
        {
            let mut announced = self.announced.lock().unwrap_or_else(|e| e.into_inner());
            if announced.contains(&item.id) {
                return;
            }
            if announced.len() == ANNOUNCED_MEMORY {
                announced.pop_front();
            }
            announced.push_back(item.id.clone());
        }
        if let Err(err) = self.queue.try_send(item) {
            tracing::warn!(%err, "notification queue full; an item is not announced");
        }
    }
}

async fn run(
    settings: Arc<NotifySettings>,
    claims: Claims,
    mut items: mpsc::Receiver<InboxItem>,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(client) => client,
        Err(err) => return tracing::error!(%err, "cannot build the notification client"),
    };
    let permits = Arc::new(Semaphore::new(NOTIFY_CONCURRENCY));
    loop {
        let item = tokio::select! {
            () = shutdown.cancelled() => return,
            item = items.recv() => match item { Some(item) => item, None => return },
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (settings, claims, client, shutdown) = (
            settings.clone(),
            claims.clone(),
            client.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            match claims.notification(&item.id, CLAIM_WAIT).await {
                Claimed::Won => {}
                Claimed::Taken => return,
                Claimed::Unconfirmed => {
                    return tracing::warn!(item = %item.id, "replicas unreachable; item not announced");
                }
            }
            let body = notification(&settings, item);
            let signature = format!(
                "sha256={}",
                hex(&hmac_sha256(settings.secret.as_bytes(), &body))
            );
            for url in &settings.urls {
                post(&client, url, &body, &signature, &shutdown).await;
            }
        });
    }
}

fn notification(settings: &NotifySettings, item: InboxItem) -> Vec<u8> {
    let link = format!(
        "{}/mux#{}",
        settings.hub_url.trim_end_matches('/'),
        item.session
    );
    let body = InboxNotification {
        event: "inbox:item".to_owned(),
        item,
        link,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// POSTs `body` to `url` until a 2xx, within [`backoff::NOTIFY`].
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    signature: &str,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(backoff::NOTIFY);
    loop {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await;
        let why = match sent {
            Ok(reply) if reply.status().is_success() => return,
            Ok(reply) => format!("answered {}", reply.status()),
            Err(err) => err.to_string(),
        };
        tracing::debug!(url, %why, "notification not taken");
        if !backoff.wait(shutdown).await {
            return tracing::warn!(url, %why, "notification given up");
        }
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut padded = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        padded[..key.len()].copy_from_slice(key);
    }
    let inner_pad = padded.map(|b| b ^ 0x36);
    let outer_pad = padded.map(|b| b ^ 0x5c);
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{hex, hmac_sha256};

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
