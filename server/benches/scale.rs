//! Scale benchmark (numbers only, no assertions): one mux holding 1,000 and 10,000 sessions
//! (docs/architecture.md, "What a session costs").
//!
//! Every session is its own origin, `http://127.0.X.Y:PORT`: Linux routes all of 127/8 to
//! `lo`, so one in-bench axum responder answering coop's `GET /api/v1/health` stands behind
//! all of them (it listens on the wildcard address and refuses any peer that is not
//! loopback). For each fleet size a fresh mux (default flags: health checks every 10 s,
//! prewarm as shipped) is started, the sessions are registered `REGISTER_CONCURRENCY` at a
//! time, and after two health sweeps the bench prints the registration rate, the mux's RSS
//! and its CPU use over `IDLE_WINDOW` with nobody watching.
//!
//! With NATS, a real `nats-server` runs on a free loopback port, the mux follows it
//! (`--nats-url`) and the sessions are coop processes that only speak NATS
//! (docs/scaling.md): each announces `online` without a url, then a `heartbeat` every 30 s
//! as coop does (the bench publishes them spread over the 30 s). The rate is announces the
//! mux has registered per second. coop's 2 s status publishes are not simulated: they are
//! traffic, not idleness.
//!
//! With `COOPMUX_BENCH_HOSTS=N` the HTTP sessions are served by N real `coopmux session`
//! hosts instead (each on the wildcard address with a bearer token, running `sleep`; session
//! `n` is on host `n % N`), so every session also serves coop's `/ws` and the hub's inbox holds
//! a state feed to each: the topology of a real fleet, 10,000 origins on a few hosts.
//!
//! Besides RSS and CPU the bench prints the health requests the hub sent per health interval
//! while idle (its `coopmux_health_checks_total`; `-` for a build without that counter).
//!
//! Run: `cargo bench -p server --bench scale`; set `COOPMUX_BENCH_BIN` to measure another
//! `coopmux` binary (a build of an older commit, for before/after numbers),
//! `COOPMUX_BENCH_FLEETS=10000` to measure only some fleet sizes,
//! `COOPMUX_BENCH_VIA=http` (or `nats`) to measure one side only, `COOPMUX_BENCH_HOSTS=4` for
//! `coopmux session` hosts and `COOPMUX_BENCH_RUNS=3` to measure each fleet several times
//! (idle CPU on a shared machine varies from run to run).

use test_support as support;

use axum::{response::IntoResponse, routing::get, Json, Router};
use futures_util::StreamExt;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::procs::rss_bytes;
use support::session::{Opts, Session};
use support::{metric, HubProcess, NatsServer};

/// Names another `coopmux` binary to measure (such as a build of an older commit).
const BIN_VAR: &str = "COOPMUX_BENCH_BIN";
/// Comma-separated fleet sizes to measure instead of [`FLEETS`].
const FLEETS_VAR: &str = "COOPMUX_BENCH_FLEETS";
/// `http` or `nats`: measure one side only.
const VIA_VAR: &str = "COOPMUX_BENCH_VIA";
/// How many `coopmux session` hosts serve the HTTP sessions (none: the in-bench responder).
const HOSTS_VAR: &str = "COOPMUX_BENCH_HOSTS";
/// How many times each fleet is measured.
const RUNS_VAR: &str = "COOPMUX_BENCH_RUNS";
/// The bearer token of the bench's `coopmux session` hosts (they listen on the wildcard
/// address, so everything but their health answer needs it).
const HOST_TOKEN: &str = "scale-bench-host-token";
/// coop's heartbeat interval on NATS.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// Slices the heartbeats of one interval are spread over (count).
const HEARTBEAT_SLICES: usize = 300;
/// How long the bench waits for the mux to list every session.
const REGISTER_DEADLINE: Duration = Duration::from_secs(300);
/// Fleet sizes measured (sessions).
const FLEETS: [usize; 2] = [1_000, 10_000];
/// Registrations in flight at once (requests).
const REGISTER_CONCURRENCY: usize = 64;
/// The mux's default health check interval; the bench waits for two sweeps.
const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Window over which idle CPU is measured: four health sweeps, two whole periods of the idle
/// feeds' pings (they ping on every other sweep), so no phase of them counts twice.
const IDLE_WINDOW: Duration = Duration::from_secs(40);

/// The health responder behind every session; returns its port.
async fn responder() -> u16 {
    let app = Router::new().route(
        "/api/v1/health",
        get(|| async { Json(json!({"status":"running","session_id":"bench"})) }),
    );
    // The wildcard address is the only single socket that answers on all of 127/8; the
    // filter below keeps anything but loopback out.
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .expect("bind responder");
    let port = listener.local_addr().unwrap().port();
    let app = app.layer(axum::middleware::from_fn(
        |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
         request: axum::extract::Request,
         next: axum::middleware::Next| async move {
            if !peer.ip().is_loopback() {
                return axum::http::StatusCode::FORBIDDEN.into_response();
            }
            next.run(request).await
        },
    ));
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });
    port
}

/// What serves the HTTP sessions' origins.
enum Origins {
    /// The in-bench health responder on this port.
    Responder(u16),
    /// `coopmux session` hosts; session `n` is on `hosts[n % len]`.
    Hosts(Vec<(Session, u16)>),
}

impl Origins {
    /// `count` `coopmux session` hosts on the wildcard address, each running `sleep`.
    async fn hosts(count: usize) -> Self {
        let mut hosts = Vec::with_capacity(count);
        for _ in 0..count {
            let flags = [
                "--host",
                "0.0.0.0",
                "--auth-token",
                HOST_TOKEN,
                "--agent",
                "none",
            ];
            let opts = Opts {
                flags: flags.iter().map(|f| (*f).to_owned()).collect(),
                ..Opts::default()
            };
            let host = Session::start_with(opts, &["sleep", "1000000"]).await;
            let port = host.url.rsplit(':').next().unwrap().parse().expect("port");
            hosts.push((host, port));
        }
        Self::Hosts(hosts)
    }

    /// The loopback address of session `n` (127.0.0.2 upwards; 127.0.0.1 is the mux's own).
    fn url(&self, n: usize) -> String {
        let port = match self {
            Self::Responder(port) => *port,
            Self::Hosts(hosts) => hosts[n % hosts.len()].1,
        };
        let n = n + 2;
        format!(
            "http://127.{}.{}.{}:{port}",
            n >> 16,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }

    /// The registration body of session `n`.
    fn registration(&self, n: usize) -> serde_json::Value {
        let mut body = json!({"url": self.url(n), "id": format!("s{n}")});
        if let Self::Hosts(_) = self {
            body["auth_token"] = json!(HOST_TOKEN);
        }
        body
    }

    fn describe(&self) -> String {
        match self {
            Self::Responder(port) => {
                format!("sessions behind one in-bench axum health responder at 127.0.X.Y:{port}")
            }
            Self::Hosts(hosts) => format!(
                "sessions served by {} `coopmux session` hosts (coop /ws, one state feed each)",
                hosts.len()
            ),
        }
    }
}

/// User plus system CPU time of a process so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// How the sessions reach the mux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `POST /api/v1/sessions`, health-checked.
    Http,
    /// NATS announces and heartbeats, no url.
    Nats,
}

/// One fleet's numbers.
struct Row {
    registered_per_s: f64,
    rss_mib: f64,
    idle_cpu_percent: f64,
    /// Health requests sent per health interval while idle (`None`: the build has no counter).
    health_checks_per_interval: Option<f64>,
}

fn start_mux(args: &[&str]) -> HubProcess {
    match std::env::var(BIN_VAR) {
        Ok(bin) => HubProcess::try_start_bin(&bin, args, &[]),
        Err(_) => HubProcess::try_start(args, &[]),
    }
    .unwrap_or_else(|log| panic!("coopmux did not start:\n{log}"))
}

/// The mux's `session_count`.
async fn session_count(mux: &HubProcess) -> usize {
    let (_, health) = mux.get("/api/v1/health").await;
    health["session_count"].as_u64().unwrap_or(0) as usize
}

/// The mux's `coopmux_health_checks_total`, if it has one.
async fn health_checks(mux: &HubProcess) -> Option<f64> {
    let reply = reqwest::get(format!("{}/metrics", mux.base)).await.ok()?;
    let text = reply.text().await.ok()?;
    text.contains("coopmux_health_checks_total")
        .then(|| metric(&text, "coopmux_health_checks_total"))
}

/// Registers `sessions` over HTTP; returns registrations per second.
async fn register_http(mux: &HubProcess, sessions: usize, origins: &Origins) -> f64 {
    let client = reqwest::Client::new();
    let base = &mux.base;
    let started = Instant::now();
    futures_util::stream::iter(0..sessions)
        .for_each_concurrent(REGISTER_CONCURRENCY, |n| {
            let client = &client;
            async move {
                let reply = client
                    .post(format!("{base}/api/v1/sessions"))
                    .json(&origins.registration(n))
                    .send()
                    .await
                    .unwrap();
                assert!(reply.status().is_success(), "register s{n}");
            }
        })
        .await;
    sessions as f64 / started.elapsed().as_secs_f64()
}

fn announce(n: usize, event: &str) -> (String, bytes::Bytes) {
    let subject = format!("coop.events.session.s{n}.announce");
    let body = json!({"event": event, "session_id": format!("s{n}"), "ts": 1, "team": "bench"});
    (subject, body.to_string().into())
}

/// Announces `sessions` on NATS until the mux lists them all; returns announces registered
/// per second (NATS keeps nothing for a subscriber that missed a message, so stragglers are
/// announced again, as their heartbeat would).
async fn register_nats(mux: &HubProcess, bus: &async_nats::Client, sessions: usize) -> f64 {
    let started = Instant::now();
    let mut published = 0;
    while session_count(mux).await < sessions {
        assert!(
            started.elapsed() < REGISTER_DEADLINE,
            "mux lists {} of {sessions} sessions",
            session_count(mux).await
        );
        if published == 0 || started.elapsed() > Duration::from_secs(10) * published {
            for n in 0..sessions {
                let (subject, body) = announce(n, "online");
                bus.publish(subject, body).await.unwrap();
            }
            bus.flush().await.unwrap();
            published += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sessions as f64 / started.elapsed().as_secs_f64()
}

/// coop's heartbeats of every session, spread over each interval, until dropped.
fn heartbeats(bus: async_nats::Client, sessions: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let slice = sessions.div_ceil(HEARTBEAT_SLICES);
        let mut ticks = tokio::time::interval(HEARTBEAT / HEARTBEAT_SLICES as u32);
        loop {
            for start in (0..sessions).step_by(slice) {
                ticks.tick().await;
                for n in start..(start + slice).min(sessions) {
                    let (subject, body) = announce(n, "heartbeat");
                    let _ = bus.publish(subject, body).await;
                }
            }
        }
    })
}

async fn measure(sessions: usize, origins: &Origins, via: Via) -> Row {
    let nats = match via {
        Via::Http => None,
        Via::Nats => Some(NatsServer::start().await),
    };
    let mux = match &nats {
        None => start_mux(&[]),
        Some(nats) => start_mux(&["--nats-url", &nats.url]),
    };
    let pid = mux.pid();
    let (registered_per_s, beats) = match &nats {
        None => (register_http(&mux, sessions, origins).await, None),
        Some(nats) => {
            let bus = nats.client().await;
            // The mux subscribes once connected; until then announces would be lost.
            while mux.get("/api/v1/health").await.1["nats"] != "connected" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let rate = register_nats(&mux, &bus, sessions).await;
            (rate, Some(heartbeats(bus, sessions)))
        }
    };
    tokio::time::sleep(2 * HEALTH_INTERVAL).await;
    let checks_before = health_checks(&mux).await;
    let before = cpu_time(pid);
    tokio::time::sleep(IDLE_WINDOW).await;
    let busy = cpu_time(pid) - before;
    let checks = health_checks(&mux).await.zip(checks_before);
    let row = Row {
        registered_per_s,
        rss_mib: rss_bytes(pid) as f64 / (1024.0 * 1024.0),
        idle_cpu_percent: 100.0 * busy.as_secs_f64() / IDLE_WINDOW.as_secs_f64(),
        health_checks_per_interval: checks.map(|(after, before)| {
            (after - before) * HEALTH_INTERVAL.as_secs_f64() / IDLE_WINDOW.as_secs_f64()
        }),
    };
    let listed = session_count(&mux).await;
    assert_eq!(listed, sessions, "sessions lost while idle");
    if let Some(beats) = beats {
        beats.abort();
    }
    mux.stop();
    row
}

/// One side of the table as text (blank when that side is not measured).
fn cells(row: Option<&Row>, sessions: usize) -> String {
    match row {
        Some(r) => format!(
            "{:>10.0} {:>8.1} {:>8.1} {:>8.2} {:>10}",
            r.registered_per_s,
            r.rss_mib,
            r.rss_mib * 1024.0 / sessions as f64,
            r.idle_cpu_percent,
            r.health_checks_per_interval
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}"))
        ),
        None => format!("{:>10} {:>8} {:>8} {:>8} {:>10}", "-", "-", "-", "-", "-"),
    }
}

#[tokio::main]
async fn main() {
    let hosts: usize = std::env::var(HOSTS_VAR).map_or(0, |v| v.parse().expect("host count"));
    let runs: usize = std::env::var(RUNS_VAR).map_or(1, |v| v.parse().expect("run count"));
    let origins = if hosts == 0 {
        Origins::Responder(responder().await)
    } else {
        Origins::hosts(hosts).await
    };
    let bin = std::env::var(BIN_VAR).unwrap_or_else(|_| support::procs::bin().to_owned());
    let fleets: Vec<usize> = std::env::var(FLEETS_VAR).map_or_else(
        |_| FLEETS.to_vec(),
        |v| {
            v.split(',')
                .map(|n| n.trim().parse().expect("fleet size"))
                .collect()
        },
    );
    let via = std::env::var(VIA_VAR).unwrap_or_default();
    let (http, nats) = (via != "nats", via != "http");
    println!("mux binary: {bin}");
    println!(
        "HTTP: {}, health checks every {HEALTH_INTERVAL:?}; NATS: url-less sessions announced \
         on a local nats-server, heartbeats every {HEARTBEAT:?}; idle CPU of the mux over \
         {IDLE_WINDOW:?} after {:?}; checks/int: health requests per interval while idle",
        origins.describe(),
        2 * HEALTH_INTERVAL
    );
    let side = format!(
        "{:>10} {:>8} {:>8} {:>8} {:>10}",
        "reg/s", "RSS MiB", "KiB/sess", "CPU %", "checks/int"
    );
    println!("{:>8} | {:<47} | {:<47}", "", "over HTTP", "over NATS");
    println!("{:>8} | {side} | {side}", "sessions");
    let fleets = fleets
        .iter()
        .flat_map(|&n| std::iter::repeat_n(n, runs.max(1)));
    for sessions in fleets {
        let over_http = if http {
            Some(measure(sessions, &origins, Via::Http).await)
        } else {
            None
        };
        let over_nats = if nats {
            Some(measure(sessions, &origins, Via::Nats).await)
        } else {
            None
        };
        println!(
            "{sessions:>8} | {} | {}",
            cells(over_http.as_ref(), sessions),
            cells(over_nats.as_ref(), sessions)
        );
    }
}
