//! A TCP proxy in front of a database server that a test can cut and restore,
//! to see how an environment lives through its server going away.
//!
//! Written here rather than taken from a crate: the fault-injection crates
//! drive a separate proxy server (toxiproxy); this needs only a forwarder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    listen: SocketAddr,
    target: String,
    forwarding: Option<JoinHandle<()>>,
    accepted: Arc<AtomicU64>,
}

impl Proxy {
    /// Forwards a loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let listen = listener.local_addr().expect("a bound address");
        let accepted = Arc::new(AtomicU64::new(0));
        let forwarding = Some(tokio::spawn(forward(listener, target.to_owned(), accepted.clone())));
        Proxy { listen, target: target.to_owned(), forwarding, accepted }
    }

    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// `url` with its `host:port` replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        url.replacen(&self.target, &self.listen.to_string(), 1)
    }

    /// The server is gone: the port refuses connections and every forwarded
    /// connection is closed.
    pub async fn cut(&mut self) {
        if let Some(forwarding) = self.forwarding.take() {
            forwarding.abort();
            let _ = forwarding.await;
        }
    }

    /// The server is back, on the same port.
    pub async fn restore(&mut self) {
        let listener = TcpListener::bind(self.listen).await.expect("the proxy's port again");
        self.forwarding = Some(tokio::spawn(forward(listener, self.target.clone(), self.accepted.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(forwarding) = &self.forwarding {
            forwarding.abort();
        }
    }
}

/// Aborting this task drops the set, which aborts (and closes) every connection.
async fn forward(listener: TcpListener, target: String, accepted: Arc<AtomicU64>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((mut client, _)) = listener.accept().await else { continue };
        accepted.fetch_add(1, Ordering::Relaxed);
        let target = target.clone();
        connections.spawn(async move {
            if let Ok(mut server) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}
