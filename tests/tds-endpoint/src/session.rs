//! One client connection: PRELOGIN and LOGIN7 on the async side, then a loop that
//! hands requests to the session's SQLite worker thread and writes its packets back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::InterruptHandle;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info};

use crate::databases::{Databases, MASTER};
use crate::errors::SqlError;
use crate::executor::{CancelFlags, Request, Worker};
use crate::login::{self, Login};
use crate::packet::{self, DEFAULT_PACKET_SIZE, Message, PacketSink};
use crate::prelogin;
use crate::tokens::{self, DONE, DONE_ERROR, DONE_FINAL};

/// Packets buffered between the worker and the socket; small, so a client that stops
/// reading stops the worker.
const PACKET_QUEUE: usize = 8;
const MIN_PACKET_SIZE: u32 = 512;
const MAX_PACKET_SIZE: u32 = 32767;

/// What every session shares with the endpoint.
pub struct Shared {
    pub user: String,
    pub password: String,
    pub databases: Arc<Databases>,
    pub version: String,
    pub accepted: AtomicU64,
    /// Sessions whose SQLite worker thread is still running.
    pub active: Arc<AtomicU64>,
    /// Bumped by `Endpoint::drop_connections`: every session closes.
    pub drop_all: watch::Sender<u64>,
}

/// Serves one connection until the client leaves, errs, or the endpoint drops it.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let peer = stream.peer_addr().ok();
    match run(stream, &shared).await {
        Ok(()) => debug!(?peer, "session ended"),
        Err(e) => debug!(?peer, error = %e, "session ended with an error"),
    }
}

/// On drop (session end, however it happens) marks the client gone and interrupts the
/// statement the worker may be running.
struct CancelOnDrop {
    flags: Arc<CancelFlags>,
    interrupt: InterruptHandle,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.flags.closed.store(true, Ordering::Release);
        self.interrupt.interrupt();
    }
}

/// Aborts the socket reader task when the session ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(stream: TcpStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut drop_all = shared.drop_all.subscribe();
    let (mut reader, mut writer) = stream.into_split();

    let prelogin = expect(&mut reader, packet::TYPE_PRELOGIN).await?;
    debug!(bytes = prelogin.payload.len(), "PRELOGIN");
    writer.write_all(&packet::frame(&prelogin::response(), DEFAULT_PACKET_SIZE)).await?;

    let login_message = expect(&mut reader, packet::TYPE_LOGIN7).await?;
    let login = login::parse(&login_message.payload).map_err(std::io::Error::other)?;
    let database = if login.database.is_empty() { MASTER.to_string() } else { login.database.clone() };
    if login.user != shared.user || login.password != shared.password {
        info!(user = %login.user, "login failed");
        return refuse(&mut writer, SqlError::login_failed(&login.user)).await;
    }
    let packet_size = negotiated_packet_size(&login);

    let flags = Arc::new(CancelFlags::default());
    let (packets_tx, mut packets_rx) = mpsc::channel(PACKET_QUEUE);
    let (requests_tx, requests_rx) = std::sync::mpsc::channel();
    let started = start_worker(
        shared,
        &database,
        login.read_only,
        Arc::clone(&flags),
        PacketSink::new(packets_tx, packet_size),
        requests_rx,
    )
    .await;
    let (database, interrupt) = match started {
        Ok(started) => started,
        Err(error) => return refuse(&mut writer, error).await,
    };
    let cancel = CancelOnDrop { flags: Arc::clone(&flags), interrupt };
    info!(user = %login.user, %database, read_only = login.read_only, packet_size, "login");
    writer.write_all(&packet::frame(&login_ack(&database, packet_size), packet_size)).await?;

    let (incoming_tx, mut incoming_rx) = mpsc::channel::<Message>(PACKET_QUEUE);
    let _reader = AbortOnDrop(tokio::spawn(async move {
        while let Ok(Some(message)) = packet::read_message(&mut reader).await {
            if incoming_tx.send(message).await.is_err() {
                break;
            }
        }
    }));

    loop {
        tokio::select! {
            incoming = incoming_rx.recv() => {
                let Some(message) = incoming else { return Ok(()) };
                let request = match message.kind {
                    packet::TYPE_SQL_BATCH => Request::Batch(message.payload),
                    packet::TYPE_RPC => Request::Rpc(message.payload),
                    packet::TYPE_TRANSACTION_MANAGER => Request::TransactionManager(message.payload),
                    packet::TYPE_ATTENTION => {
                        cancel.flags.attention.store(true, Ordering::Release);
                        cancel.interrupt.interrupt();
                        Request::Attention
                    }
                    other => {
                        return Err(std::io::Error::other(format!("unexpected TDS packet type 0x{other:02X}")));
                    }
                };
                if requests_tx.send(request).is_err() {
                    return Ok(());
                }
            }
            outgoing = packets_rx.recv() => {
                let Some(packet) = outgoing else { return Ok(()) };
                writer.write_all(&packet).await?;
            }
            _ = drop_all.changed() => {
                debug!("connection dropped by the endpoint");
                return Ok(());
            }
        }
    }
}

async fn expect(reader: &mut tokio::net::tcp::OwnedReadHalf, kind: u8) -> std::io::Result<Message> {
    match packet::read_message(reader).await? {
        Some(message) if message.kind == kind => Ok(message),
        Some(message) => Err(std::io::Error::other(format!(
            "expected TDS packet type 0x{kind:02X}, got 0x{:02X}",
            message.kind
        ))),
        None => Err(std::io::Error::other("client closed the connection during login")),
    }
}

/// The packet size the client asked for, within what TDS allows (0 = our default).
fn negotiated_packet_size(login: &Login) -> usize {
    if login.packet_size == 0 {
        DEFAULT_PACKET_SIZE
    } else {
        login.packet_size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE) as usize
    }
}

/// Starts the session's worker thread; it opens the database and reports back its
/// stored name and an interrupt handle.
async fn start_worker(
    shared: &Arc<Shared>,
    database: &str,
    read_only: bool,
    flags: Arc<CancelFlags>,
    sink: PacketSink,
    requests: std::sync::mpsc::Receiver<Request>,
) -> Result<(String, InterruptHandle), SqlError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let databases = Arc::clone(&shared.databases);
    let version = shared.version.clone();
    let active = Arc::clone(&shared.active);
    let requested = database.to_string();
    let spawned = std::thread::Builder::new().name(format!("tds-session-{requested}")).spawn(move || {
        active.fetch_add(1, Ordering::AcqRel);
        let opened = databases.open(&requested).and_then(|conn| {
            let interrupt = conn.get_interrupt_handle();
            let stored = databases
                .list()
                .into_iter()
                .find(|n| n.eq_ignore_ascii_case(&requested))
                .unwrap_or(requested);
            Worker::new(conn, stored.clone(), read_only, databases, flags, sink, version)
                .map(|w| (w, stored, interrupt))
        });
        match opened {
            Ok((worker, stored, interrupt)) => {
                if ready_tx.send(Ok((stored, interrupt))).is_ok() {
                    worker.run(requests);
                }
            }
            Err(error) => {
                let _ = ready_tx.send(Err(error));
            }
        }
        active.fetch_sub(1, Ordering::AcqRel);
    });
    if let Err(e) = spawned {
        return Err(SqlError::other(format!("cannot start a session thread: {e}")));
    }
    ready_rx.await.unwrap_or_else(|_| Err(SqlError::other("session thread ended during login")))
}

/// LOGINACK and the environment a client expects after a successful login.
fn login_ack(database: &str, packet_size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    tokens::env_change_text(&mut out, tokens::ENV_DATABASE, database, MASTER);
    tokens::env_change_collation(&mut out);
    tokens::login_ack(&mut out, "Microsoft SQL Server");
    let size = packet_size.to_string();
    tokens::env_change_text(&mut out, tokens::ENV_PACKET_SIZE, &size, &size);
    tokens::done(&mut out, DONE, DONE_FINAL, None);
    out
}

/// Answers a failed login with ERROR + DONE, then ends the connection.
async fn refuse(writer: &mut OwnedWriteHalf, error: SqlError) -> std::io::Result<()> {
    let mut out = Vec::new();
    tokens::error(&mut out, error.number, error.state, error.class, &error.message);
    tokens::done(&mut out, DONE, DONE_ERROR, None);
    writer.write_all(&packet::frame(&out, DEFAULT_PACKET_SIZE)).await?;
    writer.shutdown().await
}
