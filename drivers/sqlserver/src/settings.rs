//! The SQL Server settings of an environment, and the tiberius configuration
//! built from them.
//!
//! An environment says where the server is in exactly one of three ways:
//! `connection_string` (ADO.NET), `url` (`sqlserver://…`) or `host`. The
//! discrete `port`, `instance`, `username` and `database` keys complete or
//! override that, and so do `encrypt`, `trust_server_certificate`,
//! `trust_server_certificate_ca` and `application_name`. The password comes
//! only from the environment's secret (`password_env`, `password_file`).

use dbfleet_core::driver_api::{ConfigProblem, DbError, DriverSettings, EnvironmentConfig, SettingsReader};
use secrecy::ExposeSecret;
use tiberius::{AuthMethod, Config};

use crate::address::{Address, Encrypt};
use crate::{connection_string, url};

pub const KEYS: &[&str] = &[
    "connection_string",
    "url",
    "host",
    "port",
    "instance",
    "username",
    "database",
    "encrypt",
    "trust_server_certificate",
    "trust_server_certificate_ca",
    "application_name",
];

const DEFAULT_APPLICATION_NAME: &str = "dbfleet";

/// Checks every setting, each problem naming its key.
pub fn validate(settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
    address(settings).map(|_| ())
}

/// The address the settings describe, or every problem found in them.
pub fn address(settings: &DriverSettings) -> Result<Address, Vec<ConfigProblem>> {
    let mut r = SettingsReader::new(settings);
    let mut string = |key: &str| r.string(key).map(str::to_owned);
    let connection_string = string("connection_string");
    let url = string("url");
    let host = string("host");
    let instance = string("instance");
    let username = string("username");
    let database = string("database");
    let trust_ca = string("trust_server_certificate_ca");
    let application_name = string("application_name");
    let port = r.port("port");
    let trust = r.bool("trust_server_certificate");
    let encrypt = r.one_of("encrypt", Encrypt::NAMES).and_then(Encrypt::parse);

    let forms = [
        ("connection_string", r.contains("connection_string")),
        ("url", r.contains("url")),
        ("host", r.contains("host")),
    ];
    let given: Vec<&str> = forms.iter().filter(|(_, present)| *present).map(|(key, _)| *key).collect();
    let mut address = match given.as_slice() {
        [] => {
            r.problem("host", "required: the server's host (or set 'url' or 'connection_string')");
            None
        }
        [_] => match (connection_string, url, host) {
            (Some(text), _, _) => connection_string::parse(&text)
                .map_err(|message| r.problem("connection_string", message))
                .ok(),
            (_, Some(text), _) => url::parse(&text).map_err(|message| r.problem("url", message)).ok(),
            (_, _, Some(host)) if host.trim().is_empty() => {
                r.problem("host", "must not be empty");
                None
            }
            (_, _, Some(host)) => Some(Address { host, ..Address::default() }),
            // The one key given has the wrong type, already reported.
            (None, None, None) => None,
        },
        [first, rest @ ..] => {
            for key in rest {
                r.problem(
                    key,
                    format!("set only one of connection_string, url and host (also given: {first})"),
                );
            }
            None
        }
    };

    if let Some(address) = &mut address {
        override_with(&mut address.port, port);
        override_with(&mut address.instance, instance);
        override_with(&mut address.username, username);
        override_with(&mut address.database, database);
        override_with(&mut address.encrypt, encrypt);
        override_with(&mut address.trust_server_certificate, trust);
        override_with(&mut address.trust_server_certificate_ca, trust_ca);
        override_with(&mut address.application_name, application_name);
        if address.username.as_deref().is_none_or(str::is_empty) {
            r.problem(
                "username",
                "required: the SQL Server login (or User Id in connection_string, user@ in url)",
            );
        }
        if address.trust_server_certificate == Some(true) && address.trust_server_certificate_ca.is_some() {
            r.problem(
                "trust_server_certificate_ca",
                "cannot be combined with trust_server_certificate = true: trust the CA or skip the checks",
            );
        }
    }
    r.finish()?;
    // Every way of ending without an address recorded a problem.
    address.ok_or_else(|| vec![ConfigProblem::key("host", "required: the server's host")])
}

fn override_with<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// The tiberius configuration of an environment, and its address: the
/// password only from the environment's secret, read-only environments with
/// ApplicationIntent=ReadOnly, the handshake bounded by the connect timeout
/// and each server round-trip by the query timeout.
pub fn client_config(env: &EnvironmentConfig) -> Result<(Config, Address), DbError> {
    let address = address(&env.settings).map_err(|problems| {
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        DbError::invalid_argument(format!("invalid settings: {}", messages.join("; ")))
    })?;
    let mut config = Config::new();
    config.host(&address.host);
    if let Some(port) = address.port {
        config.port(port);
    }
    if let Some(tunnel) = env.connect_address {
        config.host(tunnel.ip());
        config.port(tunnel.port());
        // The certificate still names the server, not the tunnel's end.
        if address.hostname_in_certificate.is_none() {
            config.hostname_in_certificate(&address.host);
        }
    }
    if let Some(instance) = &address.instance {
        config.instance_name(instance);
    }
    if let Some(database) = &address.database {
        config.database(database);
    }
    config.application_name(address.application_name.as_deref().unwrap_or(DEFAULT_APPLICATION_NAME));
    let encrypt = address.encrypt.unwrap_or(Encrypt::Required);
    config.encryption(encrypt.level());
    if address.trust_server_certificate == Some(true) {
        if encrypt != Encrypt::NotSupported {
            tracing::warn!(
                environment = %env.name,
                "server certificate checks are off (trust_server_certificate): \
                 the connection is open to a man in the middle"
            );
        }
        config.trust_cert();
    } else if let Some(ca) = &address.trust_server_certificate_ca {
        config.trust_cert_ca(env.resolve_path(ca).display());
    }
    if let Some(hostname) = &address.hostname_in_certificate {
        config.hostname_in_certificate(hostname);
    }
    let password = env.password.as_ref().map_or("", |p| p.expose_secret());
    config.authentication(AuthMethod::sql_server(address.username.as_deref().unwrap_or_default(), password));
    config.readonly(env.read_only || address.read_only_intent);
    config.handshake_timeout(Some(env.pool.connect_timeout));
    config.command_timeout(Some(env.query_timeout));
    Ok((config, address))
}

/// The server's host and port; `None` for a named instance without a port,
/// whose port only SQL Browser (UDP, which no tunnel carries) tells.
pub fn server_address(env: &EnvironmentConfig) -> Option<(String, u16)> {
    let address = address(&env.settings).ok()?;
    (!address.uses_sql_browser()).then(|| (address.host.clone(), address.port.unwrap_or(1433)))
}

/// `host:port/database` (`host\instance/database` for a named instance),
/// without user or secret.
pub fn target(env: &EnvironmentConfig) -> String {
    match address(&env.settings) {
        Ok(address) => {
            let mut target = address.host.clone();
            if let Some(instance) = &address.instance {
                target.push('\\');
                target.push_str(instance);
            }
            if let Some(port) = address.port.or((address.instance.is_none()).then_some(1433)) {
                target.push_str(&format!(":{port}"));
            }
            if let Some(database) = &address.database {
                target.push('/');
                target.push_str(database);
            }
            target
        }
        Err(_) => "sqlserver:<invalid settings>".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use dbfleet_core::{PoolConfig, toml};

    use super::*;

    fn settings(toml: &str) -> DriverSettings {
        let table: BTreeMap<String, toml::Value> = toml::from_str(toml).unwrap();
        DriverSettings::new(table)
    }

    fn env(toml: &str) -> EnvironmentConfig {
        EnvironmentConfig {
            name: "legacy".into(),
            driver: "sqlserver".into(),
            description: None,
            enabled: true,
            read_only: true,
            max_rows: 100,
            query_timeout: Duration::from_secs(30),
            max_statement_bytes: dbfleet_core::config::DEFAULT_MAX_STATEMENT_BYTES,
            max_result_bytes: dbfleet_core::config::DEFAULT_MAX_RESULT_BYTES,
            side_effect_functions: Vec::new(),
            lazy: false,
            pool: PoolConfig::default(),
            password: Some("hunter2".into()),
            password_command: None,
            settings: settings(toml),
            base_dir: PathBuf::from("/etc/dbfleet"),
            ssh: None,
            connect_address: None,
        }
    }

    fn problems(toml: &str) -> Vec<(String, String)> {
        validate(&settings(toml))
            .unwrap_err()
            .into_iter()
            .map(|p| (p.key.unwrap_or_default(), p.message))
            .collect()
    }

    #[test]
    fn discrete_keys() {
        let found = address(&settings(
            r#"host = "legacy-db"
               port = 1444
               username = "reader"
               database = "erp"
               encrypt = "not_supported"
               application_name = "nightly""#,
        ))
        .unwrap();
        assert_eq!(found.host, "legacy-db");
        assert_eq!(found.port, Some(1444));
        assert_eq!(found.username.as_deref(), Some("reader"));
        assert_eq!(found.database.as_deref(), Some("erp"));
        assert_eq!(found.encrypt, Some(Encrypt::NotSupported));
        assert_eq!(found.application_name.as_deref(), Some("nightly"));
    }

    #[test]
    fn discrete_keys_override_a_url_or_connection_string() {
        let from_url = address(&settings(
            r#"url = "sqlserver://app@db/erp?encrypt=required"
               database = "erp_archive"
               encrypt = "strict""#,
        ))
        .unwrap();
        assert_eq!(from_url.database.as_deref(), Some("erp_archive"));
        assert_eq!(from_url.encrypt, Some(Encrypt::Strict));
        let from_string = address(&settings(
            r#"connection_string = "Server=tcp:db,1433;Database=erp;User Id=app;TrustServerCertificate=true"
               trust_server_certificate = false
               trust_server_certificate_ca = "ca.pem""#,
        ))
        .unwrap();
        assert_eq!(from_string.trust_server_certificate, Some(false));
        assert_eq!(from_string.trust_server_certificate_ca.as_deref(), Some("ca.pem"));
    }

    #[test]
    fn exactly_one_form() {
        assert_eq!(problems("username = \"a\"")[0].0, "host");
        let found = problems(
            r#"host = "h"
               url = "sqlserver://a@h"
               username = "a""#,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "host");
        assert!(found[0].1.contains("only one"), "{}", found[0].1);
    }

    #[test]
    fn every_problem_names_its_key() {
        let found = problems(
            r#"host = "h"
               port = 70000
               username = 5
               encrypt = "yes"
               trust_server_certificate = "true"
               application_name = 1"#,
        );
        let keys: Vec<&str> = found.iter().map(|(key, _)| key.as_str()).collect();
        for key in ["port", "username", "encrypt", "trust_server_certificate", "application_name"] {
            assert!(keys.contains(&key), "{key} missing from {found:?}");
        }
    }

    #[test]
    fn secrets_in_connection_strings_and_urls_are_refused() {
        for (toml, key) in [
            (r#"connection_string = "Server=h;User Id=a;Password=hunter2""#, "connection_string"),
            (r#"url = "sqlserver://a:hunter2@h/db""#, "url"),
        ] {
            let found = problems(toml);
            assert_eq!(found[0].0, key);
            assert!(found[0].1.contains("password_env or password_file"), "{}", found[0].1);
            assert!(!found[0].1.contains("hunter2"), "{}", found[0].1);
        }
    }

    #[test]
    fn login_and_trust_conflicts() {
        assert_eq!(problems(r#"host = "h""#)[0].0, "username");
        let found = problems(
            r#"host = "h"
               username = "a"
               trust_server_certificate = true
               trust_server_certificate_ca = "ca.pem""#,
        );
        assert_eq!(found[0].0, "trust_server_certificate_ca");
    }

    #[test]
    fn targets_never_show_secrets() {
        assert_eq!(
            target(&env(r#"host = "db"
                                   username = "a"
                                   database = "erp""#)),
            "db:1433/erp"
        );
        assert_eq!(
            target(&env(r#"connection_string = "Server=db\\SALES;User Id=a;Database=erp""#)),
            "db\\SALES/erp"
        );
        assert_eq!(target(&env(r#"url = "sqlserver://a@db:1444""#)), "db:1444");
        assert_eq!(target(&env(r#"url = "sqlserver://a:hunter2@db""#)), "sqlserver:<invalid settings>");
    }

    #[test]
    fn client_config_uses_the_secret_and_the_address() {
        let (config, address) =
            client_config(&env(r#"url = "sqlserver://reader@db:1444/erp?encrypt=not_supported""#)).unwrap();
        assert_eq!(config.get_addr(), "db:1444");
        assert!(!address.uses_sql_browser());
        assert_eq!(config.get_command_timeout(), Some(Duration::from_secs(30)));
        let err = client_config(&env(r#"host = "db""#)).unwrap_err();
        assert_eq!(err.kind, dbfleet_core::driver_api::ErrorKind::InvalidArgument);
        assert!(err.message.contains("username"), "{}", err.message);
    }
}
