//! Server version, databases, schemas, tables and table definitions, from
//! `sys` views and `INFORMATION_SCHEMA` of the environment's database.
//!
//! The statements are fixed text with values bound as parameters; they are
//! also the contract with the TDS test endpoint (tests/tds-endpoint), which
//! answers exactly these.

use std::borrow::Cow;

use dbfleet_core::driver_api::{
    ColumnSchema, DatabaseInfo, DbError, ForeignKeyInfo, IndexInfo, ServerInfo, TableFilter, TableInfo,
    TableKind, TableRef, TableSchema, Value,
};
use tiberius::{ColumnData, Row};

use crate::types::{logical_type_of_name, value};

const VERSION: &str = "SELECT @@VERSION";
const DATABASES: &str = "SELECT name FROM sys.databases ORDER BY name";
// dbo (1) and user schemas; 2-4 are guest, INFORMATION_SCHEMA and sys, and
// 16384 and up the fixed database roles.
const SCHEMAS: &str =
    "SELECT name FROM sys.schemas WHERE schema_id = 1 OR schema_id BETWEEN 5 AND 16383 ORDER BY name";
const TABLES: &str = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES \
                      ORDER BY TABLE_SCHEMA, TABLE_NAME";
const TABLE_SCHEMAS: &str = "SELECT TABLE_SCHEMA, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES \
                             WHERE TABLE_NAME = @P1 ORDER BY TABLE_SCHEMA";
const COLUMNS: &str = "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, \
                       NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT \
                       FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2 \
                       ORDER BY ORDINAL_POSITION";
const PRIMARY_KEY: &str = "SELECT kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc \
                           JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu \
                           ON kcu.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                           WHERE tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 AND tc.CONSTRAINT_TYPE = 'PRIMARY KEY' \
                           ORDER BY kcu.ORDINAL_POSITION";
const FOREIGN_KEYS: &str = "SELECT rc.CONSTRAINT_NAME, kcu.COLUMN_NAME, ref.TABLE_SCHEMA, ref.TABLE_NAME, ref.COLUMN_NAME \
                            FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc \
                            JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu \
                            ON kcu.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = rc.CONSTRAINT_NAME \
                            JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE ref \
                            ON ref.CONSTRAINT_SCHEMA = rc.UNIQUE_CONSTRAINT_SCHEMA AND ref.CONSTRAINT_NAME = rc.UNIQUE_CONSTRAINT_NAME \
                            AND ref.ORDINAL_POSITION = kcu.ORDINAL_POSITION \
                            WHERE kcu.TABLE_SCHEMA = @P1 AND kcu.TABLE_NAME = @P2 \
                            ORDER BY rc.CONSTRAINT_NAME, kcu.ORDINAL_POSITION";
const INDEXES: &str = "SELECT i.name, c.name, i.is_unique FROM sys.indexes i \
                       JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
                       JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
                       WHERE i.object_id = OBJECT_ID(@P1) AND i.is_primary_key = 0 AND i.name IS NOT NULL \
                       AND ic.is_included_column = 0 ORDER BY i.name, ic.key_ordinal";

const DEFAULT_SCHEMA: &str = "dbo";

/// Runs one catalog statement and returns the rows of its first result: the
/// pool implements it, so that this module needs nothing else of the pool.
pub trait Fetch {
    fn fetch(
        &self,
        sql: &'static str,
        params: Vec<ColumnData<'static>>,
    ) -> impl Future<Output = Result<Vec<Row>, DbError>> + Send;
}

pub async fn server_info(pool: &impl Fetch) -> Result<ServerInfo, DbError> {
    let rows = pool.fetch(VERSION, Vec::new()).await?;
    let version = rows.first().and_then(|row| text(row, 0)).unwrap_or_default();
    // @@VERSION runs over several lines (build date, copyright, OS); the
    // first names the product and version.
    Ok(ServerInfo::new(version.lines().next().unwrap_or_default().trim()))
}

pub async fn list_databases(pool: &impl Fetch) -> Result<Vec<DatabaseInfo>, DbError> {
    let mut found = Vec::new();
    for (sql, kind) in [(DATABASES, "database"), (SCHEMAS, "schema")] {
        for row in pool.fetch(sql, Vec::new()).await? {
            if let Some(name) = text(&row, 0) {
                found.push(DatabaseInfo::new(name, kind));
            }
        }
    }
    Ok(found)
}

pub async fn list_tables(pool: &impl Fetch, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
    let rows = pool.fetch(TABLES, Vec::new()).await?;
    Ok(rows
        .iter()
        .filter_map(|row| Some(TableInfo::new(text(row, 0), text(row, 1)?, kind(text(row, 2).as_deref()))))
        .filter(|table| filter.matches(table))
        .collect())
}

pub async fn describe_table(pool: &impl Fetch, table: &TableRef) -> Result<TableSchema, DbError> {
    let found: Vec<(String, TableKind)> = pool
        .fetch(TABLE_SCHEMAS, vec![param(&table.name)])
        .await?
        .iter()
        .filter_map(|row| Some((text(row, 0)?, kind(text(row, 1).as_deref()))))
        .collect();
    let chosen = match &table.schema {
        Some(wanted) => found.iter().find(|(schema, _)| schema.eq_ignore_ascii_case(wanted)),
        None => found.iter().find(|(schema, _)| schema == DEFAULT_SCHEMA).or(found.first()),
    };
    let Some((schema, kind)) = chosen.cloned() else {
        let qualified = match &table.schema {
            Some(schema) => format!("{schema}.{}", table.name),
            None => table.name.clone(),
        };
        return Err(DbError::query(format!("no such table: {qualified}")));
    };
    let name = table.name.clone();
    let both = || vec![param(&schema), param(&name)];

    let columns = pool.fetch(COLUMNS, both()).await?.iter().filter_map(column_schema).collect();
    let primary_key = pool.fetch(PRIMARY_KEY, both()).await?.iter().filter_map(|row| text(row, 0)).collect();
    let foreign_keys = foreign_keys(&pool.fetch(FOREIGN_KEYS, both()).await?);
    let object = format!("{}.{}", bracketed(&schema), bracketed(&name));
    let indexes = indexes(&pool.fetch(INDEXES, vec![param(&object)]).await?);
    Ok(TableSchema::new(Some(schema), name, kind, columns)
        .with_primary_key(primary_key)
        .with_indexes(indexes)
        .with_foreign_keys(foreign_keys))
}

fn param(text: &str) -> ColumnData<'static> {
    ColumnData::String(Some(Cow::Owned(text.to_owned())))
}

/// `[name]`, with `]` doubled as T-SQL quotes it.
fn bracketed(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

fn kind(table_type: Option<&str>) -> TableKind {
    if table_type == Some("VIEW") { TableKind::View } else { TableKind::Table }
}

fn cell(row: &Row, index: usize) -> Value {
    row.cells().nth(index).map_or(Value::Null, |(column, data)| value(column.column_type(), data))
}

fn text(row: &Row, index: usize) -> Option<String> {
    match cell(row, index) {
        Value::Null => None,
        other => Some(other.to_text()),
    }
}

/// Catalog numbers arrive as tinyint, smallint or int (and as bigint from the
/// test endpoint); flags as bit or int.
fn number(row: &Row, index: usize) -> Option<i64> {
    match cell(row, index) {
        Value::Int(i) => Some(i),
        Value::Bool(b) => Some(i64::from(b)),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

/// COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION,
/// NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT
fn column_schema(row: &Row) -> Option<ColumnSchema> {
    let data_type = text(row, 1)?.to_ascii_lowercase();
    let native_type =
        declared_type(&data_type, number(row, 2), number(row, 3), number(row, 4), number(row, 5));
    let nullable = text(row, 6).is_none_or(|n| n.eq_ignore_ascii_case("YES"));
    Some(
        ColumnSchema::new(text(row, 0)?, native_type, logical_type_of_name(&data_type), nullable)
            .with_default(text(row, 7).map(|default| unwrapped_default(&default).to_owned())),
    )
}

/// SQL Server stores every default inside parentheses (`((1))`,
/// `(N'new')`, `(getdate())`); without them it reads like the other engines'.
fn unwrapped_default(mut default: &str) -> &str {
    while let Some(inner) = default.strip_prefix('(').and_then(|d| d.strip_suffix(')')) {
        if !balanced(inner) {
            break;
        }
        default = inner;
    }
    default
}

/// Parentheses outside string literals close in order (`1) + (2` does not).
fn balanced(expression: &str) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    for c in expression.chars() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}

/// The type as it would be declared: `nvarchar(100)`, `nvarchar(max)`,
/// `decimal(10,2)`, `datetime2(3)`; types without a size keep their name.
fn declared_type(
    data_type: &str,
    max_length: Option<i64>,
    precision: Option<i64>,
    scale: Option<i64>,
    datetime_precision: Option<i64>,
) -> String {
    match data_type {
        "char" | "varchar" | "nchar" | "nvarchar" | "binary" | "varbinary" => match max_length {
            Some(-1) => format!("{data_type}(max)"),
            Some(length) => format!("{data_type}({length})"),
            None => data_type.to_owned(),
        },
        "decimal" | "numeric" => match (precision, scale) {
            (Some(p), Some(s)) => format!("{data_type}({p},{s})"),
            _ => data_type.to_owned(),
        },
        "datetime2" | "time" | "datetimeoffset" => match datetime_precision {
            Some(p) => format!("{data_type}({p})"),
            None => data_type.to_owned(),
        },
        _ => data_type.to_owned(),
    }
}

/// Rows of (constraint, column, referenced schema, referenced table,
/// referenced column), ordered by constraint then position.
fn foreign_keys(rows: &[Row]) -> Vec<ForeignKeyInfo> {
    let mut keys: Vec<ForeignKeyInfo> = Vec::new();
    for row in rows {
        let (Some(name), Some(column), Some(table), Some(referenced)) =
            (text(row, 0), text(row, 1), text(row, 3), text(row, 4))
        else {
            continue;
        };
        match keys.last_mut() {
            Some(key) if key.name.as_deref() == Some(name.as_str()) => {
                key.columns.push(column);
                key.referenced_columns.push(referenced);
            }
            _ => keys.push(
                ForeignKeyInfo::new(Some(name), vec![column], table, vec![referenced])
                    .with_referenced_schema(text(row, 2)),
            ),
        }
    }
    keys
}

/// Rows of (index, column, is_unique), ordered by index then key position.
fn indexes(rows: &[Row]) -> Vec<IndexInfo> {
    let mut indexes: Vec<IndexInfo> = Vec::new();
    for row in rows {
        let (Some(name), Some(column)) = (text(row, 0), text(row, 1)) else {
            continue;
        };
        match indexes.last_mut() {
            Some(index) if index.name == name => index.columns.push(column),
            _ => indexes.push(IndexInfo::new(name, vec![column], number(row, 2) == Some(1))),
        }
    }
    indexes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_defaults_lose_their_wrapping_parentheses() {
        assert_eq!(unwrapped_default("((1))"), "1");
        assert_eq!(unwrapped_default("(N'new')"), "N'new'");
        assert_eq!(unwrapped_default("(getdate())"), "getdate()");
        assert_eq!(unwrapped_default("((1)+(2))"), "(1)+(2)");
        assert_eq!(unwrapped_default("('a)b')"), "'a)b'");
        assert_eq!(unwrapped_default("(1) + (2)"), "(1) + (2)");
    }

    #[test]
    fn declared_types_show_their_size() {
        assert_eq!(declared_type("nvarchar", Some(100), None, None, None), "nvarchar(100)");
        assert_eq!(declared_type("nvarchar", Some(-1), None, None, None), "nvarchar(max)");
        assert_eq!(declared_type("varbinary", Some(64), None, None, None), "varbinary(64)");
        assert_eq!(declared_type("decimal", None, Some(10), Some(2), None), "decimal(10,2)");
        assert_eq!(declared_type("datetime2", None, None, None, Some(3)), "datetime2(3)");
        assert_eq!(declared_type("int", None, Some(10), Some(0), None), "int");
        assert_eq!(declared_type("datetime", None, None, None, Some(3)), "datetime");
    }

    #[test]
    fn names_are_bracket_quoted() {
        assert_eq!(bracketed("orders"), "[orders]");
        assert_eq!(bracketed("odd]name"), "[odd]]name]");
    }

    /// The statements the TDS test endpoint answers, as its contract spells them.
    #[test]
    fn statements_match_the_endpoint_contract() {
        let contract = [
            (VERSION, "SELECT @@VERSION"),
            (DATABASES, "SELECT name FROM sys.databases ORDER BY name"),
            (
                SCHEMAS,
                "SELECT name FROM sys.schemas WHERE schema_id = 1 OR schema_id BETWEEN 5 AND 16383 ORDER BY name",
            ),
            (
                TABLES,
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_SCHEMA, TABLE_NAME",
            ),
            (
                TABLE_SCHEMAS,
                "SELECT TABLE_SCHEMA, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = @P1 ORDER BY TABLE_SCHEMA",
            ),
            (
                COLUMNS,
                "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2 ORDER BY ORDINAL_POSITION",
            ),
            (
                PRIMARY_KEY,
                "SELECT kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME WHERE tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 AND tc.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY kcu.ORDINAL_POSITION",
            ),
            (
                FOREIGN_KEYS,
                "SELECT rc.CONSTRAINT_NAME, kcu.COLUMN_NAME, ref.TABLE_SCHEMA, ref.TABLE_NAME, ref.COLUMN_NAME FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND kcu.CONSTRAINT_NAME = rc.CONSTRAINT_NAME JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE ref ON ref.CONSTRAINT_SCHEMA = rc.UNIQUE_CONSTRAINT_SCHEMA AND ref.CONSTRAINT_NAME = rc.UNIQUE_CONSTRAINT_NAME AND ref.ORDINAL_POSITION = kcu.ORDINAL_POSITION WHERE kcu.TABLE_SCHEMA = @P1 AND kcu.TABLE_NAME = @P2 ORDER BY rc.CONSTRAINT_NAME, kcu.ORDINAL_POSITION",
            ),
            (
                INDEXES,
                "SELECT i.name, c.name, i.is_unique FROM sys.indexes i JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE i.object_id = OBJECT_ID(@P1) AND i.is_primary_key = 0 AND i.name IS NOT NULL AND ic.is_included_column = 0 ORDER BY i.name, ic.key_ordinal",
            ),
        ];
        for (sent, expected) in contract {
            assert_eq!(sent, expected);
        }
    }
}
