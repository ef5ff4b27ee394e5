//! Comparing what several environments returned: pure functions over
//! results, with no access to the environments themselves.
//!
//! - [`results`]: one query's rows across environments.
//! - [`schema`]: table definitions across environments.

pub mod results;
pub mod schema;

pub use results::{
    ColumnDifference, CompareOptions, Comparison, DEFAULT_MAX_DIFFERENCES, Normalized, RowDifference, RowMap,
    compare, normalize,
};
pub use schema::{Presence, SchemaComparison, SchemaDifference, TableDifferences, compare_schemas};
