use std::fmt::{self, Debug, Formatter};
use std::future::Future;

pub(crate) use sqlx_core::connection::*;
use sqlx_core::sql_str::SqlSafeStr;
pub(crate) use stream::{MySqlStream, Waiting};

use crate::collation::Collation;
use crate::common::StatementCache;
use crate::error::Error;
use crate::protocol::response::Status;
use crate::protocol::statement::StmtClose;
use crate::protocol::text::{Ping, Quit};
use crate::statement::MySqlStatementMetadata;
use crate::transaction::Transaction;
use crate::{MySql, MySqlConnectOptions};

mod auth;
mod establish;
mod executor;
mod stream;
mod tls;

const MAX_PACKET_SIZE: u32 = 1024;

/// The charset parameter sent in the `Protocol::HandshakeResponse41` packet.
///
/// This becomes the default if `set_names = false`,
/// and also ensures that any error messages returned before `SET NAMES` are encoded correctly.
#[allow(clippy::cast_possible_truncation)]
const INITIAL_CHARSET: u8 = Collation::UTF8MB4_GENERAL_CI.0 as u8;

/// A connection to a MySQL database.
pub struct MySqlConnection {
    pub(crate) inner: Box<MySqlConnectionInner>,
}

pub(crate) struct MySqlConnectionInner {
    // underlying TCP stream,
    // wrapped in a potentially TLS stream,
    // wrapped in a buffered stream
    pub(crate) stream: MySqlStream,

    // transaction status
    pub(crate) transaction_depth: usize,
    status_flags: Status,

    // cache by query string to the statement id and metadata
    cache_statement: StatementCache<(u32, MySqlStatementMetadata)>,

    log_settings: LogSettings,

    // a statement to send ahead of the next one (dbfleet patch, see
    // `MySqlConnection::run_before_next_statement`)
    pub(crate) run_first: Option<&'static str>,

    // a text query to send behind the next statement, and the one that went
    // out so (dbfleet patch, see `MySqlConnection::run_after_next_statement`)
    pub(crate) run_after: Option<String>,
    pub(crate) sent_after: Option<String>,
}

impl MySqlConnection {
    /// The connection id the server announced in its handshake. A proxy
    /// between client and server may announce one of its own (dbfleet
    /// patch).
    pub fn connection_id(&self) -> u32 {
        self.inner.stream.connection_id
    }

    /// Sends `sql`, a text query without rows (`START TRANSACTION READ
    /// ONLY`, say), ahead of the next prepared statement's execution, in the
    /// same write and without waiting for its answer, which is read before
    /// the statement's: if it fails, its error is the statement's, and the
    /// statement's own answer is read and dropped before the connection's
    /// next command. Unlike PostgreSQL, the server still runs the statement
    /// after the query failed. Before a statement without arguments, it runs
    /// alone, awaited (dbfleet patch).
    pub fn run_before_next_statement(&mut self, sql: &'static str) {
        self.inner.run_first = Some(sql);
    }

    /// Sends the text query `sql` (a reset, say) behind the next prepared
    /// statement's execution, in the same write, so that the server runs it
    /// as soon as that statement ends, without a round trip of its own. Its
    /// answer is read, and its error returned, by whatever next waits for
    /// the connection: the ping of the pool that takes the connection back.
    /// `queue_before_next_ping` with the same query then writes nothing
    /// (dbfleet patch).
    pub fn run_after_next_statement(&mut self, sql: &str) {
        self.inner.run_after = Some(sql.to_owned());
    }

    /// Writes `sql`, a text query, without sending it: it goes out with the
    /// next command sent, and its answer is read (an error failing that
    /// read) before the next command's. The pool pings every connection
    /// given back to it after `after_release`, and the ping goes out behind
    /// what was written, so a reset written there is sent and answered in
    /// the ping's round trip. Nothing is written when `sql` already went out
    /// behind the last statement (`run_after_next_statement`), whose answer
    /// the ping then reads (dbfleet patch).
    pub fn queue_before_next_ping(&mut self, sql: &str) -> Result<(), Error> {
        self.inner.run_after = None;
        if self.inner.sent_after.take().as_deref() == Some(sql) {
            return Ok(());
        }
        self.inner.stream.sequence_id = 0;
        self.inner.stream.write_packet(crate::protocol::text::Query(sql))?;
        self.inner.stream.waiting.push_back(Waiting::Result);
        Ok(())
    }

    pub(crate) fn in_transaction(&self) -> bool {
        self.inner
            .status_flags
            .intersects(Status::SERVER_STATUS_IN_TRANS)
    }
}

impl Debug for MySqlConnection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlConnection").finish()
    }
}

impl Connection for MySqlConnection {
    type Database = MySql;

    type Options = MySqlConnectOptions;

    async fn close(mut self) -> Result<(), Error> {
        self.inner.stream.send_packet(Quit).await?;
        self.inner.stream.shutdown().await?;

        Ok(())
    }

    async fn close_hard(mut self) -> Result<(), Error> {
        self.inner.stream.shutdown().await?;
        Ok(())
    }

    async fn ping(&mut self) -> Result<(), Error> {
        // dbfleet patch: when answers are still due (a query queued or sent
        // behind the last statement), reading them is the call and response;
        // otherwise the ping goes out.
        if !self.inner.stream.waiting.is_empty() {
            return self.inner.stream.wait_until_ready().await;
        }
        self.inner.stream.sequence_id = 0;
        self.inner.stream.write_packet(Ping)?;
        self.inner.stream.wait_until_ready().await?;
        self.inner.stream.recv_ok().await?;

        Ok(())
    }

    #[doc(hidden)]
    fn flush(&mut self) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.inner.stream.wait_until_ready()
    }

    fn cached_statements_size(&self) -> usize {
        self.inner.cache_statement.len()
    }

    async fn clear_cached_statements(&mut self) -> Result<(), Error> {
        while let Some((statement_id, _)) = self.inner.cache_statement.remove_lru() {
            self.inner
                .stream
                .send_packet(StmtClose {
                    statement: statement_id,
                })
                .await?;
        }

        Ok(())
    }

    #[doc(hidden)]
    fn should_flush(&self) -> bool {
        !self.inner.stream.write_buffer().is_empty()
    }

    fn begin(
        &mut self,
    ) -> impl Future<Output = Result<Transaction<'_, Self::Database>, Error>> + Send + '_ {
        Transaction::begin(self, None)
    }

    fn begin_with(
        &mut self,
        statement: impl SqlSafeStr,
    ) -> impl Future<Output = Result<Transaction<'_, Self::Database>, Error>> + Send + '_
    where
        Self: Sized,
    {
        Transaction::begin(self, Some(statement.into_sql_str()))
    }

    fn shrink_buffers(&mut self) {
        self.inner.stream.shrink_buffers();
    }
}
