//! The SQLite side of a session: runs requests on the session's own connection, on a
//! thread of its own (SQLite calls block), and streams the answer as TDS tokens.
//!
//! Rows are encoded as SQLite produces them and leave in packets through a bounded
//! channel, so memory stays bounded and a slow client slows the statement down. A
//! statement stops when the client goes away or sends ATTENTION: the session task
//! interrupts the connection, and a progress handler checks the same flags so a
//! statement started after the interrupt stops too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Statement as SqliteStatement};

use crate::catalog;
use crate::databases::Databases;
use crate::errors::SqlError;
use crate::packet::{Disconnected, PacketSink};
use crate::rewrite::{self, Statement};
use crate::rpc;
use crate::tokens::{self, DONE, DONE_ATTENTION, DONE_ERROR, DONE_FINAL, DONE_MORE, DONEINPROC, DONEPROC};
use crate::types::{DeclaredType, TdsType};

/// SQLite virtual-machine steps between two checks of the cancel flags.
const PROGRESS_STEPS: i32 = 1000;
/// How often a `WAITFOR DELAY` looks at the cancel flags.
const WAIT_SLICE: Duration = Duration::from_millis(20);
/// Transaction-manager request types (MS-TDS 2.2.6.9).
const TM_BEGIN: u16 = 5;
const TM_COMMIT: u16 = 7;
const TM_ROLLBACK: u16 = 8;
const TM_SAVE: u16 = 9;

/// A client request handed from the session task to the worker.
#[derive(Debug)]
pub enum Request {
    Batch(Vec<u8>),
    Rpc(Vec<u8>),
    TransactionManager(Vec<u8>),
    Attention,
}

/// Flags the session task sets and the worker reads.
#[derive(Default)]
pub struct CancelFlags {
    /// The client is gone: stop everything.
    pub closed: AtomicBool,
    /// The client sent ATTENTION: stop the current request and acknowledge it.
    pub attention: AtomicBool,
}

impl CancelFlags {
    fn any(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.attention.load(Ordering::Acquire)
    }
}

/// Why a statement did not complete.
enum Failure {
    Sql(SqlError),
    Attention,
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Failure {
        Failure::Sql(e)
    }
}

/// A statement's result: `Some(rows)` goes out as a DONE row count.
type StatementResult = Result<Option<u64>, Failure>;

pub struct Worker {
    conn: Connection,
    database: String,
    read_only: bool,
    databases: Arc<Databases>,
    flags: Arc<CancelFlags>,
    sink: PacketSink,
    version: String,
    next_transaction: u64,
}

impl Worker {
    /// Prepares `conn` for a session: catalog tables, cancellation, read-only intent.
    pub fn new(
        conn: Connection,
        database: String,
        read_only: bool,
        databases: Arc<Databases>,
        flags: Arc<CancelFlags>,
        sink: PacketSink,
        version: String,
    ) -> Result<Worker, SqlError> {
        let to_sql_error = |e: rusqlite::Error| SqlError::from_sqlite(&e, &database);
        catalog::create(&conn).map_err(to_sql_error)?;
        let progress_flags = Arc::clone(&flags);
        conn.progress_handler(PROGRESS_STEPS, Some(move || progress_flags.any())).map_err(to_sql_error)?;
        if read_only {
            conn.execute_batch("PRAGMA query_only = ON").map_err(to_sql_error)?;
        }
        Ok(Worker { conn, database, read_only, databases, flags, sink, version, next_transaction: 1 })
    }

    /// Serves requests until the session ends.
    pub fn run(mut self, requests: std::sync::mpsc::Receiver<Request>) {
        while let Ok(request) = requests.recv() {
            if self.flags.closed.load(Ordering::Acquire) || self.handle(request).is_err() {
                return;
            }
        }
    }

    fn handle(&mut self, request: Request) -> Result<(), Disconnected> {
        match request {
            Request::Batch(payload) => {
                let text = rpc::skip_all_headers(&payload).and_then(rpc::utf16);
                match text.and_then(|sql| rewrite::rewrite_batch(&sql, &self.version)) {
                    Ok(statements) => self.run_statements(statements, &[], false),
                    Err(message) => self.fail_request(SqlError::new(102, 15, message), DONE),
                }
            }
            Request::Rpc(payload) => match rpc::parse(&payload) {
                Ok(call) => match rewrite::rewrite_batch(&call.statement, &self.version) {
                    Ok(statements) => self.run_statements(statements, &call.params, true),
                    Err(message) => self.fail_request(SqlError::new(102, 15, message), DONEPROC),
                },
                Err(message) => self.fail_request(SqlError::new(2812, 16, message), DONEPROC),
            },
            Request::TransactionManager(payload) => self.transaction_manager(&payload),
            Request::Attention => {
                // Acknowledge an ATTENTION no running statement has consumed.
                if self.flags.attention.swap(false, Ordering::AcqRel) {
                    tokens::done(self.sink.buf(), DONE, DONE_ATTENTION, None);
                    return self.sink.end_message();
                }
                Ok(())
            }
        }
    }

    fn fail_request(&mut self, error: SqlError, done_token: u8) -> Result<(), Disconnected> {
        write_error(self.sink.buf(), &error);
        tokens::done(self.sink.buf(), done_token, DONE_ERROR, None);
        self.sink.end_message()
    }

    /// Runs a batch, or the statement of an `sp_executesql` call (`rpc`), answering
    /// DONE per statement (DONEINPROC + RETURNSTATUS + DONEPROC for RPC). The first
    /// error ends the request.
    fn run_statements(
        &mut self,
        statements: Vec<Statement>,
        params: &[(String, Value)],
        rpc: bool,
    ) -> Result<(), Disconnected> {
        let done_token = if rpc { DONEINPROC } else { DONE };
        let count = statements.len();
        let mut failed = false;
        for (i, statement) in statements.into_iter().enumerate() {
            let last = i + 1 == count && !rpc;
            let result = if self.flags.attention.load(Ordering::Acquire) {
                Err(Failure::Attention)
            } else {
                self.run_statement(statement, params)?
            };
            match result {
                Ok(rows) => {
                    tokens::done(self.sink.buf(), done_token, if last { DONE_FINAL } else { DONE_MORE }, rows)
                }
                Err(Failure::Sql(error)) => {
                    write_error(self.sink.buf(), &error);
                    let more = if rpc { DONE_MORE } else { DONE_FINAL };
                    tokens::done(self.sink.buf(), done_token, DONE_ERROR | more, None);
                    failed = true;
                    break;
                }
                Err(Failure::Attention) => {
                    self.flags.attention.store(false, Ordering::Release);
                    tokens::done(self.sink.buf(), DONE, DONE_ATTENTION, None);
                    return self.sink.end_message();
                }
            }
        }
        if rpc {
            tokens::return_status(self.sink.buf(), i32::from(failed));
            tokens::done(self.sink.buf(), DONEPROC, if failed { DONE_ERROR } else { DONE_FINAL }, None);
        } else if count == 0 {
            tokens::done(self.sink.buf(), DONE, DONE_FINAL, None);
        }
        self.sink.end_message()
    }

    fn run_statement(
        &mut self,
        statement: Statement,
        params: &[(String, Value)],
    ) -> Result<StatementResult, Disconnected> {
        let writes = matches!(statement, Statement::CreateDatabase(_) | Statement::DropDatabase { .. });
        if writes && self.read_only {
            return Ok(Err(SqlError::read_only(&self.database).into()));
        }
        Ok(match statement {
            Statement::Ignored => Ok(None),
            Statement::CreateDatabase(name) => {
                self.databases.create(&name).map(|_| None).map_err(Failure::from)
            }
            Statement::DropDatabase { name, if_exists } => {
                self.databases.remove(&name, if_exists).map(|_| None).map_err(Failure::from)
            }
            Statement::WaitFor(delay) => self.wait(delay),
            Statement::Sql { sql, catalog } => {
                if catalog && let Err(e) = self.refresh_catalog() {
                    return Ok(Err(e.into()));
                }
                return self.run_sql(&sql, params);
            }
        })
    }

    /// Sleeps in slices so ATTENTION or a disconnect ends the wait early.
    fn wait(&self, delay: Duration) -> StatementResult {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.flags.any() {
                return Err(Failure::Attention);
            }
            std::thread::sleep(WAIT_SLICE.min(until - Instant::now()));
        }
        Ok(None)
    }

    fn refresh_catalog(&self) -> Result<(), SqlError> {
        let to_sql_error = |e: rusqlite::Error| SqlError::from_sqlite(&e, &self.database);
        // The catalog lives in TEMP tables, which query_only would also protect.
        if self.read_only {
            self.conn.execute_batch("PRAGMA query_only = OFF").map_err(to_sql_error)?;
        }
        let refreshed =
            catalog::refresh(&self.conn, &self.database, &self.databases.list()).map_err(to_sql_error);
        if self.read_only {
            self.conn.execute_batch("PRAGMA query_only = ON").map_err(to_sql_error)?;
        }
        refreshed
    }

    fn run_sql(&mut self, sql: &str, params: &[(String, Value)]) -> Result<StatementResult, Disconnected> {
        let database = self.database.clone();
        let flags = Arc::clone(&self.flags);
        let failure = |e: rusqlite::Error| {
            if flags.any() { Failure::Attention } else { Failure::Sql(SqlError::from_sqlite(&e, &database)) }
        };
        let mut statement = match self.conn.prepare(sql) {
            Ok(s) => s,
            Err(e) => return Ok(Err(failure(e))),
        };
        if let Err(e) = bind(&mut statement, params) {
            return Ok(Err(failure(e)));
        }
        if statement.column_count() == 0 {
            return Ok(match statement.raw_execute() {
                Ok(_) => Ok(is_row_changing(sql).then(|| self.conn.changes())),
                Err(e) => Err(failure(e)),
            });
        }
        stream_rows(&mut statement, &mut self.sink, &failure)
    }

    fn transaction_manager(&mut self, payload: &[u8]) -> Result<(), Disconnected> {
        let body = match rpc::skip_all_headers(payload) {
            Ok(body) if body.len() >= 2 => body,
            _ => return self.fail_request(SqlError::other("malformed transaction manager request"), DONE),
        };
        let kind = u16::from_le_bytes([body[0], body[1]]);
        // BEGIN carries an isolation level byte before the B_VARCHAR name.
        let name_at = if kind == TM_BEGIN { 3 } else { 2 };
        let name = body
            .get(name_at)
            .and_then(|&chars| body.get(name_at + 1..name_at + 1 + usize::from(chars) * 2))
            .and_then(|bytes| rpc::utf16(bytes).ok())
            .unwrap_or_default();
        let sql = match kind {
            TM_BEGIN => "BEGIN".to_string(),
            TM_COMMIT => "COMMIT".to_string(),
            TM_ROLLBACK => "ROLLBACK".to_string(),
            TM_SAVE => format!("SAVEPOINT \"{}\"", name.replace('"', "\"\"")),
            other => {
                return self
                    .fail_request(SqlError::other(format!("unsupported transaction request {other}")), DONE);
            }
        };
        if let Err(e) = self.conn.execute_batch(&sql) {
            return self.fail_request(SqlError::from_sqlite(&e, &self.database), DONE);
        }
        let descriptor = self.next_transaction.to_le_bytes();
        match kind {
            TM_BEGIN => {
                tokens::env_change_begin_transaction(self.sink.buf(), descriptor);
                self.next_transaction += 1;
            }
            TM_COMMIT | TM_ROLLBACK => {
                let current = (self.next_transaction - 1).to_le_bytes();
                tokens::env_change_end_transaction(self.sink.buf(), kind == TM_COMMIT, current);
            }
            _ => {}
        }
        tokens::done(self.sink.buf(), DONE, DONE_FINAL, None);
        self.sink.end_message()
    }
}

fn write_error(out: &mut Vec<u8>, error: &SqlError) {
    tokens::error(out, error.number, error.state, error.class, &error.message);
}

/// Statements whose DONE carries the number of changed rows.
fn is_row_changing(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH")
}

/// Binds `@P1..@Pn` (matched by name, case-insensitively) to the statement's parameters.
fn bind(statement: &mut SqliteStatement<'_>, params: &[(String, Value)]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let Some(name) = statement.parameter_name(index).map(str::to_string) else { continue };
        let value = params.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)).map(|(_, v)| v);
        statement.raw_bind_parameter(index, value.unwrap_or(&Value::Null))?;
    }
    Ok(())
}

/// Streams a result set: COLMETADATA (after the first row, which types columns that
/// have no declared type), then one ROW/NBCROW per SQLite row.
fn stream_rows(
    statement: &mut SqliteStatement<'_>,
    sink: &mut PacketSink,
    failure: &dyn Fn(rusqlite::Error) -> Failure,
) -> Result<StatementResult, Disconnected> {
    let declared: Vec<(String, Option<TdsType>)> = statement
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().chars().take(128).collect(),
                c.decl_type().and_then(|d| DeclaredType::parse(d).tds_type()),
            )
        })
        .collect();
    let mut rows = statement.raw_query();
    let mut columns: Option<Vec<(String, TdsType)>> = None;
    let mut count = 0u64;
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Ok(Err(failure(e))),
        };
        let values: Vec<ValueRef<'_>> = (0..declared.len()).map(|i| row.get_ref_unwrap(i)).collect();
        let columns = columns.get_or_insert_with(|| {
            let typed: Vec<(String, TdsType)> = declared
                .iter()
                .zip(&values)
                .map(|((name, ty), v)| (name.clone(), ty.unwrap_or_else(|| TdsType::of_value(*v))))
                .collect();
            tokens::col_metadata(sink.buf(), &typed);
            typed
        });
        let nulls: Vec<bool> = values.iter().map(|v| *v == ValueRef::Null).collect();
        tokens::row_start(sink.buf(), &nulls);
        for ((_, ty), value) in columns.iter().zip(&values).filter(|(_, v)| **v != ValueRef::Null) {
            if let Err(message) = ty.encode_value(*value, sink.buf()) {
                return Ok(Err(Failure::Sql(SqlError::other(message))));
            }
        }
        count += 1;
        sink.flush_full()?;
    }
    if columns.is_none() {
        let typed: Vec<(String, TdsType)> =
            declared.into_iter().map(|(name, ty)| (name, ty.unwrap_or(TdsType::NVarChar(None)))).collect();
        tokens::col_metadata(sink.buf(), &typed);
    }
    Ok(Ok(Some(count)))
}

/// Runs a T-SQL script outside any client session (the binary's `--seed`).
pub fn run_script(
    databases: &Databases,
    database: &str,
    script: &str,
    version: &str,
) -> Result<(), SqlError> {
    let conn = databases.open(database)?;
    let to_sql_error = |e: rusqlite::Error| SqlError::from_sqlite(&e, database);
    catalog::create(&conn).map_err(to_sql_error)?;
    for statement in rewrite::rewrite_batch(script, version).map_err(|m| SqlError::new(102, 15, m))? {
        match statement {
            Statement::Sql { sql, catalog } => {
                if catalog {
                    catalog::refresh(&conn, database, &databases.list()).map_err(to_sql_error)?;
                }
                let mut prepared = conn.prepare(&sql).map_err(to_sql_error)?;
                let mut rows = prepared.raw_query();
                while rows.next().map_err(to_sql_error)?.is_some() {}
            }
            Statement::CreateDatabase(name) => databases.create(&name)?,
            Statement::DropDatabase { name, if_exists } => databases.remove(&name, if_exists)?,
            Statement::WaitFor(delay) => std::thread::sleep(delay),
            Statement::Ignored => {}
        }
    }
    Ok(())
}
