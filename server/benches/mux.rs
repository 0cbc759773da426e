//! Mux benchmark (numbers only, no assertions):
//! - 1000 sessions registered, all served by one small responder on loopback (each session
//!   its own URL path): the mux's RSS and the duration of one health sweep;
//! - proxy overhead: `POST …/input` through the mux vs straight to the responder, p50/p99
//!   over 2000 sequential requests.
//!
//! Run: `cargo bench -p server --bench mux`.

use test_support as support;

use axum::{routing::get, routing::post, Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::procs::rss_bytes;
use support::HubProcess;

/// Registered sessions (count).
const SESSIONS: usize = 1000;
/// Timed proxy requests per path (count).
const REQUESTS: usize = 2000;
/// Untimed requests first, to fill connection pools (count).
const WARMUP: usize = 100;
/// Health check interval given to the mux, in milliseconds.
const HEALTH_MS: u64 = 2000;

/// RSS of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    rss_bytes(pid) / 1024
}

async fn responder() -> String {
    let app = Router::new()
        .route(
            "/s/{n}/api/v1/health",
            get(|| async { Json(json!({"status":"running"})) }),
        )
        .route(
            "/s/{n}/api/v1/input",
            post(|Json(body): Json<Value>| async move {
                let n = body["text"].as_str().map_or(0, str::len);
                Json(json!({"bytes_written": n}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn time_posts(client: &reqwest::Client, url: &str) -> (Duration, Duration) {
    let body = json!({"text":"hello","enter":false});
    for _ in 0..WARMUP {
        client
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let reply = client.post(url).json(&body).send().await.unwrap();
        assert!(reply.status().is_success());
        reply.bytes().await.unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.50), percentile(&samples, 0.99))
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let upstream = responder().await;
    let mux = HubProcess::start(
        &[
            "--health-check-ms",
            &HEALTH_MS.to_string(),
            "--prewarm-poll-ms",
            "3600000",
        ],
        &[],
    );
    let (base, pid) = (mux.base.clone(), mux.pid());
    let client = reqwest::Client::new();
    let idle_rss = rss_kib(pid);

    let started = Instant::now();
    futures_util::stream::iter(0..SESSIONS)
        .for_each_concurrent(32, |n| {
            let (client, base, upstream) = (&client, &base, &upstream);
            async move {
                let reply = client
                    .post(format!("{base}/api/v1/sessions"))
                    .json(&json!({"url": format!("{upstream}/s/{n}"), "id": format!("s{n}")}))
                    .send()
                    .await
                    .unwrap();
                assert!(reply.status().is_success(), "register s{n}");
            }
        })
        .await;
    let register_time = started.elapsed();
    // Two intervals later, the last completed sweep started after every registration.
    tokio::time::sleep(Duration::from_millis(2 * HEALTH_MS + 200)).await;
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sessions = metric(&text, "coopmux_sessions");
    let sweep = metric(&text, "coopmux_health_sweep_duration_seconds");
    let loaded_rss = rss_kib(pid);

    let (direct_p50, direct_p99) =
        time_posts(&client, &format!("{upstream}/s/0/api/v1/input")).await;
    let (mux_p50, mux_p99) = time_posts(&client, &format!("{base}/api/v1/sessions/s0/input")).await;

    println!("sessions registered: {sessions} (in {register_time:.2?}, 32 concurrent)");
    println!("mux RSS idle: {} KiB", idle_rss);
    println!("mux RSS with {SESSIONS} sessions: {} KiB", loaded_rss);
    println!(
        "health sweep of {SESSIONS} sessions: {:.1} ms",
        sweep * 1000.0
    );
    println!("POST input direct: p50 {direct_p50:.2?} p99 {direct_p99:.2?} ({REQUESTS} requests)");
    println!("POST input via mux: p50 {mux_p50:.2?} p99 {mux_p99:.2?} ({REQUESTS} requests)");
    println!(
        "proxy overhead: p50 +{:.2?} p99 +{:.2?}",
        mux_p50.saturating_sub(direct_p50),
        mux_p99.saturating_sub(direct_p99)
    );
}
