//! Exponential backoff for every retry and reconnect loop, with each loop's policy named once.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a loop retries: the first delay, doubling up to `max`, for `attempts` tries in all
/// (`None`: for ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Delay after the first failure.
    pub first: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Tries in all, the first included; `None` retries for ever.
    pub attempts: Option<u32>,
}

/// Upstream WebSockets (the `/ws/{id}` bridge, `/ws/mux` state feeds): a session that restarts
/// is back within a fraction of a second, a dead one costs one attempt every 5 s.
pub const UPSTREAM_RECONNECT: Policy = Policy {
    first: Duration::from_millis(100),
    max: Duration::from_secs(5),
    attempts: None,
};

/// A `/ws/mux` watcher's state feed whose upstream answers the upgrade with an HTTP status (a
/// session that serves no coop `/ws`): asked again rarely, not every few seconds.
pub const UPSTREAM_REFUSED: Policy = Policy {
    first: Duration::from_secs(5),
    max: Duration::from_secs(300),
    attempts: None,
};

/// A session host's first registration with the mux: 5 tries over about 15 s, then the
/// heartbeat takes over.
pub const REGISTER: Policy = Policy {
    first: Duration::from_millis(500),
    max: Duration::from_secs(8),
    attempts: Some(5),
};

/// A push to a session (profiles, switch): 4 tries, 500 ms, 1 s, 2 s apart.
pub const SESSION_PUSH: Policy = Policy {
    first: Duration::from_millis(500),
    max: Duration::from_secs(2),
    attempts: Some(4),
};

/// An OAuth refresh grant (RFC 6749 §6): 5 tries, 1 s doubling to 60 s; a failure after that
/// waits for the broker's next retry.
pub const TOKEN_REFRESH: Policy = Policy {
    first: Duration::from_secs(1),
    max: Duration::from_secs(60),
    attempts: Some(5),
};

/// A notification of a new inbox item to a `--notify-url`: 6 tries, 500 ms doubling to 8 s
/// (about 15 s in all), then it is given up (logged).
pub const NOTIFY: Policy = Policy {
    first: Duration::from_millis(500),
    max: Duration::from_secs(8),
    attempts: Some(6),
};

/// One retry loop's progress through its [`Policy`].
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    next: Duration,
    failures: u32,
}

impl Backoff {
    /// A fresh loop: the next failure waits `policy.first`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            next: policy.first,
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait before the next try, or `None` when the
    /// policy's tries are used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.failures += 1;
        if self.policy.attempts.is_some_and(|n| self.failures >= n) {
            return None;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        Some(delay)
    }

    /// The try under way is the policy's last: its failure ends the loop.
    pub fn is_last_attempt(&self) -> bool {
        self.policy.attempts.is_some_and(|n| self.failures + 1 >= n)
    }

    /// Failures recorded since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure starts from the first delay again.
    pub fn reset(&mut self) {
        self.next = self.policy.first;
        self.failures = 0;
    }

    /// Records a failure and sleeps the next delay. `false` when the tries are used up or
    /// `cancel` fired first.
    pub async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let Some(delay) = self.next_delay() else {
            return false;
        };
        tokio::select! {
            () = cancel.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_stops_after_the_attempts() {
        let mut b = Backoff::new(SESSION_PUSH);
        let delays: Vec<_> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000].map(Duration::from_millis).to_vec(),
            "4 tries: 3 waits"
        );
        let mut b = Backoff::new(UPSTREAM_RECONNECT);
        let delays: Vec<_> = (0..8).map(|_| b.next_delay().unwrap()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[7], Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next_delay(), Some(Duration::from_millis(100)));
    }
}
