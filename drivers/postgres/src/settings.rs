//! The PostgreSQL settings of an environment, and the connect options built
//! from them.

use std::str::FromStr;

use dbfleet_core::driver_api::{
    ConfigProblem, DbError, DriverSettings, EnvironmentConfig, SettingsReader, invalid_settings,
};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

pub const KEYS: &[&str] =
    &["url", "host", "port", "username", "database", "sslmode", "ssl_root_cert", "application_name"];

const SSL_MODES: &[&str] = &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// An environment's PostgreSQL settings, read once: where to connect and
/// how, without the password (which only the environment's secret holds).
pub struct PgSettings {
    options: PgConnectOptions,
    ssl_root_cert: Option<String>,
}

/// Reads every setting, reporting every problem at once, each naming its key.
pub fn read(settings: &DriverSettings) -> Result<PgSettings, Vec<ConfigProblem>> {
    let mut r = SettingsReader::new(settings);
    let url = r.string("url");
    let host = r.string("host");
    let port = r.port("port");
    let username = r.string("username");
    let database = r.string("database");
    let ssl_mode = r.one_of("sslmode", SSL_MODES);
    let ssl_root_cert = r.string("ssl_root_cert");
    let application_name = r.string("application_name");
    let base = match (r.contains("url"), r.contains("host"), url) {
        (true, true, _) => {
            r.problem("host", "set either 'url' or 'host', not both");
            None
        }
        (false, false, _) => {
            r.problem("url", "required: a postgres:// URL (or set 'host')");
            None
        }
        (true, false, Some(url)) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
            r.problem("url", "expected a postgres:// or postgresql:// URL");
            None
        }
        (true, false, Some(url)) => {
            PgConnectOptions::from_str(url).map_err(|_| r.problem("url", "not a valid PostgreSQL URL")).ok()
        }
        (true, false, None) => None,
        (false, true, _) => Some(PgConnectOptions::new_without_pgpass()),
    };
    r.finish()?;
    let mut options = base.unwrap_or_else(PgConnectOptions::new_without_pgpass);
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
    if let Some(mode) = ssl_mode.and_then(|mode| PgSslMode::from_str(mode).ok()) {
        options = options.ssl_mode(mode);
    }
    options = options.application_name(application_name.unwrap_or("dbfleet"));
    Ok(PgSettings { options, ssl_root_cert: ssl_root_cert.map(str::to_owned) })
}

/// Connect options: the settings, the password only from the environment's
/// secret, and read-only sessions and the statement timeout enforced by the
/// server.
pub fn connect_options(env: &EnvironmentConfig) -> Result<PgConnectOptions, DbError> {
    let PgSettings { mut options, ssl_root_cert } = read(&env.settings).map_err(invalid_settings)?;
    if let Some(tunnel) = env.connect_address {
        options = options.host(&tunnel.ip().to_string()).port(tunnel.port());
    }
    if let Some(password) = &env.password {
        options = options.password(password.expose_secret());
    }
    if let Some(cert) = ssl_root_cert {
        options = options.ssl_root_cert(env.resolve_path(&cert));
    }
    // Notices and warnings are not passed on to callers, and the reset run
    // when a connection goes back to the pool begins with a ROLLBACK that
    // would warn "there is no transaction in progress" after most calls.
    let mut session = vec![
        ("statement_timeout".to_owned(), env.query_timeout.as_millis().to_string()),
        ("client_min_messages".to_owned(), "error".to_owned()),
    ];
    if env.read_only {
        session.push(("default_transaction_read_only".to_owned(), "on".to_owned()));
    }
    Ok(dbfleet_sqlx_support::without_statement_logs(options.options(session)))
}

/// The server's host and port; `None` for a Unix socket directory.
pub fn server_address(env: &EnvironmentConfig) -> Option<(String, u16)> {
    let PgSettings { options, .. } = read(&env.settings).ok()?;
    let host = options.get_host();
    (!host.starts_with('/')).then(|| (host.to_owned(), options.get_port()))
}

/// `host:port/database`, without user or secret.
pub fn target(env: &EnvironmentConfig) -> String {
    match connect_options(env) {
        Ok(options) => format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        ),
        Err(_) => "postgres:<invalid settings>".into(),
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
        assert_eq!(problem_keys("url = 5\nport = 0\nsslmode = \"sometimes\""), ["url", "port", "sslmode"]);
        assert_eq!(problem_keys("url = \"postgres://db/app\"\nhost = \"db\""), ["host"]);
        assert_eq!(problem_keys("database = \"app\""), ["url"]);
        assert_eq!(problem_keys("url = \"mysql://db/app\""), ["url"]);
    }

    #[test]
    fn discrete_keys_complete_the_url() {
        let parsed = read(&settings(
            "url = \"postgres://app@db:5433/shop\"\nport = 6000\nsslmode = \"require\"\napplication_name = \"ops\"",
        ))
        .unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(parsed.options.get_host(), "db");
        assert_eq!(parsed.options.get_port(), 6000);
        assert_eq!(parsed.options.get_database(), Some("shop"));
        assert_eq!(parsed.options.get_username(), "app");
        assert_eq!(parsed.options.get_application_name(), Some("ops"));
    }
}
