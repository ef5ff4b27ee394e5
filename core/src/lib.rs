//! dbfleet-core: the driver contract, the value model, configuration,
//! environments and routing. No engine-specific code lives here.

pub mod compare;
pub mod config;
pub mod driver;
pub mod error;
pub mod fanout_stream;
pub mod fleet;
pub mod readonly;
pub mod redact;
pub mod registry;
pub mod router;
pub mod schema_compare;
pub mod stream;
pub mod value;

pub use async_trait::async_trait;
pub use inventory;
pub use sqlparser;
pub use toml;

pub use config::{Config, ConfigProblem, DriverSettings, EnvironmentConfig, PoolConfig};
pub use driver::{
    ColumnSchema, DatabaseDriver, DatabaseInfo, ExecOutcome, ForeignKeyInfo, IndexInfo, Pool, PoolStats,
    Query, ServerInfo, TableFilter, TableInfo, TableKind, TableRef, TableSchema,
};
pub use error::{DbError, ErrorKind};
pub use readonly::EngineRules;
pub use registry::DriverRegistration;
pub use stream::{Bound, Bounds, ChunkBuilder, LimitedRows, RowStream, collect_bounded, collect_limited};
pub use value::{Column, LogicalType, Row, Value};
