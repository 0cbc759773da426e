//! A bounded randomized run (docs/scaling.md, "The conflict rule"): registrations,
//! heartbeats, deletes, evictions (a host that stops answering) and credential writes through
//! random replicas of three, one at a time, interleaved with NATS stopped (SIGTERM, SIGKILL)
//! and frozen and a replica paused. Every acknowledged operation goes into a model of one
//! hub; after recovery every replica and the buckets must hold exactly what that hub holds.
//! The seed is printed; `COOPMUX_RANDOM_SEED` replays one.

use super::cluster::{
    all_cut_off, all_shared, bucket, bucket_sessions, converged, delete, register, replica,
    QUICK_CHECKS,
};
use crate::support::nats::Server;
use crate::support::{wait_for, HubProcess, MockUpstream, NatsServer, LONG_WAIT};
use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Operations of one run.
const OPERATIONS: usize = 300;
/// A fault starts or ends every this many operations.
const FAULT_EVERY: usize = 12;
/// Longest wait for the replicas to notice a frozen server (they are not asked to).
const NOTICE_FREEZE: std::time::Duration = std::time::Duration::from_secs(5);
/// The providers new accounts get.
const PROVIDERS: [&str; 3] = ["openai", "gemini", "anthropic"];

/// What NATS is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nats {
    Up,
    Stopped,
    Frozen,
}

/// One hub's state after the acknowledged operations.
#[derive(Debug, Default)]
struct Model {
    /// id → (url, metadata).
    sessions: BTreeMap<String, (String, Value)>,
    /// name → (provider, key).
    accounts: BTreeMap<String, (String, String)>,
}

async fn random_operations_with_faults_converge_to_one_hubs_state(server: Server) {
    let seed = std::env::var("COOPMUX_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let run = u64::from(std::process::id()) ^ coopmux::hub::registry::now_ms();
            run ^ u64::from(server == Server::Current)
        });
    println!("random run on {server:?}: seed {seed}, {OPERATIONS} operations");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut nats = NatsServer::start_version(server).await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&nats, &QUICK_CHECKS, &[]).await);
    }
    let mut upstreams: BTreeMap<String, MockUpstream> = BTreeMap::new();
    let mut model = Model::default();
    let (mut state, mut paused) = (Nats::Up, None::<usize>);
    let mut faults = Vec::new();
    // Operations while NATS was stopped, frozen, and while a replica was paused.
    let (mut while_stopped, mut while_frozen, mut while_paused) = (0, 0, 0);
    for step in 0..OPERATIONS {
        if step % FAULT_EVERY == FAULT_EVERY - 1 {
            let fault =
                change_faults(&mut rng, &mut nats, &replicas, &mut state, &mut paused).await;
            faults.push(fault);
        }
        match state {
            Nats::Stopped => while_stopped += 1,
            Nats::Frozen => while_frozen += 1,
            Nats::Up => {}
        }
        if paused.is_some() {
            while_paused += 1;
        }
        let at = loop {
            let at = rng.random_range(0..replicas.len());
            if Some(at) != paused {
                break at;
            }
        };
        let hub = &replicas[at];
        let live: Vec<String> = model.sessions.keys().cloned().collect();
        let names: Vec<String> = model.accounts.keys().cloned().collect();
        match rng.random_range(0..100) {
            0..35 => {
                let id = format!("r{step}");
                let upstream = MockUpstream::start().await;
                let metadata = json!({"step": step});
                if register(hub, &id, &upstream.url, metadata.clone()).await == 200 {
                    model
                        .sessions
                        .insert(id.clone(), (upstream.url.clone(), metadata));
                }
                upstreams.insert(id, upstream);
            }
            35..55 if !live.is_empty() => {
                let id = &live[rng.random_range(0..live.len())];
                let url = model.sessions[id].0.clone();
                let metadata = json!({"step": step});
                if register(hub, id, &url, metadata.clone()).await == 200 {
                    model.sessions.insert(id.clone(), (url, metadata));
                }
            }
            55..70 if !live.is_empty() => {
                let id = &live[rng.random_range(0..live.len())];
                if delete(hub, id).await == 200 {
                    model.sessions.remove(id);
                }
            }
            70..78 if !live.is_empty() => {
                // Its host stops answering: every replica's checks evict it.
                let id = &live[rng.random_range(0..live.len())];
                upstreams[id].state.unhealthy.store(true, Ordering::SeqCst);
                model.sessions.remove(id);
            }
            78..88 => {
                let name = format!("acct{step}");
                let provider = PROVIDERS[rng.random_range(0..PROVIDERS.len())];
                let key = format!("key{step}-sekret");
                let body = json!({"name": name, "provider": provider, "token": key});
                if hub.post("/api/v1/credentials/new", body).await.0 == 200 {
                    model.accounts.insert(name, (provider.to_owned(), key));
                }
            }
            88..100 if !names.is_empty() => {
                let name = &names[rng.random_range(0..names.len())];
                let key = format!("key{step}-sekret");
                let body = json!({"account": name, "token": key});
                // 400 from a replica that does not know the account yet: not acknowledged.
                if hub.post("/api/v1/credentials/set", body).await.0 == 200 {
                    let provider = model.accounts[name].0.clone();
                    model.accounts.insert(name.clone(), (provider, key));
                }
            }
            _ => {}
        }
    }
    println!("faults: {faults:?}");
    println!(
        "operations while NATS was stopped: {while_stopped}, frozen: {while_frozen}, a replica paused: {while_paused}"
    );
    assert!(
        while_stopped > 0 && while_frozen + while_paused > 0,
        "the run had too few faults to say anything (seed {seed})"
    );
    match state {
        Nats::Stopped => nats.restart().await,
        Nats::Frozen => nats.thaw(),
        Nats::Up => {}
    }
    if let Some(at) = paused {
        replicas[at].resume();
    }
    let all: Vec<&HubProcess> = replicas.iter().collect();
    all_shared(&all).await;
    converged(&all, &model.sessions).await;
    let bucket_now = bucket_sessions(&nats).await;
    assert_eq!(
        bucket_now, model.sessions,
        "the sessions bucket (seed {seed})"
    );
    for hub in &all {
        accounts_agree(hub, &model, seed).await;
    }
    let shared = bucket::<Value>(&nats, "credentials").await;
    let in_bucket: BTreeMap<String, (String, String)> = (shared.into_iter())
        .filter_map(|(name, v)| {
            let v = v?;
            let provider = v["config"]["provider"].as_str()?.to_owned();
            let key = v["secrets"]["access_token"].as_str()?.to_owned();
            Some((name, (provider, key)))
        })
        .collect();
    assert_eq!(
        in_bucket, model.accounts,
        "the credentials bucket (seed {seed})"
    );
}

/// Every replica lists the model's accounts with their providers and holds their keys in its
/// state file.
async fn accounts_agree(hub: &HubProcess, model: &Model, seed: u64) {
    let file = hub.state_dir().join("credentials.json");
    let agreed = wait_for(LONG_WAIT, || async {
        let (_, status) = hub.get("/api/v1/credentials/status").await;
        let listed: BTreeMap<String, String> = (status.as_array()?.iter())
            .map(|a| {
                let name = a["name"].as_str().unwrap_or_default().to_owned();
                (name, a["provider"].as_str().unwrap_or_default().to_owned())
            })
            .collect();
        let wanted: BTreeMap<String, String> = (model.accounts.iter())
            .map(|(name, (provider, _))| (name.clone(), provider.clone()))
            .collect();
        let saved: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        let keys_saved = (model.accounts.iter())
            .all(|(name, (_, key))| saved["accounts"][name]["access_token"] == key.as_str());
        (listed == wanted && keys_saved).then_some(())
    })
    .await;
    let (_, status) = hub.get("/api/v1/credentials/status").await;
    assert!(
        agreed.is_some(),
        "{} holds other accounts (seed {seed}): {status}, expected {:?}",
        hub.base,
        model.accounts
    );
}

/// Starts or ends a fault: NATS stopped (SIGTERM or SIGKILL), frozen, or a replica paused;
/// returns what it did.
async fn change_faults(
    rng: &mut StdRng,
    nats: &mut NatsServer,
    replicas: &[HubProcess],
    state: &mut Nats,
    paused: &mut Option<usize>,
) -> &'static str {
    if let Some(at) = *paused {
        if rng.random_bool(0.5) {
            replicas[at].resume();
            *paused = None;
            return "resume";
        }
    }
    match *state {
        Nats::Stopped => {
            nats.restart().await;
            *state = Nats::Up;
            "restart"
        }
        Nats::Frozen => {
            nats.thaw();
            *state = Nats::Up;
            "thaw"
        }
        Nats::Up => match rng.random_range(0..4) {
            0 | 1 => {
                let (signal, name) = match rng.random_bool(0.5) {
                    true => (Signal::SIGTERM, "sigterm"),
                    false => (Signal::SIGKILL, "sigkill"),
                };
                nats.stop(signal);
                *state = Nats::Stopped;
                // The operations that follow are made while the replicas know NATS is gone.
                let awake: Vec<&HubProcess> = (replicas.iter().enumerate())
                    .filter(|(at, _)| Some(*at) != *paused)
                    .map(|(_, hub)| hub)
                    .collect();
                all_cut_off(&awake).await;
                name
            }
            2 => {
                nats.freeze();
                *state = Nats::Frozen;
                for (at, hub) in replicas.iter().enumerate() {
                    if Some(at) != *paused {
                        let noticed = wait_for(NOTICE_FREEZE, || async {
                            let (_, health) = hub.get("/api/v1/health").await;
                            (health["nats"] == "unresponsive").then_some(())
                        });
                        let _ = noticed.await;
                    }
                }
                "freeze"
            }
            _ if paused.is_none() => {
                let at = rng.random_range(0..replicas.len());
                replicas[at].pause();
                *paused = Some(at);
                "pause"
            }
            _ => "none",
        },
    }
}

super::on_both_servers!(random_operations_with_faults_converge_to_one_hubs_state);
