//! The database services the engine tests run against.
//!
//! Each test asks for its service; when it is unreachable the test is skipped
//! with a message naming the variable to set — except under `CI`, where a
//! missing service fails the run.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub const POSTGRES_VAR: &str = "DBFLEET_TEST_POSTGRES_URL";
pub const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_VAR: &str = "DBFLEET_TEST_MYSQL_URL";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/mysql";

/// The PostgreSQL server URL (an admin connection), if the server is reachable.
pub fn postgres_url() -> Option<String> {
    service("PostgreSQL", POSTGRES_VAR, POSTGRES_DEFAULT)
}

/// The MySQL/MariaDB server URL (an admin connection), if the server is reachable.
pub fn mysql_url() -> Option<String> {
    service("MySQL/MariaDB", MYSQL_VAR, MYSQL_DEFAULT)
}

fn service(engine: &str, var: &str, default: &str) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    reachable(engine, var, &url)?;
    Some(url)
}

/// `Some` when the server of `url` accepts TCP connections. Otherwise a loud
/// skip message naming `var`, or a panic under `CI`.
pub fn reachable(engine: &str, var: &str, url: &str) -> Option<()> {
    let address = host_port(url);
    let reachable = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(());
    }
    let message = format!("{engine} is not reachable at {address}; set {var} to a reachable server");
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
}

/// `host:port` of a URL such as `postgres://user:pw@host:5432/db`.
pub fn host_port(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_port_ignores_credentials_and_path() {
        assert_eq!(super::host_port("postgres://u:p@db:5432/x?a=b"), "db:5432");
        assert_eq!(super::host_port("mysql://root@127.0.0.1:3306/mysql"), "127.0.0.1:3306");
    }
}
