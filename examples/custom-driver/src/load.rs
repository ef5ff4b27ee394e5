//! Loading a directory of CSV files into SQLite tables, one per file, with
//! each column's type inferred from its values.

use std::path::{Path, PathBuf};

use dbfleet_core::driver_api::{DbError, LogicalType};
use rusqlite::Connection;

/// A column's type: `Integer` when every value is an integer, `Real` when
/// every value is a number, `Text` otherwise. Empty fields are NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Integer,
    Real,
    Text,
}

impl SqlType {
    pub fn name(self) -> &'static str {
        match self {
            SqlType::Integer => "INTEGER",
            SqlType::Real => "REAL",
            SqlType::Text => "TEXT",
        }
    }

    /// The type a loaded column was declared with.
    pub fn from_name(name: &str) -> Option<SqlType> {
        [SqlType::Integer, SqlType::Real, SqlType::Text].into_iter().find(|t| t.name() == name)
    }

    pub fn logical(self) -> LogicalType {
        match self {
            SqlType::Integer => LogicalType::Int,
            SqlType::Real => LogicalType::Float,
            SqlType::Text => LogicalType::Text,
        }
    }

    fn of(values: impl Iterator<Item = impl AsRef<str>> + Clone) -> SqlType {
        let present = values.filter(|v| !v.as_ref().is_empty());
        if present.clone().all(|v| v.as_ref().parse::<i64>().is_ok()) {
            SqlType::Integer
        } else if present.clone().all(|v| v.as_ref().parse::<f64>().is_ok()) {
            SqlType::Real
        } else {
            SqlType::Text
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadedColumn {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct LoadedTable {
    pub name: String,
    pub columns: Vec<LoadedColumn>,
    pub rows: usize,
}

/// Creates a table in `conn` for every `*.csv` file of `directory`.
pub fn load_directory(conn: &mut Connection, directory: &Path) -> Result<Vec<LoadedTable>, DbError> {
    let unreadable =
        |err: std::io::Error| DbError::connection(format!("cannot read {}: {err}", directory.display()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    files.retain(|path| path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("csv")));
    files.sort();
    files.iter().map(|file| load_file(conn, file)).collect()
}

fn load_file(conn: &mut Connection, file: &Path) -> Result<LoadedTable, DbError> {
    let bad = |err: &dyn std::fmt::Display| DbError::connection(format!("{}: {err}", file.display()));
    let mut reader = csv::Reader::from_path(file).map_err(|e| bad(&e))?;
    let headers: Vec<String> = reader.headers().map_err(|e| bad(&e))?.iter().map(str::to_owned).collect();
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().map_err(|e| bad(&e))?;
    let columns: Vec<LoadedColumn> = headers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values = records.iter().map(move |r| r.get(i).unwrap_or_default());
            LoadedColumn {
                name: name.clone(),
                sql_type: SqlType::of(values.clone()),
                nullable: values.clone().any(str::is_empty),
            }
        })
        .collect();
    let name = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let definition: Vec<String> =
        columns.iter().map(|c| format!("{} {}", quote(&c.name), c.sql_type.name())).collect();
    let placeholders = vec!["?"; columns.len()].join(", ");
    let sqlite = |err: rusqlite::Error| bad(&err);
    let tx = conn.transaction().map_err(sqlite)?;
    tx.execute(&format!("CREATE TABLE {} ({})", quote(&name), definition.join(", ")), []).map_err(sqlite)?;
    {
        let mut insert =
            tx.prepare(&format!("INSERT INTO {} VALUES ({placeholders})", quote(&name))).map_err(sqlite)?;
        for record in &records {
            let values = record.iter().map(|v| (!v.is_empty()).then_some(v));
            insert.execute(rusqlite::params_from_iter(values)).map_err(sqlite)?;
        }
    }
    tx.commit().map_err(sqlite)?;
    Ok(LoadedTable { name, columns, rows: records.len() })
}

/// A SQLite identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
