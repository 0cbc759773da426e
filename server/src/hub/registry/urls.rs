//! Sessions by upstream url, so that a registration finds the sessions it replaces (same url,
//! another id) without scanning the whole registry: registration stays O(1) at ten thousand
//! sessions (docs/architecture.md, "What a session costs").

use std::collections::HashMap;

/// Ids by url; url-less (NATS) sessions are not indexed.
#[derive(Debug, Default)]
pub(super) struct UrlIndex {
    ids: HashMap<String, Vec<String>>,
}

impl UrlIndex {
    /// Records that `id` is reached at `url`.
    pub(super) fn insert(&mut self, url: &str, id: &str) {
        if !url.is_empty() {
            self.ids
                .entry(url.to_owned())
                .or_default()
                .push(id.to_owned());
        }
    }

    /// Forgets that `id` is reached at `url`.
    pub(super) fn remove(&mut self, url: &str, id: &str) {
        if let Some(ids) = self.ids.get_mut(url) {
            ids.retain(|known| known != id);
            if ids.is_empty() {
                self.ids.remove(url);
            }
        }
    }

    /// `id` moved from `old` to `new` (a heartbeat with another url).
    pub(super) fn moved(&mut self, id: &str, old: &str, new: &str) {
        if old != new {
            self.remove(old, id);
            self.insert(new, id);
        }
    }

    /// The ids reached at `url`.
    pub(super) fn ids(&self, url: &str) -> &[String] {
        self.ids.get(url).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_inserts_moves_and_removals() {
        let mut index = UrlIndex::default();
        index.insert("http://a", "1");
        index.insert("http://a", "2");
        index.insert("", "nats");
        assert_eq!(index.ids("http://a"), ["1", "2"]);
        assert!(index.ids("").is_empty());
        index.moved("2", "http://a", "http://b");
        assert_eq!(index.ids("http://a"), ["1"]);
        assert_eq!(index.ids("http://b"), ["2"]);
        index.remove("http://a", "1");
        assert!(index.ids("http://a").is_empty());
        assert!(!index.ids.contains_key("http://a"));
    }
}
