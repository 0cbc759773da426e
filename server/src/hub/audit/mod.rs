//! The audit trail (docs/security.md, "Audit"): every answer, respond, nudge, launch, kill and
//! credential change made through the hub, with who made it, appended to
//! `{state_dir}/audit.jsonl`, kept in memory for `GET /api/v1/audit` (the newest
//! [`AUDIT_MEMORY_ENTRIES`]), and published on the JetStream stream `{prefix}-audit` when the
//! hub has NATS. [`record`] is the middleware that writes it.

pub mod api;
mod record;
mod stream;

pub use record::record;

use crate::hub::registry::now_ms;
use protocol::inbox::AuditEntry;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Entries kept in memory for paging (count); the file keeps them all.
pub const AUDIT_MEMORY_ENTRIES: usize = 10_000;
/// The file's name in the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// What an entry records, before it gets its place and time.
#[derive(Debug, Clone)]
pub struct Action {
    /// Who.
    pub principal: String,
    /// What kind of action.
    pub action: &'static str,
    /// The session.
    pub session: Option<String>,
    /// The inbox item.
    pub item: Option<String>,
    /// Method and path.
    pub request: String,
    /// What was sent.
    pub sent: serde_json::Value,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug)]
struct Log {
    entries: VecDeque<AuditEntry>,
    last_seq: u64,
    file: Option<std::fs::File>,
}

/// The audit log of one hub.
#[derive(Debug)]
pub struct Audit {
    log: Mutex<Log>,
    path: PathBuf,
    stream: Option<stream::Publisher>,
}

impl Audit {
    /// The log in `dir` (created if needed), its newest entries read back.
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(AUDIT_FILE);
        let mut entries = VecDeque::new();
        if let Ok(file) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<AuditEntry>(&line) {
                    if entries.len() == AUDIT_MEMORY_ENTRIES {
                        entries.pop_front();
                    }
                    entries.push_back(entry);
                }
            }
        }
        let last_seq = entries.back().map_or(0, |e: &AuditEntry| e.seq);
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| {
                // Private like `credentials.json`: it holds what operators told agents.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
            })
            .map_err(
                |err| tracing::error!(path = %path.display(), %err, "cannot open the audit log"),
            )
            .ok();
        Self {
            log: Mutex::new(Log {
                entries,
                last_seq,
                file,
            }),
            path,
            stream: None,
        }
    }

    /// Also publishes every entry on the JetStream stream `{prefix}-audit`.
    pub fn with_stream(
        mut self,
        link: std::sync::Arc<crate::hub::nats::Link>,
        prefix: &str,
    ) -> Self {
        self.stream = Some(stream::Publisher::start(link, prefix));
        self
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file it appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry.
    pub fn append(&self, action: Action) -> AuditEntry {
        let entry = {
            let mut log = self.lock();
            log.last_seq += 1;
            let entry = AuditEntry {
                seq: log.last_seq,
                at_ms: now_ms(),
                principal: action.principal,
                action: action.action.to_owned(),
                session: action.session,
                item: action.item,
                request: action.request,
                sent: action.sent,
                status: action.status,
            };
            if let Some(file) = &mut log.file {
                let mut line = serde_json::to_vec(&entry).unwrap_or_default();
                line.push(b'\n');
                if let Err(err) = file.write_all(&line) {
                    tracing::error!(%err, "cannot append to the audit log");
                }
            }
            if log.entries.len() == AUDIT_MEMORY_ENTRIES {
                log.entries.pop_front();
            }
            log.entries.push_back(entry.clone());
            entry
        };
        if let Some(stream) = &self.stream {
            stream.publish(&entry);
        }
        entry
    }

    /// Up to `limit` entries after `after`, oldest first.
    pub fn page(&self, after: u64, limit: usize) -> (Vec<AuditEntry>, bool) {
        let log = self.lock();
        let mut page: Vec<AuditEntry> = (log.entries.iter())
            .filter(|e| e.seq > after)
            .take(limit + 1)
            .cloned()
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }
}
