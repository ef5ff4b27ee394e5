//! An environment's tunnel: a listener on a loopback port that lives as
//! long as the environment, and the SSH sessions behind it. The driver's
//! pool connects to the listener; each connection it opens is forwarded
//! over the current sessions. Sessions that have dropped are opened again by
//! the next connection (or by [`Tunnel::connect`], which the environment
//! calls on every connection attempt and recovery probe), so the port, and
//! the pool's settings, never change.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::hops::{self, Hop};
use super::session::{Chain, Credentials};
use crate::config::SshConfig;
use crate::error::{DbError, ErrorKind};

/// What `health_check` and `test_connection` show of a tunnel.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TunnelStatus {
    /// The SSH servers crossed and the database server they lead to
    /// (`ops@gw:22 -> deploy@bastion:22 -> db.internal:5432`).
    pub route: String,
    /// Whether the SSH sessions are up.
    pub connected: bool,
    /// SSH sessions opened so far: more than one means it was re-established.
    pub sessions_opened: u64,
    /// Database connections forwarded so far.
    pub connections_forwarded: u64,
}

pub struct Tunnel {
    shared: Arc<Shared>,
    local: SocketAddr,
    accept: JoinHandle<()>,
}

struct Shared {
    ssh: SshConfig,
    target: (String, u16),
    connect_timeout: Duration,
    /// The live sessions. Held across a reconnection, so that connections
    /// arriving meanwhile wait for it instead of each opening sessions.
    chain: tokio::sync::Mutex<Option<Arc<Chain>>>,
    route: Mutex<String>,
    /// Why the last forwarded connection failed, for the connection attempt
    /// that saw only its socket close.
    forward_error: Mutex<Option<DbError>>,
    sessions_opened: AtomicU64,
    connections_forwarded: AtomicU64,
}

impl Tunnel {
    /// Binds the local port. No SSH session is opened until [`Tunnel::connect`]
    /// or the first connection.
    pub async fn open(
        ssh: &SshConfig,
        target: (String, u16),
        connect_timeout: Duration,
    ) -> Result<Tunnel, DbError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(|err| {
            DbError::internal(format!("cannot open a local port for the SSH tunnel: {err}"))
        })?;
        let local = listener.local_addr().map_err(|err| DbError::internal(err.to_string()))?;
        let shared = Arc::new(Shared {
            route: Mutex::new(format!("{} -> {}:{}", ssh.host, target.0, target.1)),
            ssh: ssh.clone(),
            target,
            connect_timeout,
            chain: tokio::sync::Mutex::new(None),
            forward_error: Mutex::new(None),
            sessions_opened: AtomicU64::new(0),
            connections_forwarded: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Tunnel { shared, local, accept })
    }

    /// The loopback address drivers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Makes sure the SSH sessions are up, opening them again if they dropped.
    pub async fn connect(&self) -> Result<(), DbError> {
        self.shared.forward_error.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.shared.live_chain().await.map(drop)
    }

    /// Why the last forwarded connection failed, if one has since the last
    /// [`Tunnel::connect`]: the precise cause behind a driver's "connection
    /// closed".
    pub fn take_forward_error(&self) -> Option<DbError> {
        self.shared.forward_error.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    pub fn status(&self) -> TunnelStatus {
        let connected = match self.shared.chain.try_lock() {
            Ok(chain) => chain.as_ref().is_some_and(|chain| !chain.is_closed()),
            // A reconnection is under way.
            Err(_) => false,
        };
        TunnelStatus {
            route: self.shared.route.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            connected,
            sessions_opened: self.shared.sessions_opened.load(Ordering::Relaxed),
            connections_forwarded: self.shared.connections_forwarded.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting and ends the SSH sessions.
    pub async fn close(&self) {
        self.accept.abort();
        if let Some(chain) = self.shared.chain.lock().await.take() {
            chain.close().await;
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Shared {
    /// The current sessions, or new ones when there are none or they ended.
    async fn live_chain(&self) -> Result<Arc<Chain>, DbError> {
        let mut slot = self.chain.lock().await;
        if let Some(chain) = slot.as_ref().filter(|chain| !chain.is_closed()) {
            return Ok(chain.clone());
        }
        if let Some(old) = slot.take() {
            old.close().await;
        }
        let hops = hops::resolve(&self.ssh)?;
        *self.route.lock().unwrap_or_else(PoisonError::into_inner) = route(&hops, &self.target);
        let credentials = Credentials {
            passphrase: self.ssh.key_passphrase.clone(),
            agent: self.ssh.agent,
            keepalive_interval: self.ssh.keepalive_interval,
        };
        let chain = tokio::time::timeout(self.connect_timeout, Chain::connect(&hops, &credentials))
            .await
            .unwrap_or_else(|_| {
                Err(DbError::new(
                    ErrorKind::Timeout,
                    format!(
                        "ssh: no SSH session with {} within {} s (connect_timeout_secs)",
                        hops.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "),
                        self.connect_timeout.as_secs_f64()
                    ),
                )
                .with_code("ssh_unreachable"))
            })?;
        self.sessions_opened.fetch_add(1, Ordering::Relaxed);
        tracing::info!(route = %route(&hops, &self.target), "SSH tunnel up");
        let chain = Arc::new(chain);
        *slot = Some(chain.clone());
        Ok(chain)
    }

    /// A connection to the database server over the sessions, re-opening
    /// them once if they turn out to have ended.
    async fn open_forward(&self) -> Result<russh::ChannelStream<russh::client::Msg>, DbError> {
        let (host, port) = (&self.target.0, self.target.1);
        let chain = self.live_chain().await?;
        match chain.forward(host, port).await {
            Err(_) if chain.is_closed() => self.live_chain().await?.forward(host, port).await,
            outcome => outcome,
        }
    }

    async fn forward(&self, mut socket: TcpStream) {
        let mut remote = match self.open_forward().await {
            Ok(remote) => remote,
            Err(err) => {
                tracing::warn!(error = %err, "SSH tunnel: a connection could not be forwarded");
                *self.forward_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
                return;
            }
        };
        self.connections_forwarded.fetch_add(1, Ordering::Relaxed);
        // Ends when either side closes; a broken session ends both.
        let _ = tokio::io::copy_bidirectional(&mut socket, &mut remote).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                let _ = socket.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move { shared.forward(socket).await });
            }
            Err(err) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                tracing::warn!(error = %err, "SSH tunnel: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn route(hops: &[Hop], target: &(String, u16)) -> String {
    let mut parts: Vec<String> = hops.iter().map(ToString::to_string).collect();
    parts.push(format!("{}:{}", target.0, target.1));
    parts.join(" -> ")
}
