//! Replay integrity: ≥ 50 MB through the 4 MiB output log; clients that replay and then follow
//! `pty` frames get exactly the bytes the child wrote, with no duplicate and no gap.

use crate::support::procs::peak_rss_kib;
use crate::support::{file_appears, serial_stream, wait_for, Opts, Session, TempDir, Ws, WAIT};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// Bursts of output (≈ 51 MB of base64 text in all).
const BURSTS: u64 = 100; // bursts
/// Random bytes fed to base64 per burst.
const BURST_BYTES: u64 = 380_000; // bytes
/// Base64 text per burst: 506_668 characters plus a newline every 76.
const BURST_OUTPUT: u64 = 513_335; // bytes
/// The burst before which the child waits for the late client to join.
const JOIN_AT: u64 = 45; // burst number
/// Bound on the whole stream.
const STREAM_WAIT: Duration = Duration::from_secs(40); // 40 s

/// What one client assembled: the first offset it holds and every byte after it, in order,
/// kept as base64 while streaming (decoding unoptimised would slow the client down).
struct Received {
    start: u64,
    chunks: Vec<String>,
}

impl Received {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in &self.chunks {
            out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(chunk)
                    .unwrap(),
            );
        }
        out
    }
}

/// Decoded length of padded base64.
fn decoded_len(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3 - pad) as u64
}

/// Extracts `offset` and the base64 `data` of a pty frame without a JSON parse (hot loop).
fn pty_frame_raw(text: &str) -> Option<(u64, &str)> {
    let rest = text.strip_prefix(r#"{"event":"pty","data":""#)?;
    let (data, rest) = rest.split_once('"')?;
    let offset = rest.strip_prefix(r#","offset":"#)?.strip_suffix('}')?;
    Some((offset.parse().ok()?, data))
}

/// Like [`pty_frame_raw`], decoded.
fn pty_frame(text: &str) -> Option<(u64, Vec<u8>)> {
    let (offset, data) = pty_frame_raw(text)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    Some((offset, bytes))
}

/// Replays from `from`, then follows pty frames until `end` bytes are covered. Asserts that
/// every frame after the replay starts exactly where the previous data ended.
async fn follow(
    mut ws: Ws,
    from: u64,
    end_file: &Path,
    on_replay: tokio::sync::oneshot::Sender<()>,
) -> Received {
    let mut on_replay = Some(on_replay);
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    ws.send(json!({"event":"replay:get","offset":from,"request_id":"r"}))
        .await;
    let deadline = Instant::now() + STREAM_WAIT;
    let mut got: Option<Received> = None;
    let mut hw = 0u64;
    loop {
        assert!(
            Instant::now() < deadline,
            "stream incomplete (from {from}, at {hw}, replayed {})",
            got.is_some()
        );
        // Short waits: the last frame may arrive before the child marks the end with `done`.
        let msg = tokio::time::timeout(Duration::from_millis(250), ws.stream.next()).await;
        let text = match msg {
            Err(_) => String::new().into(),
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended early: {other:?}"),
        };
        if text.is_empty() {
            // No frame: only check for the end below.
        } else if let Some((offset, data)) = pty_frame_raw(&text) {
            // Frames before the replay reply are superseded by the replay.
            let Some(r) = got.as_mut() else { continue };
            assert_eq!(
                offset, hw,
                "pty frame must start where the data so far ends"
            );
            hw += decoded_len(data);
            r.chunks.push(data.to_owned());
        } else {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["event"] == "replay" {
                assert_eq!(frame["request_id"], "r");
                let data = frame["data"].as_str().unwrap().to_owned();
                let start = frame["offset"].as_u64().unwrap();
                hw = start + decoded_len(&data);
                assert_eq!(frame["next_offset"].as_u64().unwrap(), hw);
                if let Some(tx) = on_replay.take() {
                    let _ = tx.send(());
                }
                got = Some(Received {
                    start,
                    chunks: vec![data],
                });
            }
        }
        // The child writes `done` after tee finished, so the file size is final then.
        if end_file.with_file_name("done").exists() {
            let size = std::fs::metadata(end_file).unwrap().len();
            if hw >= size {
                if let Some(r) = got.take() {
                    assert_eq!(hw, size, "no bytes beyond what the child wrote");
                    return r;
                }
            }
        }
    }
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_follow_yields_exactly_the_child_output() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("replay");
    // Paced in bursts of ~0.5 MB: the clients are debug builds too and must not lag by more
    // than the 4 MiB log, or they would (correctly) see a gap.
    let script = format!(
        "stty raw -echo; touch ready; while [ ! -e go ]; do sleep 0.02; done; \
         for i in $(seq {BURSTS}); do \
           if [ $i = {JOIN_AT} ]; then while [ ! -e go2 ]; do sleep 0.02; done; fi; \
           head -c {BURST_BYTES} /dev/urandom | base64; sleep 0.04; \
         done | tee out.txt; touch done; sleep 60"
    );
    let opts = Opts {
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh", "-c", &script]).await;
    // Wait for `stty raw` to be in force before any output is produced.
    file_appears(&dir.join("ready")).await;
    let out = dir.join("out.txt");

    let early = s.ws("subscribe=pty").await;
    let first = tokio::spawn({
        let out = out.clone();
        let (tx, _) = tokio::sync::oneshot::channel();
        async move { follow(early, 0, &out, tx).await }
    });
    std::fs::write(dir.join("go"), b"").unwrap();

    // The second client joins once the log has wrapped several times.
    let wrapped = wait_for(WAIT, || async {
        let read = s.get_ok("/status").await["bytes_read"].as_u64().unwrap();
        (read >= (JOIN_AT - 1) * BURST_OUTPUT).then_some(())
    })
    .await;
    assert!(
        wrapped.is_some(),
        "output too slow: {}",
        s.get_ok("/status").await
    );
    let late = s.ws("subscribe=pty").await;
    let (replayed_tx, replayed_rx) = tokio::sync::oneshot::channel();
    let second = tokio::spawn({
        let out = out.clone();
        async move { follow(late, 0, &out, replayed_tx).await }
    });
    // The child waits for the late client's replay before going on: a debug-built client
    // digesting a 4 MiB replay must not be overtaken by 4 MiB of new output.
    tokio::time::timeout(WAIT, replayed_rx)
        .await
        .unwrap()
        .unwrap();
    std::fs::write(dir.join("go2"), b"").unwrap();

    let first = first.await.unwrap();
    let second = second.await.unwrap();
    let file = std::fs::read(&out).unwrap();
    assert!(file.len() >= 50_000_000, "only {} bytes", file.len());
    assert_eq!(first.start, 0);
    assert!(
        second.start > 15_000_000,
        "late client starts at {}",
        second.start
    );
    for r in [&first, &second] {
        let expected = &file[r.start as usize..];
        let bytes = r.bytes();
        assert_eq!(bytes.len(), expected.len());
        // Byte equality of everything (memcmp is fast even unoptimised) and a sha256 of the
        // last MiB as a readable fingerprint.
        assert!(bytes == expected, "content from offset {}", r.start);
        let tail = expected.len().saturating_sub(1 << 20);
        assert_eq!(sha(&bytes[tail..]), sha(&expected[tail..]));
    }
    let status = s.get_ok("/status").await;
    assert_eq!(status["bytes_read"].as_u64().unwrap(), file.len() as u64);
}

#[tokio::test]
async fn replay_of_an_overwritten_offset_starts_at_the_oldest_byte() {
    // 6 MB of `seq` output through a 4 MiB log.
    let s = Session::start(&[], &["sh", "-c", "seq 1 800000; sleep 60"]).await;
    let total = wait_for(WAIT, || async {
        let read = s.get_ok("/status").await["bytes_read"].as_u64().unwrap();
        // seq 1 800000 writes 5_488_895 bytes; each \n becomes \r\n on the terminal.
        (read >= 6_288_895).then_some(read)
    })
    .await;
    let Some(total) = total else {
        panic!("output too slow: {}", s.get_ok("/status").await);
    };
    let mut ws = s.ws("").await;
    let reply = ws
        .request(
            json!({"event":"replay:get","offset":0,"limit":100}),
            json!({"k":[1]}),
        )
        .await;
    assert_eq!(reply["event"], "replay");
    assert_eq!(reply["request_id"], json!({"k":[1]}));
    assert_eq!(reply["offset"].as_u64().unwrap(), total - (4 << 20));
    assert_eq!(
        reply["next_offset"].as_u64().unwrap(),
        total - (4 << 20) + 100
    );
    assert_eq!(reply["total_written"].as_u64().unwrap(), total);
    let tail = ws
        .request(json!({"event":"replay:get","offset":total - 7}), json!(2))
        .await;
    let data = base64::engine::general_purpose::STANDARD
        .decode(tail["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, b"800000\r\n"[1..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_resumes_from_the_log_and_the_host_stays_small() {
    let _serial = serial_stream().await;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = TempDir::new("replay");
    let script = "stty raw -echo; touch ready; while [ ! -e go ]; do sleep 0.02; done; \
         head -c 18000000 /dev/urandom | base64 | tee out.txt; touch done; sleep 60";
    let opts = Opts {
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh", "-c", script]).await;
    file_appears(&dir.join("ready")).await;
    let mut ws = s.ws("subscribe=pty").await;
    // A reply proves the connection streams from offset 0 before the output starts.
    let pong = ws.request(json!({"event": "ping"}), json!("live")).await;
    assert_eq!(pong["event"], "pong");
    std::fs::write(dir.join("go"), b"").unwrap();
    // Read nothing until the child has written everything.
    let out = dir.join("out.txt");
    let deadline = Instant::now() + STREAM_WAIT;
    let size = wait_for(STREAM_WAIT, || async {
        if !dir.join("done").exists() {
            return None;
        }
        let size = std::fs::metadata(&out).unwrap().len();
        let read = s.get_ok("/status").await["bytes_read"].as_u64().unwrap();
        (read == size).then_some(size)
    })
    .await
    .expect("child output too slow");
    let file = std::fs::read(&out).unwrap();
    let (mut end, mut jumps, mut received) = (0u64, 0, 0u64);
    while end < size {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.stream.next())
            .await
            .expect("frames in time");
        let Some(Ok(Message::Text(text))) = msg else {
            panic!("connection ended: {msg:?}");
        };
        let Some((offset, data)) = pty_frame(&text) else {
            continue;
        };
        assert!(offset >= end, "frames never go back: {offset} < {end}");
        if offset > end {
            jumps += 1;
            // A lagging client resumes at the oldest byte the 4 MiB log still held.
            assert!(offset >= size - (4 << 20), "resumed at {offset}");
        }
        let at = offset as usize;
        assert!(file[at..at + data.len()] == data[..], "content at {offset}");
        end = offset + data.len() as u64;
        received += data.len() as u64;
    }
    assert!(
        jumps >= 1,
        "the client must have lagged (received {received} of {size})"
    );
    assert_eq!(end, size);
    let hwm = peak_rss_kib(s.pid());
    assert!(hwm < 96 * 1024, "host peak RSS {hwm} KiB");
}
