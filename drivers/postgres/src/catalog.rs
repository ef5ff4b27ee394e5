//! Databases, schemas, tables and table definitions from the system catalogs.
//! System schemas (`pg_catalog`, `information_schema`, `pg_toast`, temporary
//! schemas) are left out of the listings.

use dbfleet_core::driver_api::{
    ColumnSchema, DatabaseInfo, DbError, ForeignKeyInfo, IndexInfo, LogicalType, RoutineInfo, TableFilter,
    TableInfo, TableKind, TableRef, TableSchema,
};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::errors::from_sqlx;
use crate::types::logical_type_of_name;

// Listing queries are assembled from this constant only: nothing a user
// typed reaches their text.
const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
                           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp_%'";

/// name, formatted type, base type name, nullable, default, typtype, typcategory, comment
type ColumnRow = (String, String, String, bool, Option<String>, String, String, Option<String>);
/// constraint, referenced schema, referenced table, columns, referenced columns
type ForeignKeyRow = (String, String, String, Vec<String>, Vec<String>);

pub async fn list_databases(conn: &mut PgConnection) -> Result<Vec<DatabaseInfo>, DbError> {
    let sql = format!(
        "SELECT datname::text, 'database' FROM pg_database WHERE NOT datistemplate \
         UNION ALL \
         SELECT n.nspname::text, 'schema' FROM pg_namespace n WHERE {USER_SCHEMA} \
         ORDER BY 2, 1"
    );
    let rows: Vec<(String, String)> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    Ok(rows.into_iter().map(|(name, kind)| DatabaseInfo::new(name, kind)).collect())
}

pub async fn list_tables(conn: &mut PgConnection, filter: &TableFilter) -> Result<Vec<TableInfo>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMA} ORDER BY 1, 2"
    );
    let rows: Vec<(String, String, String)> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, kind)| {
            let kind = if kind == "v" || kind == "m" { TableKind::View } else { TableKind::Table };
            TableInfo::new(Some(schema), name, kind)
        })
        .filter(|table| filter.matches(table))
        .collect())
}

/// schema, name, kind, arguments, result, comment
type RoutineRow = (String, String, String, Option<String>, Option<String>, Option<String>);

pub async fn list_routines(
    conn: &mut PgConnection,
    schema: Option<&str>,
) -> Result<Vec<RoutineInfo>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, p.proname::text, \
                CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' \
                               ELSE 'function' END, \
                pg_get_function_identity_arguments(p.oid), \
                CASE WHEN p.prokind = 'p' THEN NULL ELSE pg_get_function_result(p.oid) END, \
                obj_description(p.oid, 'pg_proc') \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_SCHEMA} AND ($1::text IS NULL OR n.nspname = $1::text) ORDER BY 1, 2"
    );
    let rows: Vec<RoutineRow> =
        sqlx::query_as(AssertSqlSafe(sql)).bind(schema).fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, kind, arguments, returns, comment)| {
            RoutineInfo::new(Some(schema), name, kind)
                .with_signature(arguments, returns)
                .with_comment(comment)
        })
        .collect())
}

pub async fn describe_table(conn: &mut PgConnection, table: &TableRef) -> Result<TableSchema, DbError> {
    // The named schema, else the first schema on the search path that has it.
    let found: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.oid::int8, n.nspname::text, c.relkind::text, obj_description(c.oid, 'pg_class') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND (n.nspname = $2::text OR ($2::text IS NULL AND n.nspname = ANY (current_schemas(true)))) \
         ORDER BY array_position(current_schemas(true), n.nspname) LIMIT 1",
    )
    .bind(&table.name)
    .bind(&table.schema)
    .fetch_optional(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let Some((oid, schema, kind, comment)) = found else {
        let qualified = match &table.schema {
            Some(schema) => format!("{schema}.{}", table.name),
            None => table.name.clone(),
        };
        return Err(DbError::query(format!("no such table: {qualified}")));
    };

    let columns: Vec<ColumnRow> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), COALESCE(bt.typname, t.typname)::text, \
                NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid), t.typtype::text, t.typcategory::text, \
                col_description(a.attrelid, a.attnum) \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    let columns = columns
        .into_iter()
        .map(|(name, native, base, nullable, default, typtype, category, comment)| {
            let logical_type = match (typtype.as_str(), category.as_str()) {
                (_, "A") => LogicalType::Array,
                ("e", _) => LogicalType::Text,
                _ => logical_type_of_name(&base),
            };
            ColumnSchema::new(name, native, logical_type, nullable)
                .with_default(default)
                .with_comment(comment)
        })
        .collect();

    let primary_key: Vec<(String,)> = sqlx::query_as(
        "SELECT a.attname::text FROM pg_index i \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = $1::int8::oid AND i.indisprimary ORDER BY k.ord",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;

    let indexes: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
        "SELECT ic.relname::text, i.indisunique, \
                array_agg(COALESCE(a.attname::text, '<expression>') ORDER BY k.ord) \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = $1::int8::oid AND NOT i.indisprimary \
         GROUP BY ic.relname, i.indisunique ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;

    let foreign_keys: Vec<ForeignKeyRow> = sqlx::query_as(
        "SELECT con.conname::text, rn.nspname::text, rc.relname::text, \
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(n, o) \
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), \
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(n, o) \
                  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) \
         FROM pg_constraint con JOIN pg_class rc ON rc.oid = con.confrelid \
         JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
         WHERE con.conrelid = $1::int8::oid AND con.contype = 'f' ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(from_sqlx)?;

    let kind = if kind == "v" || kind == "m" { TableKind::View } else { TableKind::Table };
    Ok(TableSchema::new(Some(schema), table.name.clone(), kind, columns)
        .with_comment(comment)
        .with_primary_key(primary_key.into_iter().map(|(column,)| column).collect())
        .with_indexes(
            indexes
                .into_iter()
                .map(|(name, unique, columns)| IndexInfo::new(name, columns, unique))
                .collect(),
        )
        .with_foreign_keys(
            foreign_keys
                .into_iter()
                .map(|(name, referenced_schema, referenced_table, columns, referenced_columns)| {
                    ForeignKeyInfo::new(Some(name), columns, referenced_table, referenced_columns)
                        .with_referenced_schema(Some(referenced_schema))
                })
                .collect(),
        ))
}

/// What the login may do beyond reading: superuser, role attributes, the
/// predefined roles that write or reach outside the database, and tables
/// it may change.
pub async fn write_rights(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let sql = "SELECT r.rolsuper, \
               array_remove(ARRAY[CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, \
                 CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, \
                 CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL) AS attributes, \
               ARRAY(SELECT b.rolname::text FROM pg_roles b WHERE b.rolname IN ('pg_write_all_data', \
                 'pg_write_server_files', 'pg_execute_server_program', 'pg_signal_backend') \
                 AND pg_has_role(current_user, b.oid, 'MEMBER') ORDER BY 1) AS roles, \
               (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' \
                 AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') \
                   OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))) \
               FROM pg_roles r WHERE r.rolname = current_user";
    let (superuser, attributes, roles, tables): (bool, Vec<String>, Vec<String>, i64) =
        sqlx::query_as(sql).fetch_one(&mut *conn).await.map_err(from_sqlx)?;
    if superuser {
        return Ok(vec![
            "its login is a superuser: it may write anything, read and write files and run \
                        programs on the server"
                .to_owned(),
        ]);
    }
    let mut rights = Vec::new();
    if !attributes.is_empty() {
        rights.push(format!("its login has {}", attributes.join(", ")));
    }
    if !roles.is_empty() {
        rights.push(format!("its login is a member of {}", roles.join(", ")));
    }
    if tables > 0 {
        rights.push(format!("its login may change {tables} table(s) (INSERT, UPDATE, DELETE or TRUNCATE)"));
    }
    Ok(rights)
}
