//! coop's tier 4 for a plain command: `working` as soon as output flows, `idle` after a quiet
//! period, both `process:activity`; the exit is `process:exit` (reported by the lifecycle).

use super::{Detection, Tier};
use crate::host::state::StateTracker;
use protocol::AgentState;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The cause of every activity detection.
pub const ACTIVITY: &str = "process:activity";
/// The cause once the process exited.
pub const EXIT: &str = "process:exit";

/// A detection of this tier.
pub fn detection(state: AgentState, cause: &'static str) -> Detection {
    Detection::new(state, Tier::Process, cause)
}

/// Drives `working`/`idle` from output activity: `total` changes whenever output arrives and
/// `last_output` tells when it last did; `spawns` changes when a new child starts, to the
/// total at its start (it may be silent, and must still become idle, or loud, and must become
/// working, also when its first output came while the old child was being replaced and the
/// detection was dropped). While working it wakes only at idle deadlines, not on every chunk.
/// Runs until the host stops.
pub async fn run(
    tracker: &StateTracker,
    mut total: watch::Receiver<u64>,
    mut spawns: watch::Receiver<u64>,
    idle_after: Duration,
    last_output: impl Fn() -> Instant,
) {
    // Whether `working` was reported since the last `idle` or the child's start.
    let mut working = false;
    loop {
        let deadline = last_output() + idle_after;
        if deadline > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                changed = total.changed(), if !working => {
                    if changed.is_err() {
                        return;
                    }
                    tracker.detect(detection(AgentState::Working, ACTIVITY));
                    working = true;
                }
                changed = spawns.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    working = respawned(tracker, &mut total, &mut spawns);
                }
            }
            continue;
        }
        // Mark the feed seen, then look again: output that raced with the check either
        // moved `last_output` (seen here) or will change `total` (seen below).
        total.borrow_and_update();
        if last_output() + idle_after > Instant::now() {
            continue;
        }
        tracker.detect(detection(AgentState::Idle, ACTIVITY));
        tokio::select! {
            changed = total.changed() => {
                if changed.is_err() {
                    return;
                }
                tracker.detect(detection(AgentState::Working, ACTIVITY));
                working = true;
            }
            changed = spawns.changed() => {
                if changed.is_err() {
                    return;
                }
                working = respawned(tracker, &mut total, &mut spawns);
            }
        }
    }
}

/// A new child started: output up to its start was the last child's; output past it is the
/// new child's and makes it `working`. Returns whether it did.
fn respawned(
    tracker: &StateTracker,
    total: &mut watch::Receiver<u64>,
    spawns: &mut watch::Receiver<u64>,
) -> bool {
    let total_at_spawn = *spawns.borrow_and_update();
    let seen = *total.borrow_and_update();
    let loud = seen > total_at_spawn;
    if loud {
        tracker.detect(detection(AgentState::Working, ACTIVITY));
    }
    loud
}
