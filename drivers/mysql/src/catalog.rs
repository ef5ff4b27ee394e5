//! Schemas, tables and table definitions from `information_schema`. The
//! system schemas (`information_schema`, `performance_schema`, `mysql`,
//! `sys`) are left out of the listings.

use dbfleet_core::driver_api::{
    ColumnSchema, DatabaseInfo, DbError, ForeignKeyInfo, IndexInfo, RoutineInfo, TableFilter, TableInfo,
    TableKind, TableRef, TableSchema,
};
use sqlx::MySqlConnection;

use crate::errors::from_sqlx;
use crate::types::logical_type_of_column;

pub async fn list_databases(conn: &mut MySqlConnection) -> Result<Vec<DatabaseInfo>, DbError> {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME NOT IN ('information_schema', 'performance_schema', 'mysql', 'sys') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    Ok(names.into_iter().map(|(name,)| DatabaseInfo::new(name, "database")).collect())
}

/// Tables and views of the schema asked for, else of the connected database,
/// else of every user schema.
pub async fn list_tables(
    conn: &mut MySqlConnection,
    filter: &TableFilter,
) -> Result<Vec<TableInfo>, DbError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) \
         FROM information_schema.TABLES \
         WHERE TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED') AND CASE \
           WHEN ? IS NOT NULL THEN TABLE_SCHEMA = ? \
           WHEN DATABASE() IS NOT NULL THEN TABLE_SCHEMA = DATABASE() \
           ELSE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'mysql', 'sys') END \
         ORDER BY 1, 2",
    )
    .bind(&filter.schema)
    .bind(&filter.schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, kind)| {
            TableInfo::new(
                Some(schema),
                name,
                if kind == "VIEW" { TableKind::View } else { TableKind::Table },
            )
        })
        .filter(|table| filter.matches(table))
        .collect())
}

/// schema, name, kind, return type, comment
type RoutineRow = (String, String, String, Option<String>, Option<String>);
/// name, type, nullable, default, comment
type ColumnRow = (String, String, String, Option<String>, Option<String>);

/// The stored functions and procedures of `schema`, or of the current
/// database. Their arguments are not listed (they are rows of
/// information_schema.PARAMETERS); a function's return type is.
pub async fn list_routines(
    conn: &mut MySqlConnection,
    schema: Option<&str>,
) -> Result<Vec<RoutineInfo>, DbError> {
    let rows: Vec<RoutineRow> = sqlx::query_as(
        "SELECT CAST(ROUTINE_SCHEMA AS CHAR), CAST(ROUTINE_NAME AS CHAR), LOWER(CAST(ROUTINE_TYPE AS CHAR)), \
                CAST(DTD_IDENTIFIER AS CHAR), CAST(ROUTINE_COMMENT AS CHAR) \
         FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = COALESCE(?, DATABASE()) ORDER BY 1, 2",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, kind, returns, comment)| {
            RoutineInfo::new(Some(schema), name, kind).with_signature(None, returns).with_comment(comment)
        })
        .collect())
}

pub async fn describe_table(conn: &mut MySqlConnection, table: &TableRef) -> Result<TableSchema, DbError> {
    let found: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_TYPE AS CHAR), CAST(TABLE_COMMENT AS CHAR) \
         FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
    )
    .bind(&table.schema)
    .bind(&table.name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let Some((schema, kind, comment)) = found else {
        let qualified = match &table.schema {
            Some(schema) => format!("{schema}.{}", table.name),
            None => table.name.clone(),
        };
        return Err(DbError::query(format!("no such table: {qualified}")));
    };

    let columns: Vec<ColumnRow> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
                CAST(COLUMN_DEFAULT AS CHAR), CAST(COLUMN_COMMENT AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(&schema)
    .bind(&table.name)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let columns = columns
        .into_iter()
        .map(|(name, column_type, nullable, default, comment)| {
            let logical_type = logical_type_of_column(&column_type);
            ColumnSchema::new(name, column_type, logical_type, nullable == "YES")
                // MariaDB reports "no default" of a nullable column as the text NULL.
                .with_default(default.filter(|d| d != "NULL"))
                .with_comment(comment)
        })
        .collect();

    let keys: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED), CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(&schema)
    .bind(&table.name)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let mut primary_key = Vec::new();
    let mut indexes: Vec<IndexInfo> = Vec::new();
    for (index, non_unique, column) in keys {
        if index == "PRIMARY" {
            primary_key.push(column);
        } else if let Some(last) = indexes.last_mut().filter(|i| i.name == index) {
            last.columns.push(column);
        } else {
            indexes.push(IndexInfo::new(index, vec![column], non_unique == 0));
        }
    }

    let references: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(REFERENCED_TABLE_SCHEMA AS CHAR), \
                CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
    )
    .bind(&schema)
    .bind(&table.name)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let mut foreign_keys: Vec<ForeignKeyInfo> = Vec::new();
    for (name, column, referenced_schema, referenced_table, referenced_column) in references {
        match foreign_keys.last_mut().filter(|k| k.name.as_deref() == Some(name.as_str())) {
            Some(key) => {
                key.columns.push(column);
                key.referenced_columns.push(referenced_column);
            }
            None => foreign_keys.push(
                ForeignKeyInfo::new(Some(name), vec![column], referenced_table, vec![referenced_column])
                    .with_referenced_schema(Some(referenced_schema)),
            ),
        }
    }

    let kind = if kind == "VIEW" { TableKind::View } else { TableKind::Table };
    // A view's TABLE_COMMENT is the word VIEW, not a comment.
    let comment = comment.filter(|_| kind == TableKind::Table);
    Ok(TableSchema::new(Some(schema), table.name.clone(), kind, columns)
        .with_comment(comment)
        .with_primary_key(primary_key)
        .with_indexes(indexes)
        .with_foreign_keys(foreign_keys))
}

/// Rights beyond reading, as `SHOW GRANTS` lists them.
const WRITE_RIGHTS: &[&str] = &[
    "ALL PRIVILEGES",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "EXECUTE",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "TRIGGER",
    "EVENT",
    "FILE",
    "SUPER",
    "PROCESS",
    "RELOAD",
    "SHUTDOWN",
];

/// What the login may do beyond reading, from `SHOW GRANTS`.
pub async fn write_rights(conn: &mut MySqlConnection) -> Result<Vec<String>, DbError> {
    let grants: Vec<String> =
        sqlx::query_scalar("SHOW GRANTS").fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    Ok(grants.iter().filter_map(|grant| grant_rights(grant)).collect())
}

/// `GRANT INSERT, UPDATE ON `shop`.* TO …` gives "its login may INSERT, UPDATE on `shop`.*".
fn grant_rights(grant: &str) -> Option<String> {
    let rest = grant.strip_prefix("GRANT ")?;
    let (privileges, rest) = rest.split_once(" ON ")?;
    let object = rest.split(" TO ").next().unwrap_or(rest);
    let found: Vec<&str> = privileges
        .split(',')
        .map(str::trim)
        .filter(|p| WRITE_RIGHTS.iter().any(|w| p.eq_ignore_ascii_case(w)))
        .collect();
    (!found.is_empty()).then(|| format!("its login may {} on {object}", found.join(", ")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn grants_beyond_reading_are_named() {
        assert_eq!(
            super::grant_rights("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION")
                .unwrap(),
            "its login may ALL PRIVILEGES on *.*"
        );
        assert_eq!(
            super::grant_rights("GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app`@`%`").unwrap(),
            "its login may INSERT, UPDATE on `shop`.*"
        );
        assert_eq!(super::grant_rights("GRANT SELECT, SHOW VIEW ON `shop`.* TO `reader`@`%`"), None);
        assert_eq!(super::grant_rights("GRANT USAGE ON *.* TO `reader`@`%`"), None);
        assert_eq!(super::grant_rights("GRANT `analyst` TO `reader`@`%`"), None);
    }
}
