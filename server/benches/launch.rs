//! Launch → registered latency: a real `coopmux` hub launching `coopmux session -- sh` 20
//! times, one after another; prints p50 and max. Asserts nothing but that every launch
//! registers within the wait limit.

use test_support as support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{wait_every, HubProcess, LONG_WAIT};

/// Launches measured.
const LAUNCHES: usize = 20;

#[tokio::main]
async fn main() {
    let mux = HubProcess::start(
        &[
            "--launch",
            "exec coopmux session -- sh",
            "--max-pending-launches",
            "64",
        ],
        &[],
    );
    let client = mux.client();
    let mut latencies = Vec::with_capacity(LAUNCHES);
    for _ in 0..LAUNCHES {
        let started = Instant::now();
        let reply: Value = client
            .post(format!("{}/api/v1/sessions/launch", mux.base))
            .send()
            .await
            .expect("launch")
            .json()
            .await
            .expect("launch reply");
        let launch_id = reply["launch_id"].as_str().expect("launch_id").to_owned();
        let url = format!("{}/api/v1/launches/{launch_id}", mux.base);
        // 2 ms polling: fine enough for latencies of tens of milliseconds.
        let registered = wait_every(LONG_WAIT, Duration::from_millis(2), || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let detail: Value = client.get(url).send().await.ok()?.json().await.ok()?;
                (detail["state"] == "registered").then_some(())
            }
        })
        .await;
        assert!(registered.is_some(), "launch {launch_id} did not register");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "launch -> registered (coopmux session -- sh), {LAUNCHES} launches: p50 {:.1} ms, max {:.1} ms, min {:.1} ms",
        ms(latencies[LAUNCHES / 2]),
        ms(latencies[LAUNCHES - 1]),
        ms(latencies[0]),
    );
    mux.stop();
}
