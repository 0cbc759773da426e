//! A real `nats-server` (JetStream on, or off for a plain bus) on a free loopback port,
//! stopped on drop.

use super::{wait_for, TempDir, WAIT};
use std::process::{Child, Command, Stdio};

/// Where Debian's package puts the server; `PATH` is tried when it is not there.
const DEBIAN_BIN: &str = "/usr/sbin/nats-server";

/// A running `nats-server -js -a 127.0.0.1 -p PORT -sd DIR` (or without `-js`).
pub struct NatsServer {
    child: Child,
    /// Its port.
    pub port: u16,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    _store: TempDir,
}

/// A loopback port that was free a moment ago (for a server that must start later).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub async fn start() -> NatsServer {
        Self::start_on(free_port()).await
    }

    /// Starts a server without JetStream (plain NATS) on a free port.
    pub async fn start_plain() -> NatsServer {
        Self::launch(free_port(), false).await
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start_on(port: u16) -> NatsServer {
        Self::launch(port, true).await
    }

    /// Starts a plain server that accepts only clients with `token`.
    pub async fn start_with_token(token: &str) -> NatsServer {
        Self::launch_with(free_port(), false, &["--auth", token]).await
    }

    async fn launch(port: u16, jetstream: bool) -> NatsServer {
        Self::launch_with(port, jetstream, &[]).await
    }

    async fn launch_with(port: u16, jetstream: bool, extra: &[&str]) -> NatsServer {
        let bin = if std::path::Path::new(DEBIAN_BIN).exists() {
            DEBIAN_BIN
        } else {
            "nats-server"
        };
        let store = TempDir::new("nats");
        let mut cmd = Command::new(bin);
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        if jetstream {
            cmd.arg("-js").arg("-sd").arg(store.path());
        }
        cmd.args(extra);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server (scripts/setup.sh installs it)");
        let url = format!("nats://127.0.0.1:{port}");
        let server = NatsServer {
            child,
            port,
            url,
            _store: store,
        };
        wait_for(WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await
        .expect("nats-server accepts connections");
        server
    }

    /// A client of this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url)
            .await
            .expect("connect to nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
