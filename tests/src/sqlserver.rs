//! The SQL Server the tests run against: a real server when
//! `DBFLEET_TEST_MSSQL_URL` is set (`sqlserver://user:password@host:port?options`),
//! else the TDS test endpoint of this tree, started once per test process.

use std::net::SocketAddr;
use std::sync::OnceLock;

use dbfleet_tds_endpoint::{Endpoint, EndpointConfig};

pub const MSSQL_VAR: &str = "DBFLEET_TEST_MSSQL_URL";

const ENDPOINT_USER: &str = "sa";
const ENDPOINT_PASSWORD: &str = "dbfleet-Endpoint-1";

/// Where the SQL Server tests connect, and as whom.
#[derive(Debug, Clone)]
pub struct SqlServer {
    pub host_port: String,
    pub user: String,
    pub password: String,
    /// URL query options (`?encrypt=…`), or empty.
    options: String,
    /// A real server rather than the test endpoint.
    pub real: bool,
}

impl SqlServer {
    /// TOML lines for an environment on `database`, with the password.
    pub fn settings(&self, database: &str) -> String {
        format!(
            "{}password = \"{}\"\n",
            self.settings_without_password(database),
            self.password.replace('$', "$$")
        )
    }

    /// TOML lines for an environment on `database`, without a password.
    pub fn settings_without_password(&self, database: &str) -> String {
        format!("url = \"sqlserver://{}@{}/{database}{}\"\n", self.user, self.host_port, self.options)
    }
}

/// The SQL Server of this test process. A set but unreachable
/// `DBFLEET_TEST_MSSQL_URL` skips loudly (fails under `CI`) like the other
/// services.
pub fn sqlserver() -> Option<SqlServer> {
    match std::env::var(MSSQL_VAR) {
        Ok(url) => {
            crate::services::reachable("SQL Server", MSSQL_VAR, &url)?;
            Some(parse(&url))
        }
        Err(_) => Some(SqlServer {
            host_port: endpoint().to_string(),
            user: ENDPOINT_USER.into(),
            password: ENDPOINT_PASSWORD.into(),
            // The endpoint speaks plain TCP only.
            options: "?encrypt=not_supported".into(),
            real: false,
        }),
    }
}

/// The endpoint runs on a thread and runtime of its own, so it outlives the
/// runtime of the test that started it; it lives as long as the process.
fn endpoint() -> SocketAddr {
    static ADDRESS: OnceLock<SocketAddr> = OnceLock::new();
    *ADDRESS.get_or_init(|| {
        let endpoint = Endpoint::start(EndpointConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            user: ENDPOINT_USER.into(),
            password: ENDPOINT_PASSWORD.into(),
            data_dir: None,
        })
        .expect("the TDS test endpoint starts");
        let address = endpoint.local_addr();
        Box::leak(Box::new(endpoint));
        address
    })
}

fn parse(url: &str) -> SqlServer {
    let rest =
        url.strip_prefix("sqlserver://").unwrap_or_else(|| panic!("{MSSQL_VAR} must be a sqlserver:// URL"));
    let (rest, options) = rest.split_once('?').map_or((rest, String::new()), |(r, o)| (r, format!("?{o}")));
    let authority = rest.split('/').next().unwrap_or_default();
    let (credentials, host_port) =
        authority.rsplit_once('@').unwrap_or_else(|| panic!("{MSSQL_VAR} needs user:password@host"));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    SqlServer {
        host_port: host_port.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
        options,
        real: true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_server_url_splits_into_its_parts() {
        let server = super::parse("sqlserver://sa:p@ss@db:1433/master?trust_server_certificate=true");
        assert_eq!((server.user.as_str(), server.password.as_str()), ("sa", "p@ss"));
        assert_eq!(server.host_port, "db:1433");
        assert_eq!(
            server.settings("x"),
            "url = \"sqlserver://sa@db:1433/x?trust_server_certificate=true\"\npassword = \"p@ss\"\n"
        );
    }
}
