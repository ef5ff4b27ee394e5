//! Taking connections from an sqlx pool, and its statistics.

use dbfleet_core::driver_api::{DbError, ErrorKind, PoolStats};
use futures::future::BoxFuture;
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

/// The pool options every sqlx driver starts from. sqlx pings a connection
/// before it hands it out, one round trip more on every call; dbfleet
/// instead checks a connection with the first statement it runs on it
/// anyway ([`acquire_live`]).
pub fn pool_options<DB: Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new().test_before_acquire(false)
}

/// Takes a connection from the pool and runs `first` on it. A connection
/// the server closed meanwhile (restarted, killed the session, a proxy cut
/// it) fails `first` before anything of the caller's ran; it is closed and
/// the next one taken, until the pool opens a new one.
pub async fn acquire_live<DB: Database, T>(
    pool: &sqlx::Pool<DB>,
    map_err: fn(sqlx::Error) -> DbError,
    mut first: impl for<'c> FnMut(&'c mut DB::Connection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
) -> Result<(PoolConnection<DB>, T), DbError> {
    // Every idle connection may be dead; then one more is opened.
    let attempts = pool.options().get_max_connections() + 1;
    let mut attempt = 1;
    loop {
        let mut conn = acquire(pool, map_err).await?;
        match first(&mut conn).await {
            Ok(value) => return Ok((conn, value)),
            Err(err) if attempt < attempts && is_lost(&err) => {
                tracing::debug!(error = %err, "replacing a connection the server closed");
                drop(conn.detach());
                attempt += 1;
            }
            Err(err) => return Err(map_err(err)),
        }
    }
}

/// The codes of an error that ends a session: PostgreSQL's administrator,
/// crash or start-up shutdowns, and MySQL's killed connection.
const SESSION_ENDED: [&str; 4] = ["57P01", "57P02", "57P03", "70100"];

/// A connection the server closed, or ended with an error that closes it.
fn is_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| SESSION_ENDED.contains(&code.as_ref())),
        _ => false,
    }
}

/// [`is_lost`], as a driver's error shows it once mapped: a connection
/// failure, or the code of an error that ends a session.
pub fn is_lost_connection(err: &DbError) -> bool {
    err.kind == ErrorKind::Connection || err.code.as_deref().is_some_and(|code| SESSION_ENDED.contains(&code))
}

/// Fails at once, with the system's error, when nothing listens at
/// `host:port`. An sqlx pool retries a refused connection until its acquire
/// timeout and then reports only that it timed out; every other failure
/// (unknown host, TLS, credentials, missing database) it reports at once,
/// so this one TCP connection, rather than a whole database connection
/// opened and closed again, is all a pool needs before it opens.
pub async fn fail_if_refused(host: &str, port: u16) -> Result<(), sqlx::Error> {
    match tokio::net::TcpStream::connect((host, port)).await {
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => Err(sqlx::Error::Io(err)),
        _ => Ok(()),
    }
}

/// Connect options that keep sqlx from logging statements: they are the
/// user's SQL, and sqlx would log every one at `debug` and a slow one (an
/// export, say) at `warn`. Only `--log-level trace` shows them.
pub fn without_statement_logs<O: sqlx::ConnectOptions>(options: O) -> O {
    options
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Trace, std::time::Duration::from_secs(1))
}
