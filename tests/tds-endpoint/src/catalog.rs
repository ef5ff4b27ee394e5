//! The SQL Server catalog (`sys.*` and `INFORMATION_SCHEMA.*`) over a SQLite database.
//!
//! Each session owns TEMP tables named `tds_sys_<x>` / `tds_information_schema_<x>`
//! with SQL Server's column names and T-SQL declared types (so results go out with the
//! right TDS types). The rewrite points `sys.x` / `INFORMATION_SCHEMA.X` at them, and
//! the executor refreshes them from `sqlite_schema` and the `pragma_table_info`,
//! `pragma_index_list`, `pragma_index_info` and `pragma_foreign_key_list` functions
//! right before a statement that reads them. Tables rather than views because
//! SQLite keeps neither constraint names (parsed here from the `CREATE TABLE` text)
//! nor a list of databases (the data directory's files).

use rusqlite::{Connection, params};

use crate::lexer::{Kind, Token, tokenize};
use crate::types::DeclaredType;

/// (schema, view name, catalog table, its columns with declared types).
const TABLES: &[(&str, &str, &str, &str)] = &[
    ("sys", "databases", "tds_sys_databases", "name NVARCHAR(128), database_id INT"),
    ("sys", "schemas", "tds_sys_schemas", "name NVARCHAR(128), schema_id INT, principal_id INT"),
    (
        "sys",
        "objects",
        "tds_sys_objects",
        "object_id INT, name NVARCHAR(128), schema_id INT, type NVARCHAR(2), type_desc NVARCHAR(60)",
    ),
    ("sys", "tables", "tds_sys_tables", "object_id INT, name NVARCHAR(128), schema_id INT"),
    ("sys", "views", "tds_sys_views", "object_id INT, name NVARCHAR(128), schema_id INT"),
    (
        "sys",
        "columns",
        "tds_sys_columns",
        "object_id INT, name NVARCHAR(128), column_id INT, is_nullable BIT",
    ),
    (
        "sys",
        "indexes",
        "tds_sys_indexes",
        "object_id INT, name NVARCHAR(128), index_id INT, type TINYINT, type_desc NVARCHAR(60), \
         is_unique BIT, is_primary_key BIT, is_unique_constraint BIT",
    ),
    (
        "sys",
        "index_columns",
        "tds_sys_index_columns",
        "object_id INT, index_id INT, index_column_id INT, column_id INT, key_ordinal TINYINT, \
         is_descending_key BIT, is_included_column BIT",
    ),
    (
        "INFORMATION_SCHEMA",
        "TABLES",
        "tds_information_schema_tables",
        "TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), TABLE_TYPE VARCHAR(10)",
    ),
    (
        "INFORMATION_SCHEMA",
        "COLUMNS",
        "tds_information_schema_columns",
        "TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), \
         COLUMN_NAME NVARCHAR(128), ORDINAL_POSITION INT, COLUMN_DEFAULT NVARCHAR(4000), \
         IS_NULLABLE VARCHAR(3), DATA_TYPE NVARCHAR(128), CHARACTER_MAXIMUM_LENGTH INT, \
         CHARACTER_OCTET_LENGTH INT, NUMERIC_PRECISION TINYINT, NUMERIC_SCALE INT, DATETIME_PRECISION SMALLINT",
    ),
    (
        "INFORMATION_SCHEMA",
        "TABLE_CONSTRAINTS",
        "tds_information_schema_table_constraints",
        "CONSTRAINT_CATALOG NVARCHAR(128), CONSTRAINT_SCHEMA NVARCHAR(128), CONSTRAINT_NAME NVARCHAR(128), \
         TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), \
         CONSTRAINT_TYPE VARCHAR(11)",
    ),
    (
        "INFORMATION_SCHEMA",
        "KEY_COLUMN_USAGE",
        "tds_information_schema_key_column_usage",
        "CONSTRAINT_CATALOG NVARCHAR(128), CONSTRAINT_SCHEMA NVARCHAR(128), CONSTRAINT_NAME NVARCHAR(128), \
         TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), \
         COLUMN_NAME NVARCHAR(128), ORDINAL_POSITION INT",
    ),
    (
        "INFORMATION_SCHEMA",
        "REFERENTIAL_CONSTRAINTS",
        "tds_information_schema_referential_constraints",
        "CONSTRAINT_CATALOG NVARCHAR(128), CONSTRAINT_SCHEMA NVARCHAR(128), CONSTRAINT_NAME NVARCHAR(128), \
         UNIQUE_CONSTRAINT_CATALOG NVARCHAR(128), UNIQUE_CONSTRAINT_SCHEMA NVARCHAR(128), \
         UNIQUE_CONSTRAINT_NAME NVARCHAR(128), MATCH_OPTION VARCHAR(7), UPDATE_RULE VARCHAR(11), \
         DELETE_RULE VARCHAR(11)",
    ),
];

const OBJECT_NAMES: &str = "tds_object_names";
const DBO: &str = "dbo";

/// The catalog table standing for `schema.name`, if there is one.
pub fn table_for(schema: &str, name: &str) -> Option<&'static str> {
    TABLES
        .iter()
        .find(|(s, n, _, _)| s.eq_ignore_ascii_case(schema) && n.eq_ignore_ascii_case(name))
        .map(|(_, _, table, _)| *table)
}

/// SQL for `OBJECT_ID(argument)`: accepts `[s].[t]`, `s.t` and `t` spellings.
pub fn object_id_lookup(argument: &str) -> String {
    format!("(SELECT object_id FROM temp.{OBJECT_NAMES} WHERE spelled = ({argument}) COLLATE NOCASE)")
}

/// Creates the session's (empty) catalog tables.
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    let mut ddl = String::new();
    for (_, _, table, columns) in TABLES {
        ddl.push_str(&format!("CREATE TEMP TABLE {table} ({columns});\n"));
    }
    ddl.push_str(&format!("CREATE TEMP TABLE {OBJECT_NAMES} (object_id INT, spelled NVARCHAR(300));"));
    conn.execute_batch(&ddl)
}

struct Object {
    id: i64,
    name: String,
    is_view: bool,
    sql: String,
}

struct ColumnInfo {
    name: String,
    decl: String,
    not_null: bool,
    default: Option<String>,
    pk: i64,
}

/// Refills the catalog tables from the current schema of `main`.
pub fn refresh(conn: &Connection, database: &str, databases: &[String]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    for (_, _, table, _) in TABLES {
        tx.execute(&format!("DELETE FROM temp.{table}"), [])?;
    }
    tx.execute(&format!("DELETE FROM temp.{OBJECT_NAMES}"), [])?;

    for (i, name) in databases.iter().enumerate() {
        tx.execute("INSERT INTO temp.tds_sys_databases VALUES (?1, ?2)", params![name, i as i64 + 1])?;
    }
    for (name, id) in [("dbo", 1), ("guest", 2), ("INFORMATION_SCHEMA", 3), ("sys", 4)] {
        tx.execute("INSERT INTO temp.tds_sys_schemas VALUES (?1, ?2, 1)", params![name, id])?;
    }

    let objects = list_objects(&tx)?;
    for object in &objects {
        insert_object(&tx, database, object, &objects)?;
    }
    tx.commit()
}

fn list_objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    let mut stmt = conn.prepare(
        "SELECT rowid, name, type, coalesce(sql, '') FROM main.sqlite_schema \
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )?;
    stmt.query_map([], |r| {
        Ok(Object {
            id: 1000 + r.get::<_, i64>(0)?,
            name: r.get(1)?,
            is_view: r.get::<_, String>(2)? == "view",
            sql: r.get(3)?,
        })
    })?
    .collect()
}

fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Vec<ColumnInfo>> {
    let mut stmt =
        conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")?;
    stmt.query_map([table], |r| {
        Ok(ColumnInfo {
            name: r.get(0)?,
            decl: r.get(1)?,
            not_null: r.get(2)?,
            default: r.get(3)?,
            pk: r.get(4)?,
        })
    })?
    .collect()
}

fn insert_object(conn: &Connection, database: &str, object: &Object, all: &[Object]) -> rusqlite::Result<()> {
    let (kind, desc, table_type) =
        if object.is_view { ("V", "VIEW", "VIEW") } else { ("U", "USER_TABLE", "BASE TABLE") };
    conn.execute(
        "INSERT INTO temp.tds_sys_objects VALUES (?1, ?2, 1, ?3, ?4)",
        params![object.id, object.name, kind, desc],
    )?;
    let listing = if object.is_view { "tds_sys_views" } else { "tds_sys_tables" };
    conn.execute(&format!("INSERT INTO temp.{listing} VALUES (?1, ?2, 1)"), params![object.id, object.name])?;
    conn.execute(
        "INSERT INTO temp.tds_information_schema_tables VALUES (?1, ?2, ?3, ?4)",
        params![database, DBO, object.name, table_type],
    )?;
    for spelled in [
        object.name.clone(),
        format!("[{}]", object.name),
        format!("{DBO}.{}", object.name),
        format!("[{DBO}].[{}]", object.name),
        format!("{DBO}.[{}]", object.name),
        format!("[{DBO}].{}", object.name),
    ] {
        conn.execute(
            &format!("INSERT INTO temp.{OBJECT_NAMES} VALUES (?1, ?2)"),
            params![object.id, spelled],
        )?;
    }

    let columns = columns_of(conn, &object.name)?;
    for (i, column) in columns.iter().enumerate() {
        insert_column(conn, database, object, i, column)?;
    }
    if object.is_view {
        return Ok(());
    }
    insert_primary_key(conn, database, object, &columns)?;
    insert_indexes(conn, database, object, &columns)?;
    insert_foreign_keys(conn, database, object, all)
}

fn insert_column(
    conn: &Connection,
    database: &str,
    object: &Object,
    index: usize,
    column: &ColumnInfo,
) -> rusqlite::Result<()> {
    let nullable = !(column.not_null || column.pk > 0);
    conn.execute(
        "INSERT INTO temp.tds_sys_columns VALUES (?1, ?2, ?3, ?4)",
        params![object.id, column.name, index as i64 + 1, nullable],
    )?;
    let declared = DeclaredType::parse(&column.decl);
    let char_len = declared.character_maximum_length();
    let octet_len = char_len.map(|n| if n > 0 && declared.is_unicode() { n * 2 } else { n });
    conn.execute(
        "INSERT INTO temp.tds_information_schema_columns VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            database,
            DBO,
            object.name,
            column.name,
            index as i64 + 1,
            column.default.as_ref().map(|d| format!("({d})")),
            if nullable { "YES" } else { "NO" },
            declared.data_type(),
            char_len,
            octet_len,
            declared.numeric_precision(),
            declared.numeric_scale(),
            declared.datetime_precision(),
        ],
    )?;
    Ok(())
}

fn primary_key_name(table: &str) -> String {
    format!("PK_{table}")
}

fn insert_constraint(
    conn: &Connection,
    database: &str,
    object: &Object,
    name: &str,
    kind: &str,
    columns: &[String],
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO temp.tds_information_schema_table_constraints VALUES (?1, ?2, ?3, ?1, ?2, ?4, ?5)",
        params![database, DBO, name, object.name, kind],
    )?;
    for (i, column) in columns.iter().enumerate() {
        conn.execute(
            "INSERT INTO temp.tds_information_schema_key_column_usage VALUES (?1, ?2, ?3, ?1, ?2, ?4, ?5, ?6)",
            params![database, DBO, name, object.name, column, i as i64 + 1],
        )?;
    }
    Ok(())
}

fn primary_key_columns(columns: &[ColumnInfo]) -> Vec<String> {
    let mut pk: Vec<&ColumnInfo> = columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    pk.into_iter().map(|c| c.name.clone()).collect()
}

fn insert_primary_key(
    conn: &Connection,
    database: &str,
    object: &Object,
    columns: &[ColumnInfo],
) -> rusqlite::Result<()> {
    let pk = primary_key_columns(columns);
    if pk.is_empty() {
        return Ok(());
    }
    let name = primary_key_name(&object.name);
    insert_constraint(conn, database, object, &name, "PRIMARY KEY", &pk)?;
    conn.execute(
        "INSERT INTO temp.tds_sys_indexes VALUES (?1, ?2, 1, 1, 'CLUSTERED', 1, 1, 0)",
        params![object.id, name],
    )?;
    insert_index_columns(conn, object, 1, &pk, columns)
}

fn insert_index_columns(
    conn: &Connection,
    object: &Object,
    index_id: i64,
    names: &[String],
    columns: &[ColumnInfo],
) -> rusqlite::Result<()> {
    for (i, name) in names.iter().enumerate() {
        let column_id =
            columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)).map_or(0, |p| p as i64 + 1);
        conn.execute(
            "INSERT INTO temp.tds_sys_index_columns VALUES (?1, ?2, ?3, ?4, ?3, 0, 0)",
            params![object.id, index_id, i as i64 + 1, column_id],
        )?;
    }
    Ok(())
}

/// Secondary indexes: `CREATE INDEX` ones keep their names, `UNIQUE` constraints
/// (auto-indexes in SQLite) are named `UQ_<table>_<n>`.
fn insert_indexes(
    conn: &Connection,
    database: &str,
    object: &Object,
    columns: &[ColumnInfo],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT name, \"unique\", origin FROM pragma_index_list(?1) WHERE origin <> 'pk' ORDER BY seq DESC",
    )?;
    let indexes: Vec<(String, bool, String)> = stmt
        .query_map([&object.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut unique_constraints = 0;
    for (i, (sqlite_name, unique, origin)) in indexes.iter().enumerate() {
        let index_id = i as i64 + 2;
        let index_columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
            .query_map([sqlite_name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let is_constraint = origin == "u";
        let name = if is_constraint {
            unique_constraints += 1;
            format!("UQ_{}_{unique_constraints}", object.name)
        } else {
            sqlite_name.clone()
        };
        conn.execute(
            "INSERT INTO temp.tds_sys_indexes VALUES (?1, ?2, ?3, 2, 'NONCLUSTERED', ?4, 0, ?5)",
            params![object.id, name, index_id, unique, is_constraint],
        )?;
        insert_index_columns(conn, object, index_id, &index_columns, columns)?;
        if is_constraint {
            insert_constraint(conn, database, object, &name, "UNIQUE", &index_columns)?;
        }
    }
    Ok(())
}

struct ForeignKey {
    from: Vec<String>,
    to_table: String,
    to: Vec<Option<String>>,
    on_update: String,
    on_delete: String,
}

fn insert_foreign_keys(
    conn: &Connection,
    database: &str,
    object: &Object,
    all: &[Object],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )?;
    let mut keys: Vec<(i64, ForeignKey)> = Vec::new();
    let mut rows = stmt.query([&object.name])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        if keys.last().is_none_or(|(last, _)| *last != id) {
            keys.push((
                id,
                ForeignKey {
                    from: Vec::new(),
                    to_table: r.get(1)?,
                    to: Vec::new(),
                    on_update: r.get(4)?,
                    on_delete: r.get(5)?,
                },
            ));
        }
        if let Some((_, key)) = keys.last_mut() {
            key.from.push(r.get(2)?);
            key.to.push(r.get(3)?);
        }
    }
    let declared = declared_foreign_keys(&object.sql);
    for (id, key) in keys {
        let position = declared.iter().position(|(_, cols)| same_columns(cols, &key.from));
        let name = match position.and_then(|p| declared[p].0.clone()) {
            Some(name) => name,
            None => format!("FK_{}_{}", object.name, position.map_or(id + 1, |p| p as i64 + 1)),
        };
        insert_constraint(conn, database, object, &name, "FOREIGN KEY", &key.from)?;
        let referenced = all.iter().find(|o| o.name.eq_ignore_ascii_case(&key.to_table));
        let referenced_columns = match referenced {
            Some(target) => columns_of(conn, &target.name)?,
            None => Vec::new(),
        };
        let target_pk = primary_key_columns(&referenced_columns);
        let to: Vec<String> = key
            .to
            .iter()
            .enumerate()
            .map(|(i, c)| c.clone().or_else(|| target_pk.get(i).cloned()).unwrap_or_default())
            .collect();
        let unique_name = if same_columns(&to, &target_pk) {
            primary_key_name(referenced.map_or(&key.to_table, |t| &t.name))
        } else {
            unique_constraint_on(conn, &key.to_table, &to)?
        };
        conn.execute(
            "INSERT INTO temp.tds_information_schema_referential_constraints VALUES (?1, ?2, ?3, ?1, ?2, ?4, 'SIMPLE', ?5, ?6)",
            params![database, DBO, name, unique_name, rule(&key.on_update), rule(&key.on_delete)],
        )?;
    }
    Ok(())
}

/// The name the catalog gives to the unique constraint of `table` on `columns`.
fn unique_constraint_on(conn: &Connection, table: &str, columns: &[String]) -> rusqlite::Result<String> {
    let found: Option<String> = conn
        .query_row(
            "SELECT CONSTRAINT_NAME FROM temp.tds_information_schema_key_column_usage \
             WHERE TABLE_NAME = ?1 COLLATE NOCASE AND CONSTRAINT_NAME LIKE 'UQ\\_%' ESCAPE '\\' \
             GROUP BY CONSTRAINT_NAME HAVING group_concat(lower(COLUMN_NAME), ',') = ?2",
            params![table, columns.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>().join(",")],
            |r| r.get(0),
        )
        .ok();
    Ok(found.unwrap_or_else(|| format!("UQ_{table}")))
}

fn rule(sqlite: &str) -> &'static str {
    match sqlite.to_ascii_uppercase().as_str() {
        "CASCADE" => "CASCADE",
        "SET NULL" => "SET_NULL",
        "SET DEFAULT" => "SET_DEFAULT",
        _ => "NO_ACTION",
    }
}

fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Foreign keys as declared in a `CREATE TABLE` text, in order: (constraint name if
/// given, local columns). Covers `[CONSTRAINT n] FOREIGN KEY (cols) REFERENCES ...`
/// table constraints and `col type [CONSTRAINT n] REFERENCES ...` column constraints.
fn declared_foreign_keys(create_sql: &str) -> Vec<(Option<String>, Vec<String>)> {
    let tokens: Vec<Token> = tokenize(create_sql).into_iter().filter(Token::is_significant).collect();
    let mut keys = Vec::new();
    for element in table_elements(&tokens) {
        let Some(first) = element.first() else { continue };
        let constraint_name = |at: usize| -> Option<String> {
            let i =
                (0..element.len()).rev().filter(|&i| i < at).find(|&i| element[i].is_word("CONSTRAINT"))?;
            element.get(i + 1).and_then(Token::identifier)
        };
        if let Some(fk) = element.iter().position(|t| t.is_word("FOREIGN")) {
            let columns = element[fk..]
                .iter()
                .skip_while(|t| !t.is_punct("("))
                .skip(1)
                .take_while(|t| !t.is_punct(")"))
                .filter_map(|t| if t.is_punct(",") { None } else { t.identifier() })
                .collect();
            keys.push((constraint_name(fk), columns));
        } else if let Some(reference) = element.iter().position(|t| t.is_word("REFERENCES"))
            && let Some(column) = first.identifier()
        {
            keys.push((constraint_name(reference), vec![column]));
        }
    }
    keys
}

/// The comma-separated elements inside the outermost parentheses of a `CREATE TABLE`.
fn table_elements(tokens: &[Token]) -> Vec<Vec<Token>> {
    let mut elements = vec![Vec::new()];
    let mut depth = 0;
    for t in tokens {
        if t.is_punct("(") {
            depth += 1;
            if depth == 1 {
                continue;
            }
        } else if t.is_punct(")") {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if depth == 1 && t.is_punct(",") {
            elements.push(Vec::new());
            continue;
        }
        if depth >= 1
            && let Some(element) = elements.last_mut()
        {
            element.push(t.clone());
        }
    }
    elements.retain(|e| !e.is_empty() && e[0].kind != Kind::Punct);
    elements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declared_foreign_key_names() {
        let sql = "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL REFERENCES c(id), \
                   amount DECIMAL(10,2), CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id, amount) REFERENCES customers (id, x))";
        assert_eq!(
            declared_foreign_keys(sql),
            [
                (None, vec!["customer_id".to_string()]),
                (
                    Some("orders_customer_fk".to_string()),
                    vec!["customer_id".to_string(), "amount".to_string()]
                ),
            ]
        );
    }
}
