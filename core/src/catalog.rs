//! The catalog as drivers describe it: databases, tables and views, their
//! columns, keys and indexes; and the filters and references callers use to
//! ask for them.

// Drivers outside this workspace build and match these types: a field or
// variant added later must not break them.
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

use serde::Serialize;

use crate::value::LogicalType;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct DatabaseInfo {
    pub name: String,
    /// `database`, `schema` or `attached` (SQLite).
    pub kind: String,
    /// Where it lives, when the engine says (SQLite file path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl DatabaseInfo {
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        DatabaseInfo { name: name.into(), kind: kind.into(), location: None }
    }

    pub fn with_location(mut self, location: Option<String>) -> Self {
        self.location = location;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableFilter {
    pub schema: Option<String>,
    /// SQL `LIKE` pattern on the table name (`%` any run, `_` one character),
    /// case-insensitive.
    pub pattern: Option<String>,
}

impl TableFilter {
    pub fn new(schema: Option<String>, pattern: Option<String>) -> Self {
        TableFilter { schema, pattern }
    }

    pub fn matches(&self, table: &TableInfo) -> bool {
        let schema_ok = match (&self.schema, &table.schema) {
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            (Some(_), None) => false,
            (None, _) => true,
        };
        schema_ok && self.pattern.as_deref().is_none_or(|p| like_match(p, &table.name))
    }
}

/// Case-insensitive SQL `LIKE` without an escape character. Hand-rolled: a
/// dozen lines, where a glob or regex crate would need the pattern translated.
pub(crate) fn like_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableKind {
    Table,
    View,
}

impl TableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Table => "table",
            TableKind::View => "view",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct TableInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    pub kind: TableKind,
}

impl TableInfo {
    pub fn new(schema: Option<String>, name: impl Into<String>, kind: TableKind) -> Self {
        TableInfo { schema, name: name.into(), kind }
    }
}

/// A function or procedure stored in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct RoutineInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    /// `function`, `procedure`, `aggregate`, `window`.
    pub kind: String,
    /// The arguments as the engine writes them (`customer integer, since date`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// What a function returns; none for a procedure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl RoutineInfo {
    pub fn new(schema: Option<String>, name: impl Into<String>, kind: impl Into<String>) -> Self {
        RoutineInfo {
            schema,
            name: name.into(),
            kind: kind.into(),
            arguments: None,
            returns: None,
            comment: None,
        }
    }

    pub fn with_signature(mut self, arguments: Option<String>, returns: Option<String>) -> Self {
        self.arguments = arguments;
        self.returns = returns;
        self
    }

    /// The routine's comment; an empty one is none.
    pub fn with_comment(mut self, comment: Option<String>) -> Self {
        self.comment = comment.filter(|c| !c.is_empty());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableRef {
    pub schema: Option<String>,
    pub name: String,
}

impl TableRef {
    pub fn new(schema: Option<String>, name: impl Into<String>) -> Self {
        TableRef { schema, name: name.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct TableSchema {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    pub kind: TableKind,
    pub columns: Vec<ColumnSchema>,
    pub primary_key: Vec<String>,
    pub indexes: Vec<IndexInfo>,
    pub foreign_keys: Vec<ForeignKeyInfo>,
    /// The table's comment, where the engine keeps comments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl TableSchema {
    /// A table without keys or indexes; add them with the `with_` methods.
    pub fn new(
        schema: Option<String>,
        name: impl Into<String>,
        kind: TableKind,
        columns: Vec<ColumnSchema>,
    ) -> Self {
        TableSchema {
            schema,
            name: name.into(),
            kind,
            columns,
            primary_key: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            comment: None,
        }
    }

    /// The table's comment; an empty one is none.
    pub fn with_comment(mut self, comment: Option<String>) -> Self {
        self.comment = comment.filter(|c| !c.is_empty());
        self
    }

    pub fn with_primary_key(mut self, columns: Vec<String>) -> Self {
        self.primary_key = columns;
        self
    }

    pub fn with_indexes(mut self, indexes: Vec<IndexInfo>) -> Self {
        self.indexes = indexes;
        self
    }

    pub fn with_foreign_keys(mut self, foreign_keys: Vec<ForeignKeyInfo>) -> Self {
        self.foreign_keys = foreign_keys;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub native_type: String,
    pub logical_type: LogicalType,
    pub nullable: bool,
    pub default: Option<String>,
    /// The column's comment, where the engine keeps comments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ColumnSchema {
    /// A column without a default; add one with [`ColumnSchema::with_default`].
    pub fn new(
        name: impl Into<String>,
        native_type: impl Into<String>,
        logical_type: LogicalType,
        nullable: bool,
    ) -> Self {
        ColumnSchema {
            name: name.into(),
            native_type: native_type.into(),
            logical_type,
            nullable,
            default: None,
            comment: None,
        }
    }

    /// The column's comment; an empty one is none.
    pub fn with_comment(mut self, comment: Option<String>) -> Self {
        self.comment = comment.filter(|c| !c.is_empty());
        self
    }

    /// The default expression, as the engine writes it.
    pub fn with_default(mut self, default: Option<String>) -> Self {
        self.default = default;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

impl IndexInfo {
    pub fn new(name: impl Into<String>, columns: Vec<String>, unique: bool) -> Self {
        IndexInfo { name: name.into(), columns, unique }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ForeignKeyInfo {
    pub name: Option<String>,
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_schema: Option<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

impl ForeignKeyInfo {
    /// A key on `columns` referencing `referenced_columns` of
    /// `referenced_table`; name the referenced schema with
    /// [`ForeignKeyInfo::with_referenced_schema`] when it is known.
    pub fn new(
        name: Option<String>,
        columns: Vec<String>,
        referenced_table: impl Into<String>,
        referenced_columns: Vec<String>,
    ) -> Self {
        ForeignKeyInfo {
            name,
            columns,
            referenced_schema: None,
            referenced_table: referenced_table.into(),
            referenced_columns,
        }
    }

    pub fn with_referenced_schema(mut self, schema: Option<String>) -> Self {
        self.referenced_schema = schema;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_match("cust%", "Customers"));
        assert!(like_match("%er%", "orders"));
        assert!(like_match("o_ders", "orders"));
        assert!(like_match("%", ""));
        assert!(!like_match("cust%", "orders"));
        assert!(!like_match("o_ders", "oders"));
        assert!(like_match("%a%b", "xaxxab"));
    }
}
