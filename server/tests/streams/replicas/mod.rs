//! Hub replicas on a real `nats-server -js` (docs/scaling.md, "Replicas sharing one fleet"):
//! `fleet` while NATS is up, `faults` under the faults of issue 26 (NATS stopped, killed,
//! frozen and emptied, a replica paused), `random` a bounded randomized run of all of them.
//! Every test runs on both supported servers: Debian's 2.9 and the current release.

mod cluster;
mod faults;
mod fleet;
mod random;

pub(crate) use crate::support::on_both_servers;
