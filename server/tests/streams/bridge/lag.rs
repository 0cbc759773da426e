//! coop's lag replay, for real: a `/ws` `pty` client that stops reading while the child prints
//! megabytes gets one uncorrelated `replay` from where it was, then `pty` frames that may
//! overlap it (the host behaves as coop 0.11.25 does); and a mux process stopped with SIGSTOP
//! while that happens upstream still gives its clients every byte exactly once.

use crate::support::ws::{collect_until, next_text, Collector};
use crate::support::{client, eventually, file_appears, serial_stream, HubProcess, Session};
use crate::support::{TempDir, LONG_WAIT};
use base64::Engine as _;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::time::Duration;

/// Lines of `seq` printed while the reader is stalled: ≈3.4 MB, less than the host's 4 MiB
/// log (nothing may be lost), far more than a socket buffers while nobody reads.
const LINES: u64 = 500_000; // lines
/// The host's lag bound in these tests (hidden flag): a client this far behind gets a replay.
const LAG_BYTES: &str = "4096"; // bytes
/// Bound on reading the whole stream once the reader resumes.
const STREAM_WAIT: Duration = Duration::from_secs(20);

/// What the child prints (`stty -onlcr`: newlines stay as they are).
fn expected() -> Vec<u8> {
    (1..=LINES)
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect()
}

/// A host with a small lag bound whose child prints [`LINES`] lines once `go` exists in
/// `dir`, then creates `done`; returned once the child is ready.
async fn lagging_host(dir: &TempDir) -> Session {
    let script = format!(
        "stty -onlcr -echo; touch ready; while [ ! -e go ]; do sleep 0.02; done; seq 1 {LINES}; touch done; sleep 60"
    );
    let host = Session::sh(&script, dir.path(), &["--ws-lag-bytes", LAG_BYTES]).await;
    file_appears(&dir.join("ready")).await;
    host
}

/// Lets the child print everything, then waits until the host's log holds all of it.
async fn print_all(host: &Session, dir: &TempDir, size: usize) {
    std::fs::write(dir.join("go"), b"").unwrap();
    file_appears(&dir.join("done")).await;
    eventually("the host's log holds every byte", || async {
        let read = host.get_ok("/status").await["bytes_read"].as_u64();
        (read == Some(size as u64)).then_some(())
    })
    .await;
}

/// A byte stream built the way a coop client must build it: each chunk at its offset, the
/// bytes already held skipped; a chunk that starts past the end fails the test.
#[derive(Default)]
struct CoopStream {
    data: Vec<u8>,
}

impl CoopStream {
    fn end(&self) -> u64 {
        self.data.len() as u64
    }

    fn take(&mut self, offset: u64, data: &[u8]) {
        assert!(offset <= self.end(), "gap: {offset} > {}", self.end());
        let skip = (self.end() - offset) as usize;
        if skip < data.len() {
            self.data.extend_from_slice(&data[skip..]);
        }
    }
}

fn decode(frame: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(frame["data"].as_str().expect("data"))
        .expect("base64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_client_that_stops_reading_gets_one_replay_then_overlapping_frames() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("lag-host");
    let host = lagging_host(&dir).await;
    let mut ws = host.ws("subscribe=pty").await;
    // A reply proves the connection follows the output from offset 0 before it starts.
    let pong = ws.request(json!({"event": "ping"}), json!("live")).await;
    assert_eq!(pong["event"], "pong");
    let expected = expected();
    // Nothing is read while the child prints everything.
    print_all(&host, &dir, expected.len()).await;

    let mut stream = CoopStream::default();
    let (mut replays, mut overlaps) = (Vec::new(), 0);
    // When the writer first runs after the child printed everything, one replay holds it
    // all: the frame it covered partly still follows, so read on until it is here.
    while stream.end() < expected.len() as u64 || overlaps == 0 {
        let text = next_text(&mut ws, STREAM_WAIT).await.expect("open");
        let frame: Value = serde_json::from_str(&text).unwrap();
        let offset = frame["offset"].as_u64().expect("output frame");
        match frame["event"].as_str() {
            Some("replay") => {
                assert!(frame.get("request_id").is_none(), "uncorrelated: {offset}");
                assert_eq!(
                    offset,
                    stream.end(),
                    "the replay starts where the client was"
                );
                assert_eq!(frame["next_offset"], frame["total_written"]);
                replays.push(offset);
            }
            Some("pty") if offset < stream.end() => overlaps += 1,
            Some("pty") => {}
            other => panic!("unexpected {other:?}"),
        }
        stream.take(offset, &decode(&frame));
    }
    assert!(!replays.is_empty(), "the stalled client got a lag replay");
    assert!(
        overlaps >= 1,
        "a frame the replay covered partly is sent whole"
    );
    assert!(
        stream.data == expected,
        "{} bytes differ",
        stream.data.len()
    );
}

/// Sends SIGCONT on drop, so that a failing test never leaves the hub stopped.
struct Stopped(Pid);

impl Stopped {
    fn stop(pid: u32) -> Stopped {
        let pid = Pid::from_raw(pid as i32);
        kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_mux_loses_no_byte_when_the_upstream_sends_lag_replays() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("lag-mux");
    let host = lagging_host(&dir).await;
    let mux = HubProcess::start(
        &["--health-check-ms", "600000", "--prewarm-poll-ms", "600000"],
        &[("RUST_LOG", "info,coopmux::hub::bridge=debug")],
    );
    let reg = client()
        .post(format!("{}/api/v1/sessions", mux.base))
        .json(&json!({"url": host.url, "id": "lag"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 200);
    let ws_base = mux.base.replacen("http://", "ws://", 1);
    let mut ws = crate::support::Ws::connect(&format!("{ws_base}/ws/lag?subscribe=pty")).await;
    ws.send(json!({"event": "replay:get", "offset": 0})).await;
    let mut collector = Collector::default();
    collector.feed(&ws.wait_for(LONG_WAIT, |f| f["event"] == "replay").await);
    assert_eq!(collector.start, Some(0));

    let expected = expected();
    {
        // The mux process is stopped for real while the child prints everything.
        let _stopped = Stopped::stop(mux.pid());
        print_all(&host, &dir, expected.len()).await;
    }
    let marker = format!("{}\n{LINES}\n", LINES - 1);
    collect_until(
        &mut ws,
        &mut collector,
        marker.as_bytes(),
        STREAM_WAIT,
        |f| panic!("unexpected frame {f}"),
    )
    .await;
    assert!(collector.errors.is_empty(), "{:?}", collector.errors);
    assert!(
        collector.data == expected,
        "{} bytes vs {}",
        collector.data.len(),
        expected.len()
    );
    // The upstream did fall back on a lag replay: the path under test was taken.
    mux.wait_log("upstream lag replay").await;
}
