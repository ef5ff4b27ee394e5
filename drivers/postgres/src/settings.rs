//! The PostgreSQL settings of an environment, and the connect options built
//! from them.

use std::str::FromStr;

use dbfleet_core::driver_api::{ConfigProblem, DbError, DriverSettings, EnvironmentConfig};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

pub const KEYS: &[&str] =
    &["url", "host", "port", "username", "database", "sslmode", "ssl_root_cert", "application_name"];

const SSL_MODES: &[&str] = &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// Checks every setting, each problem naming its key.
pub fn validate(settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let mut check = |result: Result<_, ConfigProblem>| {
        if let Err(problem) = result {
            problems.push(problem);
        }
    };
    for key in ["url", "host", "username", "database", "ssl_root_cert", "application_name"] {
        check(settings.str(key).map(|_| ()));
    }
    check(settings.integer("port", 1..=65535).map(|_| ()));
    match (settings.contains("url"), settings.contains("host")) {
        (true, true) => problems.push(ConfigProblem::key("host", "set either 'url' or 'host', not both")),
        (false, false) => {
            problems.push(ConfigProblem::key("url", "required: a postgres:// URL (or set 'host')"))
        }
        (true, false) => {
            if let Ok(Some(url)) = settings.str("url") {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    problems.push(ConfigProblem::key("url", "expected a postgres:// or postgresql:// URL"));
                } else if PgConnectOptions::from_str(url).is_err() {
                    problems.push(ConfigProblem::key("url", "not a valid PostgreSQL URL"));
                }
            }
        }
        (false, true) => {}
    }
    if let Ok(Some(mode)) = settings.str("sslmode")
        && !SSL_MODES.contains(&mode)
    {
        problems
            .push(ConfigProblem::key("sslmode", format!("'{mode}' is not one of {}", SSL_MODES.join(", "))));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Connect options: from the URL or the discrete keys, the password only from
/// the environment's secret, and read-only sessions and the statement timeout
/// enforced by the server.
pub fn connect_options(env: &EnvironmentConfig) -> Result<PgConnectOptions, DbError> {
    let s = &env.settings;
    let setting = |key: &str| s.str(key).ok().flatten();
    let mut options = match setting("url") {
        Some(url) => PgConnectOptions::from_str(url)
            .map_err(|_| DbError::invalid_argument("the url setting is not a valid PostgreSQL URL"))?,
        None => PgConnectOptions::new_without_pgpass(),
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
    if let Some(mode) = setting("sslmode") {
        options = options
            .ssl_mode(PgSslMode::from_str(mode).map_err(|e| DbError::invalid_argument(e.to_string()))?);
    }
    if let Some(cert) = setting("ssl_root_cert") {
        options = options.ssl_root_cert(env.resolve_path(cert));
    }
    options = options.application_name(setting("application_name").unwrap_or("dbfleet"));
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
    Ok(options.options(session))
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
