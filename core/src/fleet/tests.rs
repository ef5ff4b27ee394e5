//! The fleet's guarantees that need no engine: a driver's careless error
//! message never carries the environment's secrets.

use std::path::PathBuf;

use async_trait::async_trait;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::config::{ConfigProblem, DriverSettings, EnvironmentConfig, PoolConfig, ServerConfig};
use crate::driver::{DatabaseDriver, Pool};
use crate::result::QueryRequest;

/// A driver whose connection attempts fail with an engine message that
/// (carelessly) repeats the password and a secret-bearing URL.
struct LeakyDriver;

#[async_trait]
impl DatabaseDriver for LeakyDriver {
    fn name(&self) -> &'static str {
        "leaky-test-driver"
    }
    fn description(&self) -> &'static str {
        "fails to connect, quoting its secrets"
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &[]
    }
    fn validate(&self, _: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        Ok(())
    }
    fn target(&self, _: &EnvironmentConfig) -> String {
        "nowhere".into()
    }
    async fn connect(&self, env: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        let password = env.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
        Err(DbError::new(
            ErrorKind::Auth,
            format!("password '{password}' rejected for leaky://admin:{password}@db:1/x"),
        ))
    }
}

inventory::submit!(crate::registry::DriverRegistration(&LeakyDriver));

fn leaky_env(name: &str, password: &str) -> EnvironmentConfig {
    EnvironmentConfig {
        name: name.into(),
        driver: "leaky-test-driver".into(),
        description: None,
        enabled: true,
        read_only: true,
        max_rows: 10,
        query_timeout: Duration::from_secs(1),
        max_statement_bytes: crate::config::DEFAULT_MAX_STATEMENT_BYTES,
        max_result_bytes: crate::config::DEFAULT_MAX_RESULT_BYTES,
        side_effect_functions: Vec::new(),
        lazy: false,
        pool: PoolConfig::default(),
        password: Some(SecretString::from(password.to_owned())),
        password_command: None,
        settings: DriverSettings::default(),
        base_dir: PathBuf::from("."),
        ssh: None,
        connect_address: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn driver_errors_never_carry_the_password(password in "Q[0-9QXZ]{9,23}") {
        let config = Config {
            default_environment: None,
            server: ServerConfig::default(),
            environments: vec![leaky_env("a", &password)],
            tools: Vec::new(),
            audit: None,
            alerts: None,
            telemetry: None,
            source: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let statuses = runtime.block_on(async {
            let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() })
                .unwrap();
            fleet.wait_ready().await;
            let err = fleet.environment(Some("a")).unwrap().query(&QueryRequest {
                sql: "SELECT 1".into(),
                ..QueryRequest::default()
            }).await.unwrap_err();
            (fleet.statuses(), err)
        });
        let (statuses, query_err) = statuses;
        let error = statuses[0].last_error.clone().unwrap();
        prop_assert_eq!(error.kind, ErrorKind::Auth);
        prop_assert_eq!(statuses[0].status, Status::Unhealthy);
        for text in [
            error.to_string(),
            format!("{error:?}"),
            serde_json::to_string(&statuses).unwrap(),
            query_err.to_string(),
        ] {
            prop_assert!(!text.contains(&password), "password leaked: {}", text);
            prop_assert!(text.contains("***"), "{}", text);
        }
    }
}
