//! Opening an environment's database and the pool of connections over it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use dbfleet_core::driver_api::{
    DatabaseInfo, DbError, EnvironmentConfig, ExecOutcome, Pool, PoolStats, Query, RoutineInfo, RowStream,
    ServerInfo, TableFilter, TableInfo, TableRef, TableSchema, async_trait,
};
use deadpool::Runtime;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::connections::{Manager, Pool as Connections};
use crate::errors::{from_sqlite, pool_error};
use crate::interrupt::{CancelOnDrop, interruptible};
use crate::settings::{Location, Mode, SqliteSettings};
use crate::{catalog, rows};

pub struct SqlitePool {
    pool: Connections,
}

/// Opens the pool: creates and seeds the file first when asked to, then
/// checks that a connection really opens, so a bad path fails at start-up.
pub async fn connect(env: &EnvironmentConfig, settings: SqliteSettings) -> Result<Arc<dyn Pool>, DbError> {
    if let (Location::File(path), Mode::Create) = (&settings.location, settings.mode)
        && !path.exists()
    {
        let (path, script) = (path.clone(), settings.init_script.clone());
        tokio::task::spawn_blocking(move || create(&path, script.as_deref()))
            .await
            .map_err(|err| DbError::internal(format!("creating the database failed: {err}")))??;
    }
    if let (Location::File(path), Mode::ReadWrite | Mode::ReadOnly) = (&settings.location, settings.mode)
        && !path.exists()
    {
        return Err(DbError::connection(format!(
            "database file {} does not exist (set mode = \"create\" to create it)",
            path.display()
        )));
    }
    let read_only = env.read_only || settings.mode == Mode::ReadOnly;
    let max_size = match settings.location {
        // Every connection to ":memory:" would be a database of its own.
        Location::Memory => 1,
        Location::File(_) => env.pool.max_connections as usize,
    };
    let manager =
        Manager { uri: uri(&settings.location, read_only), read_only, busy_timeout: settings.busy_timeout };
    let pool = Connections::builder(manager)
        .runtime(Runtime::Tokio1)
        .max_size(max_size)
        .wait_timeout(Some(env.pool.connect_timeout))
        .create_timeout(Some(env.pool.connect_timeout))
        .build()
        .map_err(|err| DbError::internal(err.to_string()))?;
    let pool = SqlitePool { pool };
    pool.ping().await?;
    Ok(Arc::new(pool))
}

/// A URI filename, so that read-only and must-exist opens are expressed in
/// the open flags rather than checked afterwards.
fn uri(location: &Location, read_only: bool) -> PathBuf {
    match location {
        Location::Memory => PathBuf::from(":memory:"),
        Location::File(path) => {
            let mode = if read_only { "ro" } else { "rw" };
            let escaped: String = path
                .to_string_lossy()
                .chars()
                .map(|c| match c {
                    '%' => "%25".to_owned(),
                    '?' => "%3f".to_owned(),
                    '#' => "%23".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            PathBuf::from(format!("file:{escaped}?mode={mode}"))
        }
    }
}

/// Creates the database beside its final name and moves it into place only
/// once the init script succeeded, so that a failed seed leaves nothing
/// behind and two processes starting together cannot both seed it.
fn create(path: &Path, init_script: Option<&Path>) -> Result<(), DbError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| DbError::connection(format!("cannot create {}: {err}", parent.display())))?;
    }
    let script = match init_script {
        Some(script) => Some(std::fs::read_to_string(script).map_err(|err| {
            DbError::connection(format!("cannot read init_script {}: {err}", script.display()))
        })?),
        None => None,
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = path.with_file_name(format!(".{file_name}.creating-{}", std::process::id()));
    let seeded = (|| {
        let conn = Connection::open_with_flags(
            &staging,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        if let Some(script) = &script {
            conn.execute_batch(script)?;
        }
        conn.close().map_err(|(_, err)| err)
    })();
    if let Err(err) = seeded {
        let _ = std::fs::remove_file(&staging);
        let mut err = from_sqlite(err);
        err.message = format!("init_script failed, database not created: {}", err.message);
        return Err(err);
    }
    let linked = std::fs::hard_link(&staging, path);
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created database");
            Ok(())
        }
        // Another process created it first; theirs is as good as ours.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(DbError::connection(format!("cannot create {}: {err}", path.display()))),
    }
}

impl SqlitePool {
    /// Runs blocking work on a pooled connection, off the async runtime.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let conn = self.pool.get().await.map_err(pool_error)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop::new(cancel.clone());
        conn.interact(move |c| interruptible(c, &cancel, work))
            .await
            .map_err(|err| DbError::internal(format!("SQLite worker failed: {err}")))?
    }
}

#[async_trait]
impl Pool for SqlitePool {
    async fn query(&self, q: &Query) -> Result<RowStream, DbError> {
        rows::open(&self.pool, q).await
    }

    async fn execute(&self, q: &Query) -> Result<ExecOutcome, DbError> {
        let params = rows::params_of(q)?;
        let sql = q.sql.clone();
        self.with_connection(move |c| {
            let mut statement = c.prepare(&sql).map_err(from_sqlite)?;
            let affected = statement.execute(params_from_iter(params)).map_err(from_sqlite)?;
            Ok(ExecOutcome::new(affected as u64))
        })
        .await
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, DbError> {
        self.with_connection(catalog::list_databases).await
    }

    async fn list_tables(&self, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
        let filter = filter.clone();
        self.with_connection(move |c| catalog::list_tables(c, &filter)).await
    }

    async fn describe_table(&self, table: &TableRef) -> Result<TableSchema, DbError> {
        let table = table.clone();
        self.with_connection(move |c| catalog::describe_table(c, &table)).await
    }

    /// SQLite stores no functions or procedures: the list is empty, not unknown.
    async fn list_routines(&self, _schema: Option<&str>) -> Result<Option<Vec<RoutineInfo>>, DbError> {
        Ok(Some(Vec::new()))
    }

    async fn ping(&self) -> Result<ServerInfo, DbError> {
        self.with_connection(|c| {
            let version: String =
                c.query_row("SELECT sqlite_version()", [], |row| row.get(0)).map_err(from_sqlite)?;
            Ok(ServerInfo::new(format!("SQLite {version}")))
        })
        .await
    }

    fn stats(&self) -> PoolStats {
        let status = self.pool.status();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PoolStats::new(clamp(status.size), clamp(status.available), clamp(status.max_size))
    }

    async fn close(&self) {
        self.pool.close();
    }
}
