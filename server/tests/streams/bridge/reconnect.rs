//! `/ws/{id}` across an upstream drop: a TCP relay between the mux and the session host is
//! cut mid-stream. Clients keep their connection, their byte streams stay exact (the bridge
//! resumes with `replay:get` from its log's end), and a request sent during the cut is
//! answered with an error and never typed later.

use crate::support::ws::{bridge, collect_until, next_text, Collector};
use crate::support::{file_appears, register, serial_stream, Session, TempDir, TestServer, WAIT};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A loopback TCP relay the test can cut: while cut, open connections are dropped and new
/// ones are refused (accepted and closed at once), and counted.
struct Relay {
    url: String,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refused: watch::Sender<usize>,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refused = watch::Sender::new(0);
        let (c, list, r) = (cut.clone(), conns.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    r.send_modify(|n| *n += 1);
                    continue;
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(handle);
            }
        });
        Relay {
            url,
            cut,
            conns,
            refused,
            task,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// Waits until `n` connections were refused since the start.
    async fn refusals(&self, n: usize) {
        let mut seen = self.refused.subscribe();
        tokio::time::timeout(WAIT, seen.wait_for(|count| *count >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} reconnect attempts during the cut in time"))
            .expect("relay running");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the child prints: 30 bursts of `seq`, then the line read after them.
fn expected() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=30u64 {
        for n in i * 10000..=i * 10000 + 9999 {
            out.extend_from_slice(format!("{n}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"got:final\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_drop_resumes_exactly_and_fails_pending_requests() {
    let _serial = serial_stream().await;
    let dir = TempDir::new("reconnect");
    let script = "stty -echo; touch ready; read go; for i in $(seq 1 30); do seq $((i*10000)) $((i*10000+9999)); sleep 0.1; done; \
                  read y; echo \"got:$y\"; sleep 60";
    let host = Session::sh(script, dir.path(), &[]).await;
    // Typed input must not be echoed into the bytes the test compares.
    file_appears(&dir.join("ready")).await;
    let target: SocketAddr = host.url.trim_start_matches("http://").parse().unwrap();
    let relay = Relay::start(target).await;
    let mux = TestServer::with(|_| {}).await;
    assert_eq!(
        register(&mux, &relay.url, Some("r1"), json!({}))
            .await
            .status(),
        200
    );

    let mut a = bridge(&mux, "r1", "subscribe=pty").await;
    let mut b = bridge(&mux, "r1", "subscribe=pty,state").await;
    let mut ca = Collector::default();
    let mut cb = Collector::default();
    for (ws, c) in [(&mut a, &mut ca), (&mut b, &mut cb)] {
        ws.send(json!({"event": "replay:get", "offset": 0})).await;
        let replay = ws
            .wait_for(Duration::from_secs(10), |f| f["event"] == "replay")
            .await;
        c.feed(&replay);
    }
    let go = a
        .request(
            json!({"event": "input:send", "text": "go", "enter": true}),
            json!("go"),
        )
        .await;
    assert_eq!(go["event"], "input:sent", "{go}");

    let b_task = tokio::spawn(async move {
        collect_until(
            &mut b,
            &mut cb,
            b"got:final\r\n",
            Duration::from_secs(30),
            |_| {},
        )
        .await;
        cb
    });
    // Mid-stream: some output seen, most still to come.
    while ca.data.len() < 300_000 {
        let text = next_text(&mut a, Duration::from_secs(10))
            .await
            .expect("open");
        ca.feed_text(&text);
    }
    assert!(ca.data.len() < 1_500_000, "the cut must happen mid-stream");
    relay.cut();
    // The bridge has seen the drop once it tries to reconnect.
    relay.refusals(1).await;
    a.send(json!({"event": "input:send", "text": "typed-during-cut", "enter": true, "request_id": "in-1"}))
        .await;
    let mut reply = None;
    while reply.is_none() {
        let text = next_text(&mut a, Duration::from_secs(10))
            .await
            .expect("client stays connected");
        if let Some(frame) = ca.feed_text(&text) {
            if frame.get("request_id") == Some(&json!("in-1")) {
                reply = Some(frame);
            }
        }
    }
    let reply = reply.unwrap();
    assert_eq!(reply["event"], "error", "{reply}");
    assert_eq!(reply["code"], "UPSTREAM_RECONNECTING", "{reply}");
    // A few more refused attempts (the bridge backs off 100, 200, 400 ms) while the child
    // keeps writing, so the resume must replay what the cut missed.
    relay.refusals(3).await;
    relay.restore();

    // After the bursts, the child reads one line: it must be ours, not the one sent during the cut.
    collect_until(
        &mut a,
        &mut ca,
        b"309999\r\n",
        Duration::from_secs(30),
        |_| {},
    )
    .await;
    a.send(json!({"event": "input:send", "text": "final", "enter": true, "request_id": "in-2"}))
        .await;
    let mut replied = false;
    collect_until(
        &mut a,
        &mut ca,
        b"got:final\r\n",
        Duration::from_secs(10),
        |f| {
            if f.get("request_id") == Some(&json!("in-2")) {
                assert_eq!(f["event"], "input:sent", "{f}");
                replied = true;
            }
        },
    )
    .await;
    let cb = b_task.await.unwrap();
    let expected = expected();
    assert_eq!(ca.start, Some(0));
    assert!(
        ca.data == expected,
        "client a: {} bytes vs {}",
        ca.data.len(),
        expected.len()
    );
    assert!(
        cb.data == expected,
        "client b: {} bytes vs {}",
        cb.data.len(),
        expected.len()
    );
    assert!(
        ca.errors
            .iter()
            .all(|e| e["code"] == "UPSTREAM_RECONNECTING"),
        "{:?}",
        ca.errors
    );
    assert!(cb.errors.is_empty(), "{:?}", cb.errors);
    // The reply may race the last bytes; give it a moment.
    if !replied {
        let f = a
            .wait_for(Duration::from_secs(5), |f| {
                f.get("request_id") == Some(&json!("in-2"))
            })
            .await;
        assert_eq!(f["event"], "input:sent", "{f}");
    }
}
