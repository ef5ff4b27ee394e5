//! The pool of a CSV environment: one in-memory SQLite connection holding
//! every file's table, shared by all calls.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dbfleet_core::driver_api::{
    Column, ColumnSchema, DatabaseInfo, DbError, ExecOutcome, LogicalType, Pool, PoolStats, Query, Row,
    RowStream, ServerInfo, TableFilter, TableInfo, TableKind, TableRef, TableSchema, Value, async_trait,
};
use rusqlite::Connection;
use rusqlite::types::{Value as SqliteValue, ValueRef};

use crate::load::{LoadedTable, SqlType, load_directory};

const CHUNK_ROWS: usize = 512;

pub struct CsvPool {
    directory: PathBuf,
    tables: Vec<LoadedTable>,
    conn: Arc<Mutex<Connection>>,
}

/// SQLite calls the progress handler every this many VM steps.
const PROGRESS_STEPS: i32 = 1000;

/// Stops its call's statement when dropped: a call abandoned on a timeout or
/// a cancel would otherwise keep the one connection until its statement
/// ended by itself. Only this call's statement: the flag is its own, checked
/// by a progress handler set for its statement alone.
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl CsvPool {
    pub fn open(directory: PathBuf) -> Result<CsvPool, DbError> {
        let sqlite = |err: rusqlite::Error| DbError::internal(err.to_string());
        let mut conn = Connection::open_in_memory().map_err(sqlite)?;
        let tables = load_directory(&mut conn, &directory)?;
        // The files are the truth: nothing may change the loaded copy.
        conn.execute_batch("PRAGMA query_only = ON").map_err(sqlite)?;
        Ok(CsvPool { directory, tables, conn: Arc::new(Mutex::new(conn)) })
    }

    fn table(&self, name: &str) -> Result<&LoadedTable, DbError> {
        self.tables.iter().find(|t| t.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
            let files: Vec<String> = self.tables.iter().map(|t| format!("{}.csv", t.name)).collect();
            DbError::query(format!("no table named '{name}'; the files are: {}", files.join(", ")))
        })
    }
}

#[async_trait]
impl Pool for CsvPool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        let conn = self.conn.clone();
        let query = q.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let _abandon = Abandon(abandoned.clone());
        let (columns, rows) = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let stop = |err: rusqlite::Error| DbError::internal(err.to_string());
            conn.progress_handler(PROGRESS_STEPS, Some(move || abandoned.load(Ordering::Relaxed)))
                .map_err(stop)?;
            let outcome = run(&conn, &query);
            conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>).map_err(stop)?;
            outcome
        })
        .await
        .map_err(|err| DbError::internal(format!("the query stopped: {err}")))??;
        // The data is in memory already, so the rows are read in one go (up
        // to the fetch limit) and handed over in chunks.
        let mut rows = rows.into_iter().peekable();
        let chunks = std::iter::from_fn(move || {
            rows.peek()?;
            Some(Ok(rows.by_ref().take(CHUNK_ROWS).collect::<Vec<Row>>()))
        });
        Ok(RowStream::new(columns, futures::stream::iter(chunks)))
    }

    async fn execute(&self, _q: &Query) -> Result<ExecOutcome, DbError> {
        Err(DbError::query("a CSV environment is read-only: its files are never written"))
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        let name = self.directory.file_name().unwrap_or_default().to_string_lossy().into_owned();
        Ok(vec![
            DatabaseInfo::new(name, "directory").with_location(Some(self.directory.display().to_string())),
        ])
    }

    async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        let tables = self.tables.iter().map(|t| TableInfo::new(None, t.name.clone(), TableKind::Table));
        Ok(tables.filter(|t| filter.matches(t)).collect())
    }

    async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        let loaded = self.table(&table.name)?;
        let columns = loaded
            .columns
            .iter()
            .map(|c| ColumnSchema::new(c.name.clone(), c.sql_type.name(), c.sql_type.logical(), c.nullable))
            .collect();
        Ok(TableSchema::new(None, loaded.name.clone(), TableKind::Table, columns))
    }

    async fn ping(&self) -> Result<ServerInfo, DbError> {
        let rows: usize = self.tables.iter().map(|t| t.rows).sum();
        Ok(ServerInfo::new(format!(
            "{} CSV files, {rows} rows (SQLite {})",
            self.tables.len(),
            rusqlite::version()
        )))
    }

    fn stats(&self) -> PoolStats {
        let busy = u32::from(self.conn.try_lock().is_err());
        PoolStats::new(1, 1 - busy, 1)
    }

    async fn close(&self) {}
}

/// Runs one statement, reading at most the query's fetch limit of rows.
fn run(conn: &Connection, query: &Query) -> Result<(Vec<Column>, Vec<Row>), DbError> {
    // SQLite's extended result code, kept as the error's code.
    let failed = |err: rusqlite::Error| {
        let code = match &err {
            rusqlite::Error::SqliteFailure(error, _) | rusqlite::Error::SqlInputError { error, .. } => {
                Some(error.extended_code.to_string())
            }
            _ => None,
        };
        let failed = DbError::query(err.to_string());
        match code {
            Some(code) => failed.with_code(code),
            None => failed,
        }
    };
    let mut statement = conn.prepare(&query.sql).map_err(failed)?;
    let declared: Vec<(String, Option<String>)> =
        statement.columns().iter().map(|c| (c.name().to_owned(), c.decl_type().map(str::to_owned))).collect();
    let params = query.params.iter().map(to_param).collect::<Result<Vec<_>, _>>()?;
    let limit = usize::try_from(query.fetch_limit.unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
    let mut cursor = statement.query(rusqlite::params_from_iter(params)).map_err(failed)?;
    let mut rows: Vec<Row> = Vec::new();
    while rows.len() < limit {
        let Some(row) = cursor.next().map_err(failed)? else { break };
        let values = (0..declared.len()).map(|i| row.get_ref(i).map(to_value)).collect::<Result<_, _>>();
        rows.push(values.map_err(failed)?);
    }
    let columns = declared
        .into_iter()
        .enumerate()
        .map(|(i, (name, declared))| {
            let logical = match declared.as_deref().and_then(SqlType::from_name) {
                Some(sql_type) => sql_type.logical(),
                // An expression: the type of its first non-null value.
                None => rows
                    .iter()
                    .map(|r| r[i].logical_type())
                    .find(|t| *t != LogicalType::Null)
                    .unwrap_or(LogicalType::Null),
            };
            Column::new(name, declared.unwrap_or_default(), logical)
        })
        .collect();
    Ok((columns, rows))
}

fn to_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

fn to_param(value: &Value) -> Result<SqliteValue, DbError> {
    Ok(match value {
        Value::Null => SqliteValue::Null,
        Value::Bool(b) => SqliteValue::Integer(i64::from(*b)),
        Value::Int(i) => SqliteValue::Integer(*i),
        Value::Float(f) => SqliteValue::Real(*f),
        Value::Text(t) => SqliteValue::Text(t.clone()),
        Value::Array(_) | Value::Json(_) => {
            return Err(DbError::invalid_argument("a CSV environment takes scalar parameters only"));
        }
        other => SqliteValue::Text(other.to_text()),
    })
}
