//! A TDS 7.4 test endpoint backed by SQLite.
//!
//! SQL Server cannot run where dbfleet's tests run, yet the SQL Server driver must be
//! tested over the real TDS wire protocol. This crate is a small TDS 7.4 server on
//! plain TCP: it answers PRELOGIN (encryption NOT_SUP), checks LOGIN7 credentials and
//! the requested database, and executes SQL batches and RPC `sp_executesql` calls with
//! typed parameters on a real SQLite database per T-SQL database (a file in the data
//! directory), answering with LOGINACK/ENVCHANGE, COLMETADATA, ROW/NBCROW,
//! DONE/DONEINPROC/DONEPROC, RETURNSTATUS and ERROR tokens. Every answer comes from
//! SQLite executing the statement; nothing is canned.
//!
//! It is a test endpoint that proves the wire path, not T-SQL semantics: statements
//! go to SQLite after a thin rewrite (see `rewrite.rs`), declared T-SQL column types
//! pick the TDS types of results (`types.rs`), and the `sys.*` /
//! `INFORMATION_SCHEMA.*` objects the driver reads are rebuilt from SQLite's schema
//! (`catalog.rs`). Real SQL Server runs stay behind `DBFLEET_TEST_MSSQL_URL`.
//!
//! The TDS side is hand-rolled because no maintained crate provides a working
//! server: `mssql-testing` answers encryption OFF (tiberius then insists on TLS) and
//! writes the TDS version little-endian, and `mssql-mock-tds` only replays canned
//! integer responses.
//!
//! Each session runs its SQLite connection on a thread of its own and streams rows in
//! packets of the negotiated size as SQLite produces them, through a bounded queue, so
//! memory stays bounded and TCP backpressure reaches the statement; a client that
//! disconnects (or sends ATTENTION) interrupts it.

mod catalog;
mod databases;
mod errors;
mod executor;
mod lexer;
mod login;
mod packet;
mod prelogin;
mod rewrite;
mod rpc;
mod session;
mod tokens;
mod types;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::databases::{Databases, MASTER};
use crate::session::Shared;

/// How the endpoint starts.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The only login accepted (SQL Server authentication).
    pub user: String,
    pub password: String,
    /// Directory of the database files; `None` = a temporary directory owned by the
    /// endpoint and removed when it stops.
    pub data_dir: Option<PathBuf>,
}

/// A running endpoint. Stops (and closes every connection) when dropped.
pub struct Endpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Declared last so the temporary data directory outlives the server thread.
    _temp_dir: Option<tempfile::TempDir>,
}

impl Endpoint {
    /// Starts on a thread of its own with its own tokio runtime, so it outlives the
    /// caller's runtime (each `#[tokio::test]` has its own); stops when dropped.
    pub fn start(config: EndpointConfig) -> std::io::Result<Endpoint> {
        let (dir, temp_dir) = match config.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new().prefix("dbfleet-tds-endpoint-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let databases = Arc::new(Databases::new(&dir)?);
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tds-endpoint")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            user: config.user,
            password: config.password,
            databases,
            version: version(),
            accepted: AtomicU64::new(0),
            active: Arc::new(AtomicU64::new(0)),
            drop_all: watch::Sender::new(0),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let accept_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("tds-endpoint".into()).spawn(move || {
            runtime.block_on(accept_loop(listener, accept_shared, shutdown_rx));
            // Dropping the runtime drops every session task, which interrupts its statement.
            drop(runtime);
        })?;
        info!(%addr, data_dir = %dir.display(), "TDS endpoint listening");
        Ok(Endpoint { addr, shared, shutdown: Some(shutdown_tx), thread: Some(thread), _temp_dir: temp_dir })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open client connection (to test that a driver replaces broken connections).
    pub fn drop_connections(&self) {
        self.shared.drop_all.send_modify(|generation| *generation += 1);
    }

    /// Client connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Sessions whose SQLite work has not finished yet (beyond the contract: lets
    /// tests check that an abandoned statement really stopped).
    pub fn active_sessions(&self) -> u64 {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Runs a T-SQL script in `master` (the binary's `--seed`).
    pub fn seed(&self, script: &str) -> std::io::Result<()> {
        executor::run_script(&self.shared.databases, MASTER, script, &self.shared.version)
            .map_err(|e| std::io::Error::other(format!("seed failed: error {}: {}", e.number, e.message)))
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            warn!(error = %e, "cannot register the listener");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.accepted.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(session::serve(stream, Arc::clone(&shared)));
                }
                Err(e) => warn!(error = %e, "accept failed"),
            },
        }
    }
}

/// `@@VERSION`: says "SQL Server" (drivers look for it) and what really answers.
fn version() -> String {
    format!("Microsoft SQL Server compatible TDS test endpoint (dbfleet), SQLite {}", rusqlite::version())
}
