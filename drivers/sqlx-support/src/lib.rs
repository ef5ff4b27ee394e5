//! What the drivers built on sqlx (PostgreSQL, MySQL/MariaDB) share: the
//! connection of one call and the statements run on it, streaming a result in
//! chunks, taking connections from the pool, and the errors every sqlx backend
//! reports alike. What differs between the engines (the guard statements,
//! describing a statement, decoding values) stays in each driver.

mod call;
mod chunks;
mod errors;
mod pool;

pub use call::{CallConnection, Canceller, Prepared, begin_call, prepare, run_call, run_to_end};
pub use chunks::{LARGE_ROW_BYTES, chunks};
pub use errors::transport_error;
pub use pool::{acquire, acquire_live, fail_if_refused, pool_options, pool_stats, without_statement_logs};
