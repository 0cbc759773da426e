//! `screen_batch`: the cached screens of a connection's watched sessions, each sent only when
//! its `seq` changed since this connection last got it, not every
//! second.

use crate::hub::registry::Registry;
use protocol::mux::{MuxEvent, ScreenEntry};
use std::collections::HashMap;

/// What one connection was last sent, per session id.
#[derive(Debug, Default)]
pub struct SentScreens {
    /// `(registration order, seq)`: a re-registered session starts a new sequence.
    sent: HashMap<String, (u64, u64)>,
}

impl SentScreens {
    /// A batch of the changed screens among `ids`, or `None` when nothing changed.
    pub fn batch<'a>(
        &mut self,
        registry: &Registry,
        ids: impl Iterator<Item = &'a String>,
    ) -> Option<MuxEvent> {
        let mut screens = Vec::new();
        for id in ids {
            let Ok(session) = registry.get(id) else {
                continue;
            };
            let Some(cached) = session.cached_screen() else {
                continue;
            };
            let key = (session.order_us(), cached.value.seq);
            if self.sent.get(id) == Some(&key) {
                continue;
            }
            self.sent.insert(id.clone(), key);
            let screen = cached.value;
            screens.push(ScreenEntry {
                session: id.clone(),
                lines: screen.lines,
                ansi: screen.ansi,
                cols: screen.cols,
                rows: screen.rows,
                seq: screen.seq,
            });
        }
        (!screens.is_empty()).then_some(MuxEvent::ScreenBatch { screens })
    }

    /// Forgets an unwatched id, so a later subscribe gets its screen at once again.
    pub fn forget(&mut self, id: &str) {
        self.sent.remove(id);
    }
}
