//! Databases as SQLite files in the data directory (`<name>.sqlite`); `master` always exists.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::errors::SqlError;

pub const MASTER: &str = "master";
const EXTENSION: &str = "sqlite";

pub struct Databases {
    dir: PathBuf,
    /// Serialises CREATE/DROP DATABASE so two sessions cannot race on the same file.
    changes: Mutex<()>,
}

impl Databases {
    pub fn new(dir: &Path) -> std::io::Result<Databases> {
        std::fs::create_dir_all(dir)?;
        let databases = Databases { dir: dir.to_path_buf(), changes: Mutex::new(()) };
        if databases.path(MASTER).is_none() {
            create_file(&databases.file(MASTER)).map_err(std::io::Error::other)?;
        }
        Ok(databases)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    /// Names of all databases, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                (path.extension()? == EXTENSION).then(|| path.file_stem()?.to_str().map(str::to_string))?
            })
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        names
    }

    /// The stored name of `name` (names compare case-insensitively, like SQL Server's default collation).
    fn find(&self, name: &str) -> Option<String> {
        self.list().into_iter().find(|n| n.eq_ignore_ascii_case(name))
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.find(name).map(|n| self.file(&n))
    }

    pub fn create(&self, name: &str) -> Result<(), SqlError> {
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-$#@".contains(c)) {
            return Err(SqlError::new(
                102,
                15,
                format!("Incorrect syntax near '{name}': invalid database name"),
            ));
        }
        if self.find(name).is_some() {
            return Err(SqlError::new(
                1801,
                16,
                format!("Database '{name}' already exists. Choose a different database name."),
            ));
        }
        create_file(&self.file(name)).map_err(|e| SqlError::other(e.to_string()))
    }

    /// Removes the files of `name`; sessions already using it keep their open handle.
    pub fn remove(&self, name: &str, if_exists: bool) -> Result<(), SqlError> {
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(stored) = self.find(name) else {
            if if_exists {
                return Ok(());
            }
            return Err(SqlError::new(
                3701,
                11,
                format!(
                    "Cannot drop the database '{name}', because it does not exist or you do not have permission."
                ),
            ));
        };
        if stored.eq_ignore_ascii_case(MASTER) {
            return Err(SqlError::new(
                3708,
                16,
                "Cannot drop the database 'master' because it is a system database.",
            ));
        }
        let main = self.file(&stored);
        for suffix in ["-wal", "-shm"] {
            let mut side = main.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
        std::fs::remove_file(main).map_err(|e| SqlError::other(e.to_string()))
    }

    /// Opens a session's connection: WAL (readers never wait for a streaming writer),
    /// foreign keys enforced, a busy timeout instead of immediate SQLITE_BUSY.
    pub fn open(&self, name: &str) -> Result<Connection, SqlError> {
        let path = self.path(name).ok_or_else(|| SqlError::cannot_open_database(name))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| SqlError::from_sqlite(&e, name))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(|e| SqlError::from_sqlite(&e, name))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| SqlError::from_sqlite(&e, name))?;
        Ok(conn)
    }
}

fn create_file(path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")
}
