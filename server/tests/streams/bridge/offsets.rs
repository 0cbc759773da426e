//! `/ws/{id}`: several clients of one session each get exactly the child's bytes from their
//! own offset, including one that joins late and replays from the mux's bounded log.

use crate::support::ws::{bridge, collect_until, next_text, onlcr, sha256, Collector};
use crate::support::{
    eventually, file_appears, register, serial_stream, Session, TempDir, TestServer,
};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const END: &[u8] = b"__END__\r\n";
/// Bound on the whole stream (≈20.5 MB through a debug build).
const STREAM_WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_clients_get_exact_bytes_from_their_own_offsets() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("offsets");
    // The output is paced (≈10 MB/s) so that the test's own clients, parsing every frame,
    // keep within the mux's 4 MiB log; a client slower than that is resynchronised instead
    // (see `slow_client`).
    let script = "stty -echo; touch ready; head -c 15000000 /dev/urandom | base64 > out.txt; split -b 500000 out.txt part.; \
                  read go; for f in part.*; do cat $f; sleep 0.05; done; echo __END__; sleep 60";
    let _host = Session::sh(script, dir.path(), &[]).await;
    // Typed input must not be echoed into the bytes the test compares.
    file_appears(&dir.join("ready")).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &_host.url, Some("s1"), json!({}))
            .await
            .status(),
        200
    );

    let mut a = bridge(&mux, "s1", "subscribe=pty,state").await;
    let mut b = bridge(&mux, "s1", "subscribe=output").await;
    let mut early = Vec::new();
    for ws in [&mut a, &mut b] {
        ws.send(json!({"event": "replay:get", "offset": 0})).await;
        let mut c = Collector::default();
        let first = ws
            .wait_for(Duration::from_secs(10), |f| f["event"] == "replay")
            .await;
        assert!(
            first.get("request_id").is_none(),
            "no request_id given, none returned"
        );
        c.feed(&first);
        assert_eq!(c.start, Some(0));
        early.push(c);
    }
    let mut cb = early.pop().unwrap();
    let mut ca = early.pop().unwrap();

    let reply = a
        .request(
            json!({"event": "input:send", "text": "go", "enter": true}),
            json!("go-1"),
        )
        .await;
    assert_eq!(reply["event"], "input:sent", "{reply}");

    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let task_a = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + STREAM_WAIT;
        while !ca.ends_with(END) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let text = next_text(&mut a, left).await.expect("open");
            ca.feed_text(&text);
            seen.store(ca.end, Ordering::Relaxed);
        }
        ca
    });
    let task_b = tokio::spawn(async move {
        collect_until(&mut b, &mut cb, END, STREAM_WAIT, |_| {}).await;
        cb
    });

    // The late client joins once far more than the mux's 4 MiB log has flowed.
    eventually("8 MB streamed", || {
        let p = progress.load(Ordering::Relaxed);
        async move { (p > 8_000_000).then_some(()) }
    })
    .await;
    let mut c = bridge(&mux, "s1", "subscribe=pty").await;
    c.send(json!({"event": "replay:get", "offset": 0, "request_id": 17}))
        .await;
    let mut cc = Collector::default();
    let replay = c
        .wait_for(Duration::from_secs(10), |f| f["event"] == "replay")
        .await;
    assert_eq!(replay["request_id"], 17);
    cc.feed(&replay);
    collect_until(&mut c, &mut cc, END, STREAM_WAIT, |_| {}).await;

    let ca = task_a.await.unwrap();
    let cb = task_b.await.unwrap();
    let mut expected = onlcr(&std::fs::read(dir.join("out.txt")).expect("out.txt"));
    expected.extend_from_slice(END);
    assert!(expected.len() > 20_000_000);
    assert_eq!(ca.data.len(), expected.len());
    assert_eq!(sha256(&ca.data), sha256(&expected), "client a");
    assert_eq!(sha256(&cb.data), sha256(&expected), "client b");
    let late = cc.start.unwrap() as usize;
    assert!(
        late > 0,
        "the late client's replay starts where the mux log begins"
    );
    assert_eq!(
        sha256(&cc.data),
        sha256(&expected[late..]),
        "late client from {late}"
    );
    assert!(ca.errors.is_empty() && cb.errors.is_empty() && cc.errors.is_empty());
}
