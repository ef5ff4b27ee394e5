//! Databases, tables and table definitions, from SQLite's table-valued
//! pragma functions (parameterised, so names need no quoting).

use dbfleet_core::driver_api::{
    ColumnSchema, DatabaseInfo, DbError, ForeignKeyInfo, IndexInfo, TableFilter, TableInfo, TableKind,
    TableRef, TableSchema,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::errors::from_sqlite;
use crate::types::logical_type;

pub fn list_databases(c: &Connection) -> Result<Vec<DatabaseInfo>, DbError> {
    let mut statement =
        c.prepare("SELECT name, file FROM pragma_database_list ORDER BY seq").map_err(from_sqlite)?;
    let rows = statement
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)))
        .map_err(from_sqlite)?;
    rows.map(|row| {
        let (name, file) = row.map_err(from_sqlite)?;
        let kind = match name.as_str() {
            "main" => "database",
            "temp" => "temp",
            _ => "attached",
        };
        Ok(DatabaseInfo::new(name, kind).with_location(file.filter(|f| !f.is_empty())))
    })
    .collect()
}

pub fn list_tables(c: &Connection, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
    let mut statement = c
        .prepare(
            "SELECT schema, name, type FROM pragma_table_list \
             WHERE type IN ('table', 'view', 'virtual') AND name NOT LIKE 'sqlite_%' \
             ORDER BY schema = 'main' DESC, schema, name",
        )
        .map_err(from_sqlite)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })
        .map_err(from_sqlite)?;
    let mut tables = Vec::new();
    for row in rows {
        let (schema, name, kind) = row.map_err(from_sqlite)?;
        let kind = if kind == "view" { TableKind::View } else { TableKind::Table };
        let table = TableInfo::new(Some(schema), name, kind);
        if filter.matches(&table) {
            tables.push(table);
        }
    }
    Ok(tables)
}

pub fn describe_table(c: &Connection, table: &TableRef) -> Result<TableSchema, DbError> {
    let (schema, kind) = locate(c, table)?;
    let name = table.name.as_str();

    let mut statement = c
        .prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1, ?2) ORDER BY cid")
        .map_err(from_sqlite)?;
    let mut key_parts: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    let rows = statement
        .query_map(params![name, schema], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .map_err(from_sqlite)?;
    for row in rows {
        let (column, declared, not_null, default, pk, hidden) = row.map_err(from_sqlite)?;
        // 1 marks the hidden columns of virtual tables; generated columns (2, 3) are real.
        if hidden == 1 {
            continue;
        }
        if pk > 0 {
            key_parts.push((pk, column.clone()));
        }
        let logical_type = logical_type(&declared);
        columns.push(
            ColumnSchema::new(column, declared, logical_type, !not_null && pk == 0).with_default(default),
        );
    }
    key_parts.sort();
    let primary_key = key_parts.into_iter().map(|(_, column)| column).collect();

    Ok(TableSchema::new(Some(schema.clone()), name, kind, columns)
        .with_primary_key(primary_key)
        .with_indexes(indexes(c, &schema, name)?)
        .with_foreign_keys(foreign_keys(c, &schema, name)?))
}

/// The schema holding the table (the one named, else the first in search
/// order: main, temp, attached) and whether it is a view.
fn locate(c: &Connection, table: &TableRef) -> Result<(String, TableKind), DbError> {
    let found: Option<(String, String)> = c
        .query_row(
            "SELECT schema, type FROM pragma_table_list \
             WHERE name = ?1 AND (?2 IS NULL OR schema = ?2) AND type IN ('table', 'view', 'virtual') \
             ORDER BY schema = 'main' DESC, schema = 'temp' DESC LIMIT 1",
            params![table.name, table.schema],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(from_sqlite)?;
    match found {
        Some((schema, kind)) => Ok((schema, if kind == "view" { TableKind::View } else { TableKind::Table })),
        None => {
            let qualified = match &table.schema {
                Some(schema) => format!("{schema}.{}", table.name),
                None => table.name.clone(),
            };
            Err(DbError::query(format!("no such table: {qualified}")))
        }
    }
}

/// Indexes other than the primary key's own (which `primary_key` reports);
/// unique constraints are listed, as unique indexes.
fn indexes(c: &Connection, schema: &str, table: &str) -> Result<Vec<IndexInfo>, DbError> {
    let mut list = c
        .prepare("SELECT name, \"unique\" FROM pragma_index_list(?1, ?2) WHERE origin <> 'pk' ORDER BY name")
        .map_err(from_sqlite)?;
    let found: Vec<(String, bool)> = list
        .query_map(params![table, schema], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(from_sqlite)?
        .collect::<Result<_, _>>()
        .map_err(from_sqlite)?;
    let mut info =
        c.prepare("SELECT name FROM pragma_index_info(?1, ?2) ORDER BY seqno").map_err(from_sqlite)?;
    found
        .into_iter()
        .map(|(name, unique)| {
            let columns = info
                .query_map(params![name, schema], |row| row.get::<_, Option<String>>(0))
                .map_err(from_sqlite)?
                .map(|column| column.map(|c| c.unwrap_or_else(|| "<expression>".into())))
                .collect::<Result<_, _>>()
                .map_err(from_sqlite)?;
            Ok(IndexInfo::new(name, columns, unique))
        })
        .collect()
}

/// Foreign keys, one per constraint (multi-column keys grouped). SQLite keeps
/// no constraint names; a reference without columns means the parent's key.
fn foreign_keys(c: &Connection, schema: &str, table: &str) -> Result<Vec<ForeignKeyInfo>, DbError> {
    let mut statement = c
        .prepare(
            "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1, ?2) ORDER BY id, seq",
        )
        .map_err(from_sqlite)?;
    let rows: Vec<(i64, String, String, Option<String>)> = statement
        .query_map(params![table, schema], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .map_err(from_sqlite)?
        .collect::<Result<_, _>>()
        .map_err(from_sqlite)?;
    let mut keys: Vec<(i64, ForeignKeyInfo)> = Vec::new();
    for (id, parent, from, to) in rows {
        if keys.last().is_none_or(|(last, _)| *last != id) {
            keys.push((
                id,
                ForeignKeyInfo::new(None, vec![], parent, vec![])
                    .with_referenced_schema(Some(schema.to_owned())),
            ));
        }
        let (_, key) = keys.last_mut().expect("pushed above");
        key.columns.push(from);
        if let Some(to) = to {
            key.referenced_columns.push(to);
        }
    }
    keys.into_iter()
        .map(|(_, mut key)| {
            if key.referenced_columns.is_empty() {
                let parent =
                    describe_table(c, &TableRef::new(Some(schema.to_owned()), key.referenced_table.clone()))?;
                key.referenced_columns = parent.primary_key;
            }
            Ok(key)
        })
        .collect()
}
