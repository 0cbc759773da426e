//! Benchmarks of the mux's WebSockets with real processes on loopback (the mux runs as its
//! own process). Prints numbers only.
//!
//! - PTY throughput of 100 MB through `/ws/{id}` vs straight from the host's `/ws`, with one
//!   and four clients;
//! - keystroke echo latency (p50, p99 over 1000 keys; the child is `cat` on a raw terminal);
//! - `/ws/mux` fan-out: 100 sessions (10 hosts × 10 registrations, each under its own
//!   127.0.0.N address so they do not evict each other), 50 dashboard clients subscribed to
//!   all, screens changing at 1 Hz: the mux's CPU and the bytes it sends per second.

use test_support as support;

use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::ws::next_text;
use support::{HubProcess, Session, TempDir, Ws};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Zero bytes base64-encoded by the throughput child (≈100 MB on the terminal).
const SOURCE_BYTES: u64 = 75_000_000; // bytes
/// Keys typed in the latency run.
const KEYS: usize = 1000; // keys
/// Sessions and dashboard clients of the fan-out run.
const HOSTS: usize = 10; // processes
const ALIASES: usize = 10; // registrations per host
const DASHBOARDS: usize = 50; // clients
/// Measurement window of the fan-out run.
const FANOUT_WINDOW: Duration = Duration::from_secs(10); // 10 s

#[derive(serde::Deserialize)]
struct Pty<'a> {
    event: &'a str,
    #[serde(default)]
    data: Option<&'a str>,
    #[serde(default)]
    offset: Option<u64>,
}

/// Decoded length of a base64 string without decoding it.
fn b64_len(s: &str) -> u64 {
    let pad = s.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    (s.len() as u64 / 4) * 3 - pad
}

/// Reads `pty` frames until `total` bytes have arrived.
async fn drain(mut ws: Ws, total: u64) {
    loop {
        let text = next_text(&mut ws, Duration::from_secs(120))
            .await
            .expect("open");
        let frame: Pty<'_> = serde_json::from_str(&text).unwrap();
        if frame.event == "pty" {
            let end = frame.offset.unwrap() + b64_len(frame.data.unwrap());
            if end >= total {
                return;
            }
        }
    }
}

async fn register(mux: &str, url: &str, id: &str, token: Option<&str>) {
    let reply = reqwest::Client::new()
        .post(format!("{mux}/api/v1/sessions"))
        .json(&json!({"url": url, "id": id, "auth_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "register {id}");
}

async fn throughput(mux: &str, clients: usize, via_mux: bool) -> f64 {
    let dir = TempDir::new("bench-tp");
    let script = format!(
        "stty -onlcr -echo; while [ ! -e go ]; do sleep 0.01; done; head -c {SOURCE_BYTES} /dev/zero | base64; sleep 600"
    );
    let host = Session::sh(&script, dir.path(), &[]).await;
    let b64 = SOURCE_BYTES.div_ceil(3) * 4;
    let total = b64 + b64.div_ceil(76);
    let id = format!("tp-{}", uuid::Uuid::new_v4().simple());
    let url = if via_mux {
        register(mux, &host.url, &id, None).await;
        format!("{}/ws/{id}?subscribe=pty", mux.replacen("http", "ws", 1))
    } else {
        format!("{}/ws?subscribe=pty", host.url.replacen("http", "ws", 1))
    };
    let mut conns = Vec::new();
    for _ in 0..clients {
        let mut ws = Ws::connect(&url).await;
        // A round trip makes sure the bridge is up before the output starts.
        let pong = ws.request(json!({"event": "ping"}), json!("p")).await;
        assert_eq!(pong["event"], "pong");
        conns.push(ws);
    }
    let started = Instant::now();
    std::fs::write(dir.join("go"), b"").unwrap();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(drain(ws, total)))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    if via_mux {
        let _ = reqwest::Client::new()
            .delete(format!("{mux}/api/v1/sessions/{id}"))
            .send()
            .await;
    }
    drop(host);
    total as f64 / secs / 1e6
}

async fn latency(mux: &str, via_mux: bool) -> (f64, f64) {
    let dir = TempDir::new("bench-lat");
    let host = Session::sh("stty raw -echo; exec cat", dir.path(), &[]).await;
    let id = format!("lat-{}", uuid::Uuid::new_v4().simple());
    let url = if via_mux {
        register(mux, &host.url, &id, None).await;
        format!("{}/ws/{id}?subscribe=pty", mux.replacen("http", "ws", 1))
    } else {
        format!("{}/ws?subscribe=pty", host.url.replacen("http", "ws", 1))
    };
    let mut ws = Ws::connect(&url).await;
    let pong = ws.request(json!({"event": "ping"}), json!("p")).await;
    assert_eq!(pong["event"], "pong");
    let mut samples = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        let key = [b'a' + (i % 26) as u8];
        let data = base64::engine::general_purpose::STANDARD.encode(key);
        let started = Instant::now();
        ws.send(json!({"event": "input:send:raw", "data": data}))
            .await;
        loop {
            let text = next_text(&mut ws, Duration::from_secs(10))
                .await
                .expect("open");
            let frame: Pty<'_> = serde_json::from_str(&text).unwrap();
            if frame.event == "pty" {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(frame.data.unwrap())
                    .unwrap();
                if bytes.contains(&key[0]) {
                    break;
                }
            }
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    drop(host);
    (samples[KEYS / 2], samples[KEYS * 99 / 100])
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    field(11) + field(12)
}

/// A host on 0.0.0.0 whose screen changes every second; returns it and its port.
async fn spawn_wide_host(dir: &Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_coopmux"))
        .args([
            "session",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--auth-token",
            "bench-token",
            "--",
        ])
        .args(["sh", "-c", "while true; do date +%s.%N; sleep 1; done"])
        .current_dir(dir)
        // Registration off (unset would register at the default port).
        .env("COOP_MUX_URL", "")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn host");
    let mut line = String::new();
    tokio::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().to_owned();
    (child, port)
}

async fn fanout(mux: &str, mux_pid: u32) {
    let dir = TempDir::new("bench-fan");
    let mut hosts = Vec::new();
    let mut ids = Vec::new();
    for h in 0..HOSTS {
        // Bound on every loopback address, so that 127.0.0.N reach it; a token keeps it private.
        let host = spawn_wide_host(dir.path()).await;
        let port = host.1.clone();
        for a in 0..ALIASES {
            let id = format!("fan-{h}-{a}");
            let url = format!("http://127.0.0.{}:{port}", a + 1);
            register(mux, &url, &id, Some("bench-token")).await;
            ids.push(id);
        }
        hosts.push(host);
    }
    let received = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..DASHBOARDS {
        let mut ws = Ws::connect(&format!("{}/ws/mux", mux.replacen("http", "ws", 1))).await;
        ws.send(json!({"event": "subscribe", "sessions": ids}))
            .await;
        let (received, frames) = (received.clone(), frames.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.stream.next().await {
                if let Message::Text(text) = msg {
                    received.fetch_add(text.len() as u64, Ordering::Relaxed);
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Let pollers, feeds and first batches settle, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (bytes0, frames0, ticks0) = (
        received.load(Ordering::Relaxed),
        frames.load(Ordering::Relaxed),
        cpu_ticks(mux_pid),
    );
    let started = Instant::now();
    tokio::time::sleep(FANOUT_WINDOW).await;
    let secs = started.elapsed().as_secs_f64();
    let bytes = received.load(Ordering::Relaxed) - bytes0;
    let frames = frames.load(Ordering::Relaxed) - frames0;
    let ticks = cpu_ticks(mux_pid) - ticks0;
    // Clock ticks are 1/100 s on Linux.
    let cpu = ticks as f64 / 100.0 / secs * 100.0;
    println!(
        "/ws/mux fan-out ({} sessions on {HOSTS} hosts, {DASHBOARDS} clients, screens at 1 Hz): mux CPU {cpu:.1} %, sent {:.2} MB/s in {:.0} frames/s",
        ids.len(),
        bytes as f64 / secs / 1e6,
        frames as f64 / secs
    );
    for t in tasks {
        t.abort();
    }
    drop(hosts);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mux = HubProcess::start(
            &["--health-check-ms", "600000", "--prewarm-poll-ms", "600000"],
            &[],
        );
        let (base, pid) = (mux.base.clone(), mux.pid());
        for clients in [1, 4] {
            let direct = throughput(&base, clients, false).await;
            let bridged = throughput(&base, clients, true).await;
            println!(
                "PTY throughput, 100 MB, {clients} client(s): direct {direct:.0} MB/s, through the mux {bridged:.0} MB/s (per client)"
            );
        }
        let (d50, d99) = latency(&base, false).await;
        let (m50, m99) = latency(&base, true).await;
        println!(
            "keystroke echo over {KEYS} keys: direct p50 {d50:.3} ms p99 {d99:.3} ms; through the mux p50 {m50:.3} ms p99 {m99:.3} ms"
        );
        fanout(&base, pid).await;
        drop(mux);
    });
}
