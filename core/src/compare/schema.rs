//! Comparing table definitions across environments.
//!
//! Tables and columns match by name, ignoring case (engines fold unquoted
//! names differently) and schema (`public`, `main` and a MySQL database name
//! play the same part). Each difference names the environments on each side
//! or gives each environment's value. Native types are reported apart from
//! logical types: a PostgreSQL `integer` and a MySQL `int(11)` differ only
//! natively.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::TableSchema;
use crate::error::DbError;
use crate::value::LogicalType;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SchemaComparison {
    /// True when every compared environment has the same tables with the
    /// same columns (names, logical types, nullability, defaults), keys,
    /// indexes and foreign keys. Native type names are not part of it.
    pub identical: bool,
    pub compared: Vec<String>,
    /// Tables some environments lack.
    pub missing_tables: Vec<Presence>,
    /// Per table present everywhere, what differs.
    pub tables: Vec<TableDifferences>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Presence {
    pub table: String,
    pub present_in: Vec<String>,
    pub missing_from: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TableDifferences {
    pub table: String,
    pub differences: Vec<SchemaDifference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SchemaDifference {
    MissingColumn {
        column: String,
        present_in: Vec<String>,
        missing_from: Vec<String>,
    },
    LogicalType {
        column: String,
        values: BTreeMap<String, LogicalType>,
    },
    NativeType {
        column: String,
        values: BTreeMap<String, String>,
    },
    Nullable {
        column: String,
        values: BTreeMap<String, bool>,
    },
    Default {
        column: String,
        values: BTreeMap<String, Option<String>>,
    },
    PrimaryKey {
        values: BTreeMap<String, Vec<String>>,
    },
    /// An index (by its columns and uniqueness; names differ freely).
    Index {
        columns: Vec<String>,
        unique: bool,
        present_in: Vec<String>,
        missing_from: Vec<String>,
    },
    ForeignKey {
        columns: Vec<String>,
        referenced_table: String,
        referenced_columns: Vec<String>,
        present_in: Vec<String>,
        missing_from: Vec<String>,
    },
}

impl SchemaDifference {
    /// Native type names differ between engines by design; they are shown
    /// but do not make schemas different.
    fn counts(&self) -> bool {
        !matches!(self, SchemaDifference::NativeType { .. })
    }
}

/// Compares the described tables of two or more environments.
pub fn compare_schemas(schemas: &[(&str, Vec<TableSchema>)]) -> Result<SchemaComparison, DbError> {
    if schemas.len() < 2 {
        return Err(DbError::invalid_argument(format!(
            "a schema comparison needs at least two environments, got {}",
            schemas.len()
        )));
    }
    let envs: Vec<&str> = schemas.iter().map(|(name, _)| *name).collect();
    let mut names: Vec<String> = Vec::new();
    for (_, tables) in schemas {
        for table in tables {
            let name = table.name.to_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    let mut missing_tables = Vec::new();
    let mut tables = Vec::new();
    for name in names {
        let found: Vec<Option<&TableSchema>> =
            schemas.iter().map(|(_, ts)| ts.iter().find(|t| t.name.to_lowercase() == name)).collect();
        if found.iter().any(Option::is_none) {
            let (present_in, missing_from) = split(&envs, |i| found[i].is_some());
            missing_tables.push(Presence { table: name, present_in, missing_from });
            continue;
        }
        let found: Vec<&TableSchema> = found.into_iter().flatten().collect();
        let differences = table_differences(&envs, &found);
        if !differences.is_empty() {
            tables.push(TableDifferences { table: name, differences });
        }
    }
    let identical =
        missing_tables.is_empty() && tables.iter().all(|t| t.differences.iter().all(|d| !d.counts()));
    Ok(SchemaComparison {
        identical,
        compared: envs.iter().map(|s| s.to_string()).collect(),
        missing_tables,
        tables,
    })
}

/// Environments for which `has(i)` holds, and those for which it does not.
fn split(envs: &[&str], has: impl Fn(usize) -> bool) -> (Vec<String>, Vec<String>) {
    let (yes, no): (Vec<usize>, Vec<usize>) = (0..envs.len()).partition(|&i| has(i));
    (yes.iter().map(|&i| envs[i].to_owned()).collect(), no.iter().map(|&i| envs[i].to_owned()).collect())
}

/// Each environment's value, when they are not all equal.
fn differing<T: Clone + PartialEq>(envs: &[&str], values: &[T]) -> Option<BTreeMap<String, T>> {
    values
        .iter()
        .any(|v| *v != values[0])
        .then(|| envs.iter().map(|e| e.to_string()).zip(values.iter().cloned()).collect())
}

fn lower(columns: &[String]) -> Vec<String> {
    columns.iter().map(|c| c.to_lowercase()).collect()
}

fn table_differences(envs: &[&str], tables: &[&TableSchema]) -> Vec<SchemaDifference> {
    let mut out = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for table in tables {
        for column in &table.columns {
            let name = column.name.to_lowercase();
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    for column in columns {
        let found: Vec<_> =
            tables.iter().map(|t| t.columns.iter().find(|c| c.name.to_lowercase() == column)).collect();
        if found.iter().any(Option::is_none) {
            let (present_in, missing_from) = split(envs, |i| found[i].is_some());
            out.push(SchemaDifference::MissingColumn { column, present_in, missing_from });
            continue;
        }
        let found: Vec<_> = found.into_iter().flatten().collect();
        let logical: Vec<LogicalType> = found.iter().map(|c| c.logical_type).collect();
        if let Some(values) = differing(envs, &logical) {
            out.push(SchemaDifference::LogicalType { column: column.clone(), values });
        }
        let native: Vec<String> = found.iter().map(|c| c.native_type.to_lowercase()).collect();
        if let Some(values) = differing(envs, &native) {
            out.push(SchemaDifference::NativeType { column: column.clone(), values });
        }
        let nullable: Vec<bool> = found.iter().map(|c| c.nullable).collect();
        if let Some(values) = differing(envs, &nullable) {
            out.push(SchemaDifference::Nullable { column: column.clone(), values });
        }
        let defaults: Vec<Option<String>> = found.iter().map(|c| c.default.clone()).collect();
        if let Some(values) = differing(envs, &defaults) {
            out.push(SchemaDifference::Default { column, values });
        }
    }
    let keys: Vec<Vec<String>> = tables.iter().map(|t| lower(&t.primary_key)).collect();
    if let Some(values) = differing(envs, &keys) {
        out.push(SchemaDifference::PrimaryKey { values });
    }
    let mut indexes: Vec<(Vec<String>, bool)> = Vec::new();
    for table in tables {
        for index in &table.indexes {
            let signature = (lower(&index.columns), index.unique);
            if !indexes.contains(&signature) {
                indexes.push(signature);
            }
        }
    }
    for (columns, unique) in indexes {
        let (present_in, missing_from) = split(envs, |i| {
            tables[i].indexes.iter().any(|x| lower(&x.columns) == columns && x.unique == unique)
        });
        if !missing_from.is_empty() {
            out.push(SchemaDifference::Index { columns, unique, present_in, missing_from });
        }
    }
    let mut foreign: Vec<(Vec<String>, String, Vec<String>)> = Vec::new();
    for table in tables {
        for fk in &table.foreign_keys {
            let signature =
                (lower(&fk.columns), fk.referenced_table.to_lowercase(), lower(&fk.referenced_columns));
            if !foreign.contains(&signature) {
                foreign.push(signature);
            }
        }
    }
    for (columns, referenced_table, referenced_columns) in foreign {
        let (present_in, missing_from) = split(envs, |i| {
            tables[i].foreign_keys.iter().any(|fk| {
                lower(&fk.columns) == columns
                    && fk.referenced_table.to_lowercase() == referenced_table
                    && lower(&fk.referenced_columns) == referenced_columns
            })
        });
        if !missing_from.is_empty() {
            out.push(SchemaDifference::ForeignKey {
                columns,
                referenced_table,
                referenced_columns,
                present_in,
                missing_from,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnSchema, ForeignKeyInfo, IndexInfo, TableKind};

    fn column(name: &str, native: &str, logical: LogicalType, nullable: bool) -> ColumnSchema {
        ColumnSchema::new(name, native, logical, nullable)
    }

    fn orders(amount: LogicalType, extra: bool, index: bool) -> TableSchema {
        let mut columns = vec![
            column("id", "integer", LogicalType::Int, false),
            column("customer_id", "integer", LogicalType::Int, false),
            column("amount", "numeric(10,2)", amount, false),
        ];
        if extra {
            columns.push(column("note", "text", LogicalType::Text, true));
        }
        TableSchema {
            schema: Some("public".into()),
            name: "orders".into(),
            kind: TableKind::Table,
            comment: None,
            columns,
            primary_key: vec!["id".into()],
            indexes: if index {
                vec![IndexInfo {
                    name: "by_customer".into(),
                    columns: vec!["customer_id".into()],
                    unique: false,
                }]
            } else {
                vec![]
            },
            foreign_keys: vec![ForeignKeyInfo {
                name: None,
                columns: vec!["customer_id".into()],
                referenced_schema: None,
                referenced_table: "customers".into(),
                referenced_columns: vec!["id".into()],
            }],
        }
    }

    #[test]
    fn a_schema_is_identical_to_itself() {
        let a = vec![orders(LogicalType::Decimal, false, true)];
        let comparison = compare_schemas(&[("a", a.clone()), ("b", a)]).unwrap();
        assert!(comparison.identical);
        assert!(comparison.tables.is_empty() && comparison.missing_tables.is_empty());
    }

    #[test]
    fn differences_are_grouped_by_table_and_name_both_sides() {
        let mut dev = orders(LogicalType::Decimal, true, true);
        dev.columns[1].native_type = "int(11)".into();
        let prod = orders(LogicalType::Float, false, false);
        let extra = TableSchema { name: "audit".into(), ..orders(LogicalType::Decimal, false, false) };
        let comparison = compare_schemas(&[("dev", vec![dev, extra]), ("prod", vec![prod])]).unwrap();
        assert!(!comparison.identical);
        assert_eq!(
            comparison.missing_tables,
            [Presence {
                table: "audit".into(),
                present_in: vec!["dev".into()],
                missing_from: vec!["prod".into()]
            }]
        );
        let kinds: Vec<&str> = comparison.tables[0]
            .differences
            .iter()
            .map(|d| match d {
                SchemaDifference::MissingColumn { .. } => "missing_column",
                SchemaDifference::LogicalType { .. } => "logical_type",
                SchemaDifference::NativeType { .. } => "native_type",
                SchemaDifference::Index { .. } => "index",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["native_type", "logical_type", "missing_column", "index"]);
    }

    #[test]
    fn native_type_names_alone_do_not_make_schemas_differ() {
        let pg = orders(LogicalType::Decimal, false, true);
        let mut my = orders(LogicalType::Decimal, false, true);
        my.columns[0].native_type = "int(11)".into();
        let comparison = compare_schemas(&[("pg", vec![pg]), ("my", vec![my])]).unwrap();
        assert!(comparison.identical);
        assert_eq!(comparison.tables.len(), 1, "the native difference is still shown");
    }
}
