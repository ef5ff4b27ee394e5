//! Everything a driver crate needs, and nothing else: `use
//! dbfleet_core::driver_api::*` or name what you use.
//!
//! A driver implements [`DatabaseDriver`] (the engine: its name, settings,
//! read-only rules, how to connect) and [`Pool`] (one environment's
//! connections: queries as [`RowStream`]s, statements, the catalog), and
//! registers itself with `inventory::submit!(DriverRegistration(&MyDriver))`.
//! The fleet, fan-out, comparison and the front-ends are not part of this
//! API: a driver never calls them.
//!
//! The types a driver builds are `#[non_exhaustive]` and have constructors,
//! so that a field added to them in a later version of dbfleet does not break
//! a driver written against this one.

pub use crate::catalog::{
    ColumnSchema, DatabaseInfo, ForeignKeyInfo, IndexInfo, RoutineInfo, TableFilter, TableInfo, TableKind,
    TableRef, TableSchema,
};
pub use crate::config::{
    ConfigProblem, DriverSettings, EnvironmentConfig, PoolConfig, SettingsReader, invalid_settings,
};
pub use crate::diff::{
    DiffColumn, DiffDialect, declared_scale, push_value_text, row_text, text_class, text_hash,
};
pub use crate::driver::{DatabaseDriver, ExecOutcome, Pool, PoolStats, Query, ServerInfo};
pub use crate::error::{DbError, ErrorKind};
pub use crate::explain::{PlanSummary, Scan, ScanMethod};
pub use crate::readonly::{EngineRules, PragmaRules};
pub use crate::registry::DriverRegistration;
pub use crate::stream::{ChunkBuilder, RowStream};
pub use crate::value::{Column, LogicalType, Row, Value, decode_row};
pub use async_trait::async_trait;
pub use inventory;
pub use sqlparser::dialect;
