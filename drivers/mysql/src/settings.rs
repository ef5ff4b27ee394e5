//! The MySQL/MariaDB settings of an environment, and the connect options
//! built from them.

use std::str::FromStr;

use dbfleet_core::driver_api::{ConfigProblem, DbError, DriverSettings, EnvironmentConfig};
use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

pub const KEYS: &[&str] = &["url", "host", "port", "username", "database", "ssl_mode", "ssl_ca"];

const SSL_MODES: &[&str] = &["disabled", "preferred", "required", "verify_ca", "verify_identity"];

/// Checks every setting, each problem naming its key.
pub fn validate(settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    for key in ["url", "host", "username", "database", "ssl_ca"] {
        if let Err(problem) = settings.str(key) {
            problems.push(problem);
        }
    }
    if let Err(problem) = settings.integer("port", 1..=65535) {
        problems.push(problem);
    }
    match (settings.contains("url"), settings.contains("host")) {
        (true, true) => problems.push(ConfigProblem::key("host", "set either 'url' or 'host', not both")),
        (false, false) => {
            problems.push(ConfigProblem::key("url", "required: a mysql:// URL (or set 'host')"))
        }
        (true, false) => {
            if let Ok(Some(url)) = settings.str("url")
                && parse_url(url).is_err()
            {
                problems.push(ConfigProblem::key("url", "expected a valid mysql:// or mariadb:// URL"));
            }
        }
        (false, true) => {}
    }
    if let Ok(Some(mode)) = settings.str("ssl_mode")
        && !SSL_MODES.contains(&mode)
    {
        problems
            .push(ConfigProblem::key("ssl_mode", format!("'{mode}' is not one of {}", SSL_MODES.join(", "))));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
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

/// Connect options: from the URL or the discrete keys (which the legacy
/// `[database]` section also uses), the password only from the environment's
/// secret, and sessions in UTC so TIMESTAMP values come back as UTC.
pub fn connect_options(env: &EnvironmentConfig) -> Result<MySqlConnectOptions, DbError> {
    let s = &env.settings;
    let setting = |key: &str| s.str(key).ok().flatten();
    let mut options = match setting("url") {
        Some(url) => parse_url(url)
            .map_err(|_| DbError::invalid_argument("the url setting is not a valid MySQL URL"))?,
        None => MySqlConnectOptions::new(),
    };
    if let Some(host) = setting("host") {
        options = options.host(host);
    }
    if let Ok(Some(port)) = s.integer("port", 1..=65535) {
        options = options.port(port as u16);
    }
    if let Some(username) = setting("username") {
        options = options.username(username);
    }
    if let Some(database) = setting("database") {
        options = options.database(database);
    }
    if let Some(password) = &env.password {
        options = options.password(password.expose_secret());
    }
    if let Some(mode) = setting("ssl_mode") {
        options = options
            .ssl_mode(MySqlSslMode::from_str(mode).map_err(|e| DbError::invalid_argument(e.to_string()))?);
    }
    if let Some(ca) = setting("ssl_ca") {
        options = options.ssl_ca(env.resolve_path(ca));
    }
    Ok(options.timezone(Some("+00:00".to_owned())))
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
