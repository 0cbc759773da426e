//! Scale benchmark (numbers only, no assertions): one mux holding 1,000 and 10,000 sessions
//! (docs/architecture.md, "What a session costs").
//!
//! Every session is its own origin, `http://127.0.X.Y:PORT`: Linux routes all of 127/8 to
//! `lo`, so one in-bench axum responder answering coop's `GET /api/v1/health` stands behind
//! all of them (it listens on the wildcard address and refuses any peer that is not
//! loopback). For each fleet size a fresh mux (default flags: health checks every 10 s,
//! prewarm as shipped) is started, the sessions are registered `REGISTER_CONCURRENCY` at a
//! time, and after two health sweeps the bench prints the mux's RSS and its CPU use over
//! `IDLE_WINDOW` with nobody watching.
//!
//! Run: `cargo bench -p server --bench scale`; set `COOPMUX_BENCH_BIN` to measure another
//! `coopmux` binary (a build of an older commit, for before/after numbers).

#[path = "../tests/support/mod.rs"]
mod support;

use axum::{response::IntoResponse, routing::get, Json, Router};
use futures_util::StreamExt;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::procs::rss_bytes;
use support::HubProcess;

/// Names another `coopmux` binary to measure (such as a build of an older commit).
const BIN_VAR: &str = "COOPMUX_BENCH_BIN";
/// Fleet sizes measured (sessions).
const FLEETS: [usize; 2] = [1_000, 10_000];
/// Registrations in flight at once (requests).
const REGISTER_CONCURRENCY: usize = 64;
/// The mux's default health check interval; the bench waits for two sweeps.
const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Window over which idle CPU is measured (three health sweeps).
const IDLE_WINDOW: Duration = Duration::from_secs(30);

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

/// The loopback address of session `n` (127.0.0.2 upwards; 127.0.0.1 is the mux's own).
fn session_url(n: usize, port: u16) -> String {
    let n = n + 2;
    format!(
        "http://127.{}.{}.{}:{port}",
        n >> 16,
        (n >> 8) & 0xff,
        n & 0xff
    )
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

/// One fleet's numbers.
struct Row {
    sessions: usize,
    registered_per_s: f64,
    rss_mib: f64,
    idle_cpu_percent: f64,
}

async fn measure(sessions: usize, port: u16) -> Row {
    let mux = match std::env::var(BIN_VAR) {
        Ok(bin) => HubProcess::try_start_bin(&bin, &[], &[]),
        Err(_) => HubProcess::try_start(&[], &[]),
    }
    .unwrap_or_else(|log| panic!("coopmux did not start:\n{log}"));
    let (base, pid) = (mux.base.clone(), mux.pid());
    let client = reqwest::Client::new();
    let started = Instant::now();
    futures_util::stream::iter(0..sessions)
        .for_each_concurrent(REGISTER_CONCURRENCY, |n| {
            let (client, base) = (&client, &base);
            async move {
                let reply = client
                    .post(format!("{base}/api/v1/sessions"))
                    .json(&json!({"url": session_url(n, port), "id": format!("s{n}")}))
                    .send()
                    .await
                    .unwrap();
                assert!(reply.status().is_success(), "register s{n}");
            }
        })
        .await;
    let registered_per_s = sessions as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(2 * HEALTH_INTERVAL).await;
    let before = cpu_time(pid);
    tokio::time::sleep(IDLE_WINDOW).await;
    let busy = cpu_time(pid) - before;
    let row = Row {
        sessions,
        registered_per_s,
        rss_mib: rss_bytes(pid) as f64 / (1024.0 * 1024.0),
        idle_cpu_percent: 100.0 * busy.as_secs_f64() / IDLE_WINDOW.as_secs_f64(),
    };
    mux.stop();
    row
}

#[tokio::main]
async fn main() {
    let port = responder().await;
    let bin = std::env::var(BIN_VAR).unwrap_or_else(|_| support::procs::BIN.to_owned());
    println!("mux binary: {bin}");
    println!(
        "sessions behind one in-bench axum health responder at 127.0.X.Y:{port}; \
         health checks every {HEALTH_INTERVAL:?}, idle CPU over {IDLE_WINDOW:?}"
    );
    println!(
        "{:>8} | {:>12} | {:>9} | {:>12} | {:>12} | {:>14}",
        "sessions", "register/s", "RSS MiB", "KiB/session", "idle CPU %", "with NATS"
    );
    for sessions in FLEETS {
        let row = measure(sessions, port).await;
        println!(
            "{:>8} | {:>12.0} | {:>9.1} | {:>12.1} | {:>12.2} | {:>14}",
            row.sessions,
            row.registered_per_s,
            row.rss_mib,
            row.rss_mib * 1024.0 / row.sessions as f64,
            row.idle_cpu_percent,
            // The NATS column: filled once sessions can register over NATS.
            "not measured",
        );
    }
}
