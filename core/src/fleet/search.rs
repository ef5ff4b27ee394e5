//! Finding tables, views, columns and indexes by name on one environment,
//! with as much detail as asked: an assistant explores a large schema in
//! little text. Built on the driver contract's listing and description, so
//! it works on every driver.

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::Environment;
use super::environment::Limit;
use crate::catalog::{RoutineInfo, TableFilter, TableKind, TableRef, TableSchema, like_match};
use crate::error::DbError;
use crate::value::LogicalType;

/// Objects per environment when the caller sets no limit, and the most it may ask.
pub const DEFAULT_SEARCH_LIMIT: usize = 100;
pub const MAX_SEARCH_LIMIT: usize = 1000;
/// Tables described at once while searching columns and indexes.
const DESCRIBE_AT_ONCE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    Column,
    Index,
    /// A stored function or procedure.
    Routine,
}

/// How much is said of each object found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Kind, schema, table and name.
    #[default]
    Names,
    /// And comments, a column's types, an index's columns, a table's column
    /// count, a routine's kind, arguments and result.
    Summary,
    /// And nullability and defaults, uniqueness, a table's columns and primary key.
    Full,
}

#[derive(Debug, Clone)]
pub struct ObjectSearch {
    /// SQL `LIKE` pattern (`%`, `_`), any case; without either it matches
    /// names that contain it.
    pub pattern: String,
    /// Every kind when empty.
    pub kinds: Vec<ObjectKind>,
    pub schema: Option<String>,
    /// Only in tables whose name matches this `LIKE` pattern.
    pub table: Option<String>,
    pub detail: Detail,
    pub limit: usize,
}

/// One object found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FoundObject {
    pub kind: ObjectKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table of a column or an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub name: String,
    /// A column's type as the engine writes it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub native_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_type: Option<LogicalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A table's column count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_count: Option<usize>,
    /// A table's columns, or an index's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// A routine's kind: function, procedure, aggregate, window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routine_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl FoundObject {
    fn new(kind: ObjectKind, schema: Option<String>, table: Option<String>, name: String) -> Self {
        FoundObject {
            kind,
            schema,
            table,
            name,
            native_type: None,
            logical_type: None,
            nullable: None,
            default: None,
            column_count: None,
            columns: None,
            primary_key: None,
            unique: None,
            routine_kind: None,
            arguments: None,
            returns: None,
            comment: None,
        }
    }
}

/// What one environment gave.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchResult {
    pub objects: Vec<FoundObject>,
    /// More objects match than `limit`.
    pub truncated: bool,
    /// What the search could not look at (routines, on a driver that does
    /// not list them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ObjectSearch {
    fn wants(&self, kind: ObjectKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    fn matches(&self, name: &str) -> bool {
        if self.pattern.contains(['%', '_']) {
            like_match(&self.pattern, name)
        } else {
            name.to_lowercase().contains(&self.pattern.to_lowercase())
        }
    }
}

impl Environment {
    /// The objects whose names match, in catalog order, each table followed
    /// by its columns and indexes; at most `limit`. Columns, indexes and
    /// details need tables described, a few at once.
    pub async fn search_objects(&self, search: &ObjectSearch) -> Result<SearchResult, DbError> {
        if search.limit == 0 || search.limit > MAX_SEARCH_LIMIT {
            return Err(DbError::invalid_argument(format!("limit must be 1..={MAX_SEARCH_LIMIT}"))
                .in_env(self.name()));
        }
        let pool = self.ready_pool().await?;
        self.guarded(Limit::Query, async {
            let filter = TableFilter::new(search.schema.clone(), search.table.clone());
            let tables = pool.list_tables(&filter).await?;
            let inside = search.wants(ObjectKind::Column) || search.wants(ObjectKind::Index);
            let mut found = Vec::new();
            let mut to_describe = Vec::new();
            for table in &tables {
                let matching = search.wants(table_kind(table.kind)) && search.matches(&table.name);
                if inside || (matching && search.detail > Detail::Names) {
                    to_describe.push(TableRef::new(table.schema.clone(), table.name.clone()));
                } else if matching {
                    found.push(FoundObject::new(
                        table_kind(table.kind),
                        table.schema.clone(),
                        None,
                        table.name.clone(),
                    ));
                }
            }
            let mut described = futures::stream::iter(to_describe)
                .map(|table| {
                    let pool = pool.clone();
                    async move { pool.describe_table(&table).await }
                })
                .buffered(DESCRIBE_AT_ONCE);
            while found.len() <= search.limit
                && let Some(schema) = described.try_next().await?
            {
                found.extend(objects_of(&schema, search));
            }
            let mut note = None;
            if search.wants(ObjectKind::Routine) && found.len() <= search.limit {
                match pool.list_routines(search.schema.as_deref()).await? {
                    Some(routines) => found.extend(
                        routines
                            .into_iter()
                            .filter(|r| search.matches(&r.name))
                            .map(|r| routine_object(r, search.detail)),
                    ),
                    None if search.kinds.contains(&ObjectKind::Routine) => {
                        return Err(DbError::invalid_argument(format!(
                            "the {} driver does not list routines",
                            self.driver().name()
                        )));
                    }
                    None => {
                        note = Some(format!(
                            "routines not searched: the {} driver does not list them",
                            self.driver().name()
                        ))
                    }
                }
            }
            let truncated = found.len() > search.limit;
            found.truncate(search.limit);
            Ok(SearchResult { objects: found, truncated, note })
        })
        .await
    }
}

fn table_kind(kind: TableKind) -> ObjectKind {
    match kind {
        TableKind::View => ObjectKind::View,
        _ => ObjectKind::Table,
    }
}

/// The table itself when it matches, then its matching columns and indexes.
fn objects_of(table: &TableSchema, search: &ObjectSearch) -> Vec<FoundObject> {
    let mut found = Vec::new();
    let kind = table_kind(table.kind);
    if search.wants(kind) && search.matches(&table.name) {
        let mut object = FoundObject::new(kind, table.schema.clone(), None, table.name.clone());
        if search.detail > Detail::Names {
            object.column_count = Some(table.columns.len());
            object.comment = table.comment.clone();
        }
        if search.detail == Detail::Full {
            object.columns = Some(table.columns.iter().map(|c| c.name.clone()).collect());
            object.primary_key = Some(table.primary_key.clone());
        }
        found.push(object);
    }
    if search.wants(ObjectKind::Column) {
        for column in table.columns.iter().filter(|c| search.matches(&c.name)) {
            let mut object = FoundObject::new(
                ObjectKind::Column,
                table.schema.clone(),
                Some(table.name.clone()),
                column.name.clone(),
            );
            if search.detail > Detail::Names {
                object.native_type = Some(column.native_type.clone());
                object.logical_type = Some(column.logical_type);
                object.comment = column.comment.clone();
            }
            if search.detail == Detail::Full {
                object.nullable = Some(column.nullable);
                object.default = column.default.clone();
            }
            found.push(object);
        }
    }
    if search.wants(ObjectKind::Index) {
        for index in table.indexes.iter().filter(|i| search.matches(&i.name)) {
            let mut object = FoundObject::new(
                ObjectKind::Index,
                table.schema.clone(),
                Some(table.name.clone()),
                index.name.clone(),
            );
            if search.detail > Detail::Names {
                object.columns = Some(index.columns.clone());
            }
            if search.detail == Detail::Full {
                object.unique = Some(index.unique);
            }
            found.push(object);
        }
    }
    found
}

fn routine_object(routine: RoutineInfo, detail: Detail) -> FoundObject {
    let mut object = FoundObject::new(ObjectKind::Routine, routine.schema, None, routine.name);
    if detail > Detail::Names {
        object.routine_kind = Some(routine.kind);
        object.arguments = routine.arguments;
        object.returns = routine.returns;
        object.comment = routine.comment;
    }
    object
}
