//! The hybrid logical clock every replicated change is stamped with (docs/scaling.md, "The
//! conflict rule"): wall-clock µs, never behind any clock this replica has seen, with a counter
//! for changes within the same µs and the replica's id to break ties. A change made after
//! another one was seen is therefore always newer, whatever the replicas' clocks say.

use protocol::fleet::Clock;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// One replica's clock.
#[derive(Debug)]
pub struct Hlc {
    node: String,
    /// Largest `(us, n)` handed out or seen.
    last: Mutex<(u64, u32)>,
}

/// Wall-clock time in epoch µs.
pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Hlc {
    /// The clock of replica `node`.
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_owned(),
            last: Mutex::new((0, 0)),
        }
    }

    /// This replica's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The clock of a change made now: newer than every clock handed out or seen before.
    pub fn now(&self) -> Clock {
        let wall = wall_us();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = if wall > last.0 {
            (wall, 0)
        } else {
            (last.0, last.1.saturating_add(1))
        };
        Clock {
            us: last.0,
            n: last.1,
            node: self.node.clone(),
            after: false,
        }
    }

    /// The oldest clock of this replica: a value it only offers (a seed) loses to any change.
    pub fn seed(&self) -> Clock {
        Clock {
            node: self.node.clone(),
            ..Clock::default()
        }
    }

    /// Another replica's change was seen: later changes here are newer.
    pub fn observe(&self, clock: &Clock) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if (clock.us, clock.n) > *last {
            *last = (clock.us, clock.n);
        }
    }
}

/// The clock of an eviction of the value stamped `judged`: right after it, so that the value
/// it judged loses and any later change of it wins.
pub fn after(judged: &Clock) -> Clock {
    Clock {
        after: true,
        ..judged.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_grow_and_follow_what_was_seen() {
        let a = Hlc::new("a");
        let first = a.now();
        let second = a.now();
        assert!(second > first);
        let ahead = Clock {
            us: first.us + 60_000_000,
            n: 7,
            node: "b".into(),
            after: false,
        };
        a.observe(&ahead);
        let third = a.now();
        assert!(third > ahead, "{third:?} after {ahead:?}");
        assert!(a.seed() < first);
    }

    #[test]
    fn an_eviction_sits_between_its_value_and_the_next_change() {
        let a = Hlc::new("a");
        let judged = a.now();
        let evicted = after(&judged);
        assert!(evicted > judged);
        assert!(a.now() > evicted);
    }
}
