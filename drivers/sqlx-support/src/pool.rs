//! Taking connections from an sqlx pool, and its statistics.

use dbfleet_core::driver_api::{DbError, ErrorKind, PoolStats};
use sqlx::Database;
use sqlx::pool::PoolConnection;

/// Takes a connection from the pool. sqlx reports a pool whose every
/// connection stayed busy and a server it cannot reach with one error; the
/// first is a `timeout` (the environment is fine, only loaded), the second a
/// `connection` failure through `map_err`.
pub async fn acquire<DB: Database>(
    pool: &sqlx::Pool<DB>,
    map_err: fn(sqlx::Error) -> DbError,
) -> Result<PoolConnection<DB>, DbError> {
    match pool.acquire().await {
        Ok(conn) => Ok(conn),
        Err(sqlx::Error::PoolTimedOut) if pool_stats(pool).in_use >= pool.options().get_max_connections() => {
            Err(DbError::new(
                ErrorKind::Timeout,
                format!(
                    "all {} connections stayed busy for connect_timeout_secs; wait for the running \
                     statements or raise [pool] max_connections",
                    pool.options().get_max_connections()
                ),
            ))
        }
        Err(err) => Err(map_err(err)),
    }
}

pub fn pool_stats<DB: Database>(pool: &sqlx::Pool<DB>) -> PoolStats {
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    PoolStats::new(size, idle, pool.options().get_max_connections())
}
