//! `/ws/{id}` backpressure: a client that stops reading while ~200 MB flow neither grows the
//! mux (measured as a separate process through /proc/<pid>/status VmRSS) nor slows a second
//! client, which still gets every byte; when the stalled client reads again it is told that
//! the mux's log no longer holds its bytes and continues from what it holds.
//!
//! The child prints in chunks and waits for the reading client to ask for the next one: nothing
//! pushes back on a PTY (by design), so on a starved machine an unpaced child could outrun even
//! a reading client by more than the logs hold; the pacing keeps the reader's loss, if any, the
//! stalled client's doing.

use crate::support::procs::rss_bytes;
use crate::support::ws::{collect_until, next_text, Collector};
use crate::support::{client, file_appears, serial_stream, HubProcess, Session, TempDir, Ws};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Chunks the child prints, each followed by [`CHUNK_END`] and a wait for the reader's word:
/// base64 of 150 MB of zeros in all, ≈ 205 MB on the terminal.
const CHUNKS: u64 = 100;
/// Zero bytes per chunk, ≈ 2 MB on the terminal (under the 4 MiB logs).
const CHUNK_BYTES: u64 = 1_500_000;
/// The line that ends each chunk (no base64 text holds `_`).
const CHUNK_END: &[u8] = b"__N__\r\n";
/// Growth of the mux's RSS allowed while the stream flows: the 4 MiB log plus per-client
/// frame buffers and socket write buffers, with room for allocator slack.
const RSS_GROWTH_BOUND: u64 = 48 << 20; // 48 MiB
/// How often the mux's RSS is sampled while the stream flows (a sampling rate, not a wait).
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_costs_no_memory_and_does_not_slow_the_others() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("slow");
    let script = format!(
        "stty -echo; touch ready; read go; i=0; while [ $i -lt {CHUNKS} ]; do \
         head -c {CHUNK_BYTES} /dev/zero | base64; echo __N__; read next; i=$((i+1)); done; \
         echo __END__; sleep 60"
    );
    let host = Session::sh(&script, dir.path(), &[]).await;
    // Typed input must not be echoed into the bytes the test compares.
    file_appears(&dir.join("ready")).await;
    // A process of its own, so that its memory can be measured.
    let mux = HubProcess::start(
        &["--health-check-ms", "600000", "--prewarm-poll-ms", "600000"],
        &[],
    );
    let base = mux.base.clone();
    let pid = mux.pid();
    let reg = client()
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"url": host.url, "id": "big"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 200);
    let ws_base = base.replacen("http://", "ws://", 1);
    let mut stalled = Ws::connect(&format!("{ws_base}/ws/big?subscribe=pty")).await;
    let mut fast = Ws::connect(&format!("{ws_base}/ws/big?subscribe=pty")).await;
    fast.send(json!({"event": "replay:get", "offset": 0})).await;
    let mut fc = Collector::default();
    fc.feed(
        &fast
            .wait_for(Duration::from_secs(10), |f| f["event"] == "replay")
            .await,
    );
    stalled
        .send(json!({"event": "ping", "request_id": "p"}))
        .await;
    assert_eq!(
        stalled
            .wait_for(Duration::from_secs(10), |f| f["event"] == "pong")
            .await["request_id"],
        "p"
    );

    let baseline = rss_bytes(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                tokio::time::sleep(RSS_SAMPLE_EVERY).await;
            }
        })
    };
    fast.send(json!({"event": "input:send", "text": "go", "enter": true}))
        .await;
    // Only the fast client reads; it must get every byte, in order, with no error.
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(70);
    let mut total = 0u64;
    while !fc.ends_with(b"__END__\r\n") {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let text = next_text(&mut fast, left).await.expect("open");
        // Output ending a chunk: the reader asks for the next one.
        if fc.feed_text(&text).is_none() && fc.ends_with(CHUNK_END) {
            fast.send(json!({"event": "input:send", "text": "n", "enter": true}))
                .await;
        }
        // Keep only a tail: the content is known, its length and order are what count.
        if fc.data.len() > 1 << 20 {
            total += (fc.data.len() - 4096) as u64;
            fc.data.drain(..fc.data.len() - 4096);
        }
    }
    total += fc.data.len() as u64;
    let elapsed = started.elapsed();
    sampler.abort();
    let expected = {
        let b64 = CHUNK_BYTES.div_ceil(3) * 4;
        let chunk = b64 + b64.div_ceil(76) * 2 + CHUNK_END.len() as u64;
        CHUNKS * chunk + "__END__\r\n".len() as u64
    };
    assert_eq!(total, expected, "the reading client got every byte");
    assert!(fc.errors.is_empty(), "{:?}", fc.errors);
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!(
        "streamed {total} bytes in {elapsed:?}; mux RSS baseline {} MiB, peak growth {} MiB",
        baseline >> 20,
        growth >> 20
    );
    assert!(
        growth < RSS_GROWTH_BOUND,
        "mux RSS grew by {} MiB",
        growth >> 20
    );

    // The stalled client resumes: told what it lost, then it continues to the end.
    let mut sc = Collector::default();
    let mut dropped = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let text = next_text(&mut stalled, left).await.expect("open");
        if let Some(frame) = sc.feed_text(&text) {
            if frame["code"] == "OUTPUT_DROPPED" {
                dropped = Some(frame);
            }
        }
        if dropped.is_some() {
            break;
        }
    }
    // Its stream restarts from the log: take it from a replay of what is held.
    stalled
        .send(json!({"event": "replay:get", "offset": 0}))
        .await;
    collect_until(
        &mut stalled,
        &mut sc,
        b"__END__\r\n",
        Duration::from_secs(30),
        |_| {},
    )
    .await;
    assert!(sc.start.unwrap() > 0);
}
