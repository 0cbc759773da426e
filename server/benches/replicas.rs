//! Replicas benchmark (numbers only, no assertions): two `coopmux` hub processes sharing one
//! fleet through a real `nats-server -js` (docs/scaling.md, "Replicas sharing one fleet").
//!
//! Prints, side by side: registration on A → `session:online` on A's own `/ws/mux` and on
//! B's (p50/p99 over `LATENCY_SESSIONS` sequential registrations); `/ws/mux` fan-out of
//! `FANOUT_SESSIONS` registrations through A (time until a client of each replica has seen
//! all of them, and until a new client of each gets a snapshot of all); and the RSS of a hub
//! holding them with NATS (A, B) and of one without NATS. Then, on each supported server
//! (Debian's 2.9 and the current release), convergence after an outage: `OUTAGE_SESSIONS`
//! registered through A while NATS is killed, NATS started again, and the time until A has
//! written them all and a client of B has seen every one.
//!
//! Sessions stand behind one in-bench axum health responder at `127.0.X.Y:PORT` as in
//! `benches/scale.rs`. Run: `cargo bench -p server --bench replicas`.

use test_support as support;

use axum::{routing::get, Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use support::nats::Server;
use support::procs::rss_bytes;
use support::ws::Ws;
use support::{HubProcess, NatsServer};

/// Sequential registrations timed one by one.
const LATENCY_SESSIONS: usize = 200;
/// Registrations of the fan-out run.
const FANOUT_SESSIONS: usize = 1_000;
/// Registrations in flight at once in the fan-out run.
const REGISTER_CONCURRENCY: usize = 64;
/// Registrations made during the outage run.
const OUTAGE_SESSIONS: usize = 1_000;
/// Longest wait for any one event.
const EVENT_WAIT: Duration = Duration::from_secs(30);

/// The health responder behind every session; returns its port.
async fn responder() -> u16 {
    let app = Router::new().route(
        "/api/v1/health",
        get(|| async { Json(json!({"status":"running","session_id":"bench"})) }),
    );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .expect("bind responder");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// The loopback address of session `n` (127.0.0.2 upwards).
fn session_url(n: usize, port: u16) -> String {
    let n = n + 2;
    format!(
        "http://127.{}.{}.{}:{port}",
        n >> 16,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

async fn hub(nats: Option<&str>) -> HubProcess {
    let args: Vec<&str> = match nats {
        Some(url) => vec!["--nats-url", url],
        None => vec![],
    };
    let hub = HubProcess::start(&args, &[]);
    if nats.is_some() {
        replication_state(&hub, "shared").await;
    }
    hub
}

/// Waits until `hub`'s replication is `state` with nothing buffered; how long it took.
async fn replication_state(hub: &HubProcess, state: &str) -> Duration {
    let started = Instant::now();
    let deadline = started + EVENT_WAIT * 4;
    loop {
        let (_, health) = hub.get("/api/v1/health").await;
        let replication = &health["replication"];
        if replication["state"] == state && replication["buffered_writes"] == 0 {
            return started.elapsed();
        }
        assert!(Instant::now() < deadline, "never {state}: {health}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A `/ws/mux` client past its snapshot; returns it and the snapshot's session count.
async fn feed(base: &str) -> (Ws, usize) {
    let mut ws = Ws::connect(&format!("{}/ws/mux", base.replacen("http://", "ws://", 1))).await;
    let snapshot = ws.next(EVENT_WAIT).await.expect("snapshot");
    let count = snapshot["sessions"].as_array().map_or(0, Vec::len);
    (ws, count)
}

/// Waits for `session:online` of `id`.
async fn online(ws: &mut Ws, id: &str) {
    ws.wait_for(EVENT_WAIT, |e: &Value| {
        e["event"] == "session:online" && e["session"] == id
    })
    .await;
}

async fn register(client: &reqwest::Client, base: &str, id: &str, url: &str) {
    let reply = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"url": url, "id": id}))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "register {id}");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

/// Registers `ids` through `base` `REGISTER_CONCURRENCY` at a time.
async fn register_all(base: &str, port: u16, from: usize, count: usize) {
    let client = reqwest::Client::new();
    futures_util::stream::iter(from..from + count)
        .for_each_concurrent(REGISTER_CONCURRENCY, |n| {
            let (client, base) = (&client, base);
            async move { register(client, base, &format!("s{n}"), &session_url(n, port)).await }
        })
        .await;
}

/// Time until `ws` has seen `count` distinct `session:online` events.
async fn all_online(mut ws: Ws, count: usize, started: Instant) -> Duration {
    let mut seen = HashSet::new();
    while seen.len() < count {
        let Some(event) = ws.next(EVENT_WAIT).await else {
            panic!("feed ended after {} of {count}", seen.len());
        };
        if event["event"] == "session:online" {
            seen.insert(event["session"].as_str().unwrap_or_default().to_owned());
        }
    }
    started.elapsed()
}

fn mib(pid: u32) -> f64 {
    rss_bytes(pid) as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let port = responder().await;
    let nats = NatsServer::start().await;
    let a = hub(Some(&nats.url)).await;
    let b = hub(Some(&nats.url)).await;
    println!("two replicas on nats-server -js at {}", nats.url);

    // 1. Registration on A → visible on A's own feed and on B's.
    let client = reqwest::Client::new();
    let (mut on_a, _) = feed(&a.base).await;
    let (mut on_b, _) = feed(&b.base).await;
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for n in 0..LATENCY_SESSIONS {
        let id = format!("lat{n}");
        let started = Instant::now();
        register(
            &client,
            &a.base,
            &id,
            &session_url(FANOUT_SESSIONS + n, port),
        )
        .await;
        let (la, lb) = tokio::join!(
            async {
                online(&mut on_a, &id).await;
                started.elapsed()
            },
            async {
                online(&mut on_b, &id).await;
                started.elapsed()
            }
        );
        local.push(la);
        remote.push(lb);
    }
    drop((on_a, on_b));
    local.sort();
    remote.sort();
    println!();
    println!("registration on A -> session:online ({LATENCY_SESSIONS} sessions, one at a time)");
    println!("{:>26} | {:>9} | {:>9}", "", "p50 ms", "p99 ms");
    println!(
        "{:>26} | {:>9.2} | {:>9.2}",
        "POST + A's /ws/mux",
        percentile(&local, 0.5),
        percentile(&local, 0.99)
    );
    println!(
        "{:>26} | {:>9.2} | {:>9.2}",
        "POST + B's /ws/mux",
        percentile(&remote, 0.5),
        percentile(&remote, 0.99)
    );

    // 2. Fan-out: 1000 registrations through A, one watching client per replica.
    let (feed_a, _) = feed(&a.base).await;
    let (feed_b, _) = feed(&b.base).await;
    let started = Instant::now();
    let watch_a = tokio::spawn(all_online(feed_a, FANOUT_SESSIONS, started));
    let watch_b = tokio::spawn(all_online(feed_b, FANOUT_SESSIONS, started));
    register_all(&a.base, port, 0, FANOUT_SESSIONS).await;
    let registered = started.elapsed();
    let (all_a, all_b) = (watch_a.await.unwrap(), watch_b.await.unwrap());
    let total = FANOUT_SESSIONS + LATENCY_SESSIONS;
    let snap = |base: String| async move {
        let started = Instant::now();
        let (_, count) = feed(&base).await;
        (started.elapsed(), count)
    };
    let (snap_a, count_a) = snap(a.base.clone()).await;
    let (snap_b, count_b) = snap(b.base.clone()).await;
    println!();
    println!("/ws/mux fan-out: {FANOUT_SESSIONS} registrations through A, {REGISTER_CONCURRENCY} at a time (all POSTs done in {:.0} ms)", registered.as_secs_f64() * 1000.0);
    println!("{:>26} | {:>14} | {:>14}", "", "replica A", "replica B");
    println!(
        "{:>26} | {:>14.0} | {:>14.0}",
        "all online on a client ms",
        all_a.as_secs_f64() * 1000.0,
        all_b.as_secs_f64() * 1000.0
    );
    println!(
        "{:>26} | {:>14.1} | {:>14.1}",
        "new client snapshot ms",
        snap_a.as_secs_f64() * 1000.0,
        snap_b.as_secs_f64() * 1000.0
    );
    println!(
        "{:>26} | {:>14} | {:>14}",
        "sessions in snapshot", count_a, count_b
    );

    // 3. RSS with and without NATS, same sessions.
    let plain = hub(None).await;
    register_all(&plain.base, port, 0, FANOUT_SESSIONS).await;
    let client = reqwest::Client::new();
    for n in 0..LATENCY_SESSIONS {
        let url = session_url(FANOUT_SESSIONS + n, port);
        register(&client, &plain.base, &format!("lat{n}"), &url).await;
    }
    println!();
    println!("RSS of a hub holding {total} sessions");
    println!(
        "{:>26} | {:>14} | {:>14} | {:>14}",
        "", "A (NATS, KV)", "B (NATS, KV)", "no NATS"
    );
    println!(
        "{:>26} | {:>14.1} | {:>14.1} | {:>14.1}",
        "RSS MiB",
        mib(a.pid()),
        mib(b.pid()),
        mib(plain.pid())
    );
    plain.stop();
    a.stop();
    b.stop();
    drop(nats);

    // 4. Convergence after an outage, on each supported server.
    println!();
    println!("convergence after a NATS outage: {OUTAGE_SESSIONS} sessions registered through A while NATS was killed");
    println!(
        "{:>26} | {:>14} | {:>14} | {:>14}",
        "server", "A reconnected ms", "A wrote all ms", "all on B ms"
    );
    for server in Server::ALL {
        outage(server, port).await;
    }
}

/// One outage run on `server`: times from NATS's restart until A is shared again, until it
/// has written all it kept, and until a client of B has seen every session.
async fn outage(server: Server, port: u16) {
    let mut nats = NatsServer::start_version(server).await;
    let a = hub(Some(&nats.url)).await;
    let b = hub(Some(&nats.url)).await;
    nats.stop(nix::sys::signal::Signal::SIGKILL);
    let (feed_b, _) = feed(&b.base).await;
    register_all(&a.base, port, 4 * FANOUT_SESSIONS, OUTAGE_SESSIONS).await;
    let (_, health) = a.get("/api/v1/health").await;
    assert_eq!(
        health["replication"]["buffered_writes"], OUTAGE_SESSIONS,
        "{health}"
    );
    nats.restart().await;
    let started = Instant::now();
    let watch_b = tokio::spawn(all_online(feed_b, OUTAGE_SESSIONS, started));
    let reconnected = loop {
        let (_, health) = a.get("/api/v1/health").await;
        if health["nats"] == "connected" {
            break started.elapsed();
        }
        assert!(started.elapsed() < EVENT_WAIT, "NATS never back: {health}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    replication_state(&a, "shared").await;
    let wrote = started.elapsed();
    let all_b = watch_b.await.unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:>26} | {:>14.0} | {:>14.0} | {:>14.0}",
        format!("{server:?}"),
        ms(reconnected),
        ms(wrote),
        ms(all_b)
    );
    a.stop();
    b.stop();
}
