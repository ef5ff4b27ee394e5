//! The MySQL/MariaDB settings of an environment, and the connect options
//! built from them.

use std::str::FromStr;

use dbfleet_core::driver_api::{
    ConfigProblem, DbError, DriverSettings, EnvironmentConfig, SettingsReader, invalid_settings,
};
use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

pub const KEYS: &[&str] = &["url", "host", "port", "username", "database", "ssl_mode", "ssl_ca"];

const SSL_MODES: &[&str] = &["disabled", "preferred", "required", "verify_ca", "verify_identity"];

/// An environment's MySQL settings, read once: where to connect and how,
/// without the password (which only the environment's secret holds).
pub struct MySqlSettings {
    options: MySqlConnectOptions,
    ssl_ca: Option<String>,
}

/// Reads every setting, reporting every problem at once, each naming its key.
pub fn read(settings: &DriverSettings) -> Result<MySqlSettings, Vec<ConfigProblem>> {
    let mut r = SettingsReader::new(settings);
    let url = r.string("url");
    let host = r.string("host");
    let port = r.port("port");
    let username = r.string("username");
    let database = r.string("database");
    let ssl_mode = r.one_of("ssl_mode", SSL_MODES);
    let ssl_ca = r.string("ssl_ca");
    let base = match (r.contains("url"), r.contains("host"), url) {
        (true, true, _) => {
            r.problem("host", "set either 'url' or 'host', not both");
            None
        }
        (false, false, _) => {
            r.problem("url", "required: a mysql:// URL (or set 'host')");
            None
        }
        (true, false, Some(url)) => {
            parse_url(url).map_err(|()| r.problem("url", "expected a valid mysql:// or mariadb:// URL")).ok()
        }
        (true, false, None) => None,
        (false, true, _) => Some(MySqlConnectOptions::new()),
    };
    r.finish()?;
    let mut options = base.unwrap_or_else(MySqlConnectOptions::new);
    if let Some(host) = host {
        options = options.host(host);
    }
    if let Some(port) = port {
        options = options.port(port);
    }
    if let Some(username) = username {
        options = options.username(username);
    }
    if let Some(database) = database {
        options = options.database(database);
    }
    if let Some(mode) = ssl_mode.and_then(|mode| MySqlSslMode::from_str(mode).ok()) {
        options = options.ssl_mode(mode);
    }
    Ok(MySqlSettings { options, ssl_ca: ssl_ca.map(str::to_owned) })
}

/// `mariadb://` is accepted as a synonym of `mysql://`.
fn parse_url(url: &str) -> Result<MySqlConnectOptions, ()> {
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None if url.starts_with("mysql://") => url.to_owned(),
        None => return Err(()),
    };
    MySqlConnectOptions::from_str(&url).map_err(|_| ())
}

/// Connect options: the settings (the legacy `[database]` section uses the
/// same keys), the password only from the environment's secret, and sessions
/// in UTC so TIMESTAMP values come back as UTC.
pub fn connect_options(env: &EnvironmentConfig) -> Result<MySqlConnectOptions, DbError> {
    let MySqlSettings { mut options, ssl_ca } = read(&env.settings).map_err(invalid_settings)?;
    if let Some(tunnel) = env.connect_address {
        options = options.host(&tunnel.ip().to_string()).port(tunnel.port());
    }
    if let Some(password) = &env.password {
        options = options.password(password.expose_secret());
    }
    if let Some(ca) = ssl_ca {
        options = options.ssl_ca(env.resolve_path(&ca));
    }
    Ok(dbfleet_sqlx_support::without_statement_logs(options.timezone(Some("+00:00".to_owned()))))
}

/// The server's host and port; `None` for a Unix socket.
pub fn server_address(env: &EnvironmentConfig) -> Option<(String, u16)> {
    let MySqlSettings { options, .. } = read(&env.settings).ok()?;
    options.get_socket().is_none().then(|| (options.get_host().to_owned(), options.get_port()))
}

/// `host:port/database`, without user or secret.
pub fn target(env: &EnvironmentConfig) -> String {
    match connect_options(env) {
        Ok(options) => {
            format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""))
        }
        Err(_) => "mysql:<invalid settings>".into(),
    }
}

#[cfg(test)]
mod tests {
    use dbfleet_core::toml;

    use super::*;

    fn settings(text: &str) -> DriverSettings {
        let table: toml::Table = text.parse().unwrap();
        DriverSettings::new(table.into_iter().collect())
    }

    fn problem_keys(text: &str) -> Vec<String> {
        let problems = read(&settings(text)).err().unwrap_or_default();
        problems.into_iter().filter_map(|p| p.key).collect()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(problem_keys("url = 5\nport = 0\nssl_mode = \"sometimes\""), ["url", "port", "ssl_mode"]);
        assert_eq!(problem_keys("url = \"mysql://db/app\"\nhost = \"db\""), ["host"]);
        assert_eq!(problem_keys("database = \"app\""), ["url"]);
        assert_eq!(problem_keys("url = \"postgres://db/app\""), ["url"]);
    }

    #[test]
    fn a_mariadb_url_and_discrete_keys_are_read() {
        let parsed = read(&settings("url = \"mariadb://app@db/shop\"\nport = 3307\nssl_mode = \"required\""))
            .unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(parsed.options.get_host(), "db");
        assert_eq!(parsed.options.get_port(), 3307);
        assert_eq!(parsed.options.get_database(), Some("shop"));
        assert_eq!(parsed.options.get_username(), "app");
        let legacy = read(&settings("host = \"db\"\nport = 3306\nusername = \"app\"\ndatabase = \"erp\""))
            .unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(legacy.options.get_database(), Some("erp"));
    }
}
