//! A TCP forwarder on loopback, standing in for what lies between a client and its servers in a
//! real cluster: a Service, where kube-proxy picks a serving endpoint for each new connection
//! and leaves established connections where they are, or the network path to KMS, which can go
//! down and come back. Bytes pass through untouched, so TLS stays end to end.
//!
//! It runs on its own thread and runtime: fixtures outlive the runtime of the test that made
//! them.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use crate::error::{HarnessError, Result};

/// A running forwarder; dropping it stops it and closes every connection through it.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Shared {
    /// Where new connections go, in turn; none means new connections are closed at once.
    backends: Mutex<Backends>,
    /// Bumped to close every established connection.
    cuts: watch::Sender<u64>,
    accepted: AtomicU64,
    /// Accepted connections closed at once because there was no backend.
    turned_away: AtomicU64,
}

#[derive(Debug, Default)]
struct Backends {
    addrs: Vec<SocketAddr>,
    next: usize,
}

impl Backends {
    fn pick(&mut self) -> Option<SocketAddr> {
        if self.addrs.is_empty() {
            return None;
        }
        let addr = self.addrs[self.next % self.addrs.len()];
        self.next = self.next.wrapping_add(1);
        Some(addr)
    }
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `backends` in turn.
    pub fn start(backends: &[SocketAddr]) -> Result<Self> {
        let listener =
            StdListener::bind("127.0.0.1:0").map_err(HarnessError::io("binding the tcp proxy"))?;
        listener
            .set_nonblocking(true)
            .map_err(HarnessError::io("configuring the tcp proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(HarnessError::io("reading the tcp proxy's address"))?;
        let shared = Arc::new(Shared {
            backends: Mutex::new(Backends {
                addrs: backends.to_vec(),
                next: 0,
            }),
            cuts: watch::channel(0).0,
            accepted: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HarnessError::io("starting the tcp proxy's runtime"))?;
        let serving = shared.clone();
        std::thread::Builder::new()
            .name(format!("tcp-proxy-{}", addr.port()))
            .spawn(move || runtime.block_on(serve(listener, serving, stopped)))
            .map_err(HarnessError::io("starting the tcp proxy's thread"))?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections go from now on; established connections stay where they are.
    pub fn set_backends(&self, backends: &[SocketAddr]) {
        let mut current = self.shared.backends.lock().expect("tcp proxy state");
        current.addrs = backends.to_vec();
    }

    pub fn add_backend(&self, backend: SocketAddr) {
        let mut current = self.shared.backends.lock().expect("tcp proxy state");
        current.addrs.push(backend);
    }

    pub fn remove_backend(&self, backend: SocketAddr) {
        let mut current = self.shared.backends.lock().expect("tcp proxy state");
        current.addrs.retain(|a| *a != backend);
    }

    /// Closes every connection through the proxy now, as a broken link does.
    pub fn cut(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once because there was no backend: the clients that met the outage.
    pub fn turned_away(&self) -> u64 {
        self.shared.turned_away.load(Ordering::Relaxed)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(listener: StdListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    // Connections run on this runtime, so they end when it does.
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else { continue };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let backend = shared.backends.lock().expect("tcp proxy state").pick();
        let Some(backend) = backend else {
            shared.turned_away.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        };
        let cuts = shared.cuts.subscribe();
        tokio::spawn(forward(client, backend, cuts));
    }
}

async fn forward(mut client: TcpStream, backend: SocketAddr, mut cuts: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cuts.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(proxy: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(proxy).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_while_it_has_backends_and_cuts_on_demand() {
        let echo = echo_server().await;
        let proxy = TcpProxy::start(&[echo]).unwrap();
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");

        let mut held = TcpStream::connect(proxy.addr()).await.unwrap();
        held.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        held.read_exact(&mut one).await.unwrap();

        proxy.set_backends(&[]);
        assert!(
            round_trip(proxy.addr()).await.is_err(),
            "no backend: new connections are closed"
        );
        held.write_all(b"y").await.unwrap();
        held.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"y", "an established connection stays");

        proxy.cut();
        let mut rest = Vec::new();
        let n = held.read_to_end(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0, "a cut closes established connections");

        proxy.add_backend(echo);
        assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");
        assert_eq!(proxy.accepted(), 4);
        assert_eq!(
            proxy.turned_away(),
            1,
            "only the connection without a backend"
        );
    }
}
