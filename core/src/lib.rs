//! dbfleet-core: the driver contract, the value model, configuration, the
//! fleet of environments and the comparison of what they return. No
//! engine-specific code lives here.
//!
//! From the bottom up: [`value`], [`error`], [`stream`], [`catalog`] and
//! [`driver`] (the contract a driver implements; [`driver_api`] is all a
//! driver needs), [`readonly`] (statement classification),
//! [`config`]; [`result`] and [`compare`] (pure functions over results); then
//! [`fleet`], which runs work on one environment or many.

pub mod audit;
pub mod catalog;
pub mod compare;
pub mod config;
pub mod diff;
pub mod driver;
pub mod driver_api;
pub mod error;
pub mod explain;
pub mod fleet;
pub mod named_params;
pub mod readonly;
pub mod redact;
pub mod registry;
pub mod result;
pub mod ssh;
pub mod stream;
pub mod value;

pub use async_trait::async_trait;
pub use inventory;
pub use sqlparser;
pub use toml;

pub use catalog::{
    ColumnSchema, DatabaseInfo, ForeignKeyInfo, IndexInfo, RoutineInfo, TableFilter, TableInfo, TableKind,
    TableRef, TableSchema,
};
pub use config::{Config, ConfigProblem, DriverSettings, EnvironmentConfig, PoolConfig};
pub use driver::{DatabaseDriver, ExecOutcome, Pool, PoolStats, Query, ServerInfo};
pub use error::{DbError, ErrorKind};
pub use fleet::{Environment, Fleet, StartOptions};
pub use readonly::EngineRules;
pub use registry::DriverRegistration;
pub use result::{JsonRows, MultiResult, QueryRequest, QueryResult, ResultRows};
pub use stream::{
    Bound, Bounds, ChunkBuilder, LimitedRows, RowSink, RowStream, collect_bounded, collect_bounded_into,
    collect_limited,
};
pub use value::{Column, LogicalType, Row, Value, decode_row};
