//! Benchmarks of `coopmux session` with real processes on loopback. Prints numbers only.
//!
//! - PTY→WebSocket throughput for 100 MB of `seq` output, one client and four clients;
//! - keystroke echo latency at a bash prompt over `/ws` (p50, p99 of 1000 keys);
//! - peak RSS (VmHWM) of the host after 1 GB of output.

use test_support as support;

use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use support::{Opts, Session, TempDir, Ws};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Output of the throughput runs.
const THROUGHPUT_BYTES: u64 = 100_000_000; // bytes
/// Output of the memory run.
const MEMORY_BYTES: u64 = 1_000_000_000; // bytes
/// Keys typed in the latency run.
const KEYS: usize = 1000; // keys
/// Bound on one run.
const RUN_WAIT: Duration = Duration::from_secs(300); // 5 min

/// Bytes `seq 1 n` writes (without `\r`: the runs turn `onlcr` off).
fn seq_bytes(n: u64) -> u64 {
    let mut total = 0;
    let mut start = 1;
    let mut digits = 1;
    while start <= n {
        let end = (start * 10 - 1).min(n);
        total += (end - start + 1) * (digits + 1);
        start *= 10;
        digits += 1;
    }
    total
}

/// The smallest `n` with `seq_bytes(n) >= bytes`.
fn seq_count_for(bytes: u64) -> u64 {
    let (mut lo, mut hi) = (1, bytes);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if seq_bytes(mid) >= bytes {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// A session that runs `seq 1 n` once the file `go` exists; returns it and the byte count.
async fn seq_session(dir: &TempDir, bytes: u64) -> (Session, u64) {
    let n = seq_count_for(bytes);
    let script =
        format!("stty -onlcr -echo; while [ ! -e go ]; do sleep 0.01; done; seq 1 {n}; sleep 600");
    let opts = Opts {
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh", "-c", &script]).await;
    // Let `stty` take effect before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (s, seq_bytes(n))
}

/// Follows pty frames until `end`; returns (bytes received, bytes skipped because of lag).
async fn drain(mut ws: Ws, end: u64) -> (u64, u64) {
    let mut hw: Option<u64> = None;
    let (mut received, mut skipped) = (0u64, 0u64);
    while hw.unwrap_or(0) < end {
        let msg = ws.stream.next().await.expect("open").expect("frame");
        let Message::Text(text) = msg else { continue };
        let Some(rest) = text.strip_prefix(r#"{"event":"pty","data":""#) else {
            continue;
        };
        let (data, rest) = rest.split_once('"').expect("data");
        let offset: u64 = rest[10..rest.len() - 1].parse().expect("offset");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64");
        if let Some(h) = hw {
            skipped += offset.saturating_sub(h);
        }
        received += bytes.len() as u64;
        hw = Some(offset + bytes.len() as u64);
    }
    (received, skipped)
}

async fn throughput(clients: usize) {
    let dir = TempDir::new("bench");
    let (s, end) = seq_session(&dir, THROUGHPUT_BYTES).await;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ws = s.ws("subscribe=pty").await;
        tasks.push(tokio::spawn(drain(ws, end)));
    }
    let started = Instant::now();
    std::fs::write(dir.join("go"), b"").unwrap();
    let mut skipped = 0;
    for task in tasks {
        let (_, lost) = tokio::time::timeout(RUN_WAIT, task)
            .await
            .expect("run in time")
            .unwrap();
        skipped += lost;
    }
    let secs = started.elapsed().as_secs_f64();
    let mb = end as f64 / 1e6;
    println!(
        "throughput, {clients} client(s): {mb:.0} MB in {secs:.2} s = {:.1} MB/s per client, \
         {:.1} MB/s total; bytes skipped by lag: {skipped}",
        mb / secs,
        mb * clients as f64 / secs
    );
}

async fn latency() {
    let s = Session::start(&[], &["bash", "--norc", "--noprofile"]).await;
    s.wait_text("$").await;
    let mut ws = s.ws("subscribe=pty").await;
    let mut samples = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        let started = Instant::now();
        // "a"
        ws.send(json!({"event":"input:send:raw","data":"YQ=="}))
            .await;
        ws.wait_for(RUN_WAIT, |f| f["event"] == "pty").await;
        samples.push(started.elapsed());
        // Erase it again (DEL) so the line never wraps; not measured.
        ws.send(json!({"event":"input:send:raw","data":"fw=="}))
            .await;
        ws.wait_for(RUN_WAIT, |f| f["event"] == "pty").await;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "keystroke echo over /ws, {KEYS} keys: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn memory() {
    let dir = TempDir::new("bench");
    let (s, end) = seq_session(&dir, MEMORY_BYTES).await;
    let before = vm_hwm_kib(s.pid());
    let ws = s.ws("subscribe=pty,screen,state").await;
    let client = tokio::spawn(drain(ws, end));
    let started = Instant::now();
    std::fs::write(dir.join("go"), b"").unwrap();
    let (_, skipped) = tokio::time::timeout(RUN_WAIT, client)
        .await
        .expect("run in time")
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let status = s.get_ok("/status").await;
    println!(
        "memory: {:.2} GB of output in {secs:.1} s ({:.0} MB/s, one client, {skipped} bytes \
         skipped by lag); host VmHWM {:.1} MB before, {:.1} MB after",
        status["bytes_read"].as_u64().unwrap() as f64 / 1e9,
        end as f64 / 1e6 / secs,
        before as f64 / 1024.0,
        vm_hwm_kib(s.pid()) as f64 / 1024.0
    );
}

fn main() {
    // The byte counts drive when a run is complete; check the formula against `seq` itself.
    let real = std::process::Command::new("seq")
        .args(["1", "100000"])
        .output();
    assert_eq!(real.expect("seq").stdout.len() as u64, seq_bytes(100_000));
    // `cargo bench` passes `--bench`; any other argument is a name filter like libtest's.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if wants("throughput") {
            throughput(1).await;
            throughput(4).await;
        }
        if wants("latency") {
            latency().await;
        }
        if wants("memory") {
            memory().await;
        }
    });
}
