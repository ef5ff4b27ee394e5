//! Finding, parsing and validating the configuration file.
//!
//! The file is walked by hand rather than deserialised with serde so that
//! every problem is reported at once (serde stops at the first), each with
//! the environment, the key and, where known, the line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use toml::Table;

use super::expand::{ExpandError, expand};
use super::locate::{KeySpans, line_col};
use super::password_command::{DEFAULT_PASSWORD_COMMAND_TIMEOUT, PasswordCommand};
use super::tools::{BUILT_IN_TOOLS, ToolConfig};
use super::{AuditConfig, AuditDestination, DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES};
use super::{
    Config, ConfigProblem, DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_ROWS, DEFAULT_MAX_STATEMENT_BYTES,
    DEFAULT_QUERY_TIMEOUT, DEFAULT_READ_ONLY, DriverSettings, EnvironmentConfig, MAX_STATEMENT_BYTES_LIMIT,
    PoolConfig, ServerConfig, Transport,
};
use crate::registry;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file found: pass --config FILE, set DBFLEET_CONFIG, or create ./dbfleet.toml")]
    NotFound,
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", render_problems(problems))]
    Invalid { problems: Vec<ConfigProblem> },
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let plural = if problems.len() == 1 { "" } else { "s" };
    let mut out = format!("invalid configuration: {} problem{plural}", problems.len());
    for problem in problems {
        out.push_str("\n  - ");
        out.push_str(&problem.to_string());
    }
    out
}

/// `--config FILE`, then `$DBFLEET_CONFIG`, then `./dbfleet.toml`.
pub fn find_config_path(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let chosen =
        explicit.map(Path::to_path_buf).or_else(|| std::env::var_os("DBFLEET_CONFIG").map(PathBuf::from));
    match chosen {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(ConfigError::Read { path, source: std::io::ErrorKind::NotFound.into() }),
        None => {
            let local = PathBuf::from("dbfleet.toml");
            if local.is_file() { Ok(local) } else { Err(ConfigError::NotFound) }
        }
    }
}

/// Loads a configuration file; relative paths in it resolve against its
/// directory and `${VAR}` against the process environment.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = absolute.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut config = load_config_str(&text, &base_dir, &|name| std::env::var(name).ok())?;
    config.source = Some(absolute);
    Ok(config)
}

/// Loads a configuration from text. `lookup_var` resolves `${VAR}` and
/// `password_env`.
pub fn load_config_str(
    text: &str,
    base_dir: &Path,
    lookup_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let (document, syntax_errors) = toml::de::DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let problems = syntax_errors
            .iter()
            .map(|err| ConfigProblem {
                location: err.span().map(|span| line_col(text, span.start)),
                ..ConfigProblem::new(format!("TOML syntax error: {}", err.message().trim()))
            })
            .collect();
        return Err(ConfigError::Invalid { problems });
    }
    let root: Table = toml::from_str(text).map_err(|err| ConfigError::Invalid {
        problems: vec![ConfigProblem {
            location: err.span().map(|span| line_col(text, span.start)),
            ..ConfigProblem::new(err.message().trim().to_owned())
        }],
    })?;
    let mut checker = Checker {
        spans: KeySpans::new(text, document.get_ref()),
        lookup_var,
        base_dir,
        problems: Vec::new(),
    };
    let config = checker.config(&root);
    let mut problems = checker.problems;
    if problems.is_empty() {
        return Ok(config);
    }
    // File order; problems without a position last.
    problems.sort_by_key(|p| p.location.unwrap_or((usize::MAX, usize::MAX)));
    Err(ConfigError::Invalid { problems })
}

const ROOT_KEYS: &[&str] = &[
    "default_environment",
    "server",
    "defaults",
    "environments",
    "database",
    "tools",
    "audit",
    "alerts",
    "telemetry",
];
const AUDIT_KEYS: &[&str] = &["path", "stderr", "include_literals", "max_file_bytes", "max_files"];
const SERVER_KEYS: &[&str] = &[
    "transport",
    "listen",
    "auth_token_env",
    "allowed_origins",
    "max_sessions",
    "tools",
    "tokens",
    "watch_config",
    "max_parallel",
    "stateless",
    "drain_secs",
    "ui",
];
const DEFAULTS_KEYS: &[&str] = &[
    "max_rows",
    "query_timeout_secs",
    "read_only",
    "max_statement_bytes",
    "side_effect_functions",
    "lazy",
    "pool",
];
const POOL_KEYS: &[&str] =
    &["max_connections", "min_connections", "connect_timeout_secs", "idle_timeout_secs"];
const ENVIRONMENT_KEYS: &[&str] = &[
    "driver",
    "description",
    "enabled",
    "read_only",
    "max_rows",
    "query_timeout_secs",
    "max_statement_bytes",
    "max_result_bytes",
    "side_effect_functions",
    "lazy",
    "password",
    "password_env",
    "password_file",
    "password_command",
    "password_command_timeout_secs",
    "password_command_refresh_secs",
    "pool",
    "ssh",
];
const PASSWORD_KEYS: &[&str] = &["password", "password_env", "password_file", "password_command"];

/// What `[defaults]` sets for every environment.
struct Defaults {
    limits: Limits,
    pool: PoolConfig,
}

/// The keys `[defaults]` and environments share.
#[derive(Clone)]
struct Limits {
    max_rows: u64,
    query_timeout: Duration,
    read_only: bool,
    max_statement_bytes: usize,
    max_result_bytes: u64,
    side_effect_functions: Vec<String>,
    lazy: bool,
}

/// Where a value stands: the environment (if any) and the dotted path from
/// the file's root.
#[derive(Clone)]
pub(super) struct At<'p> {
    environment: Option<&'p str>,
    /// Path of the containing table from the root (`["environments", "dev"]`).
    table: Vec<&'p str>,
}

impl<'p> At<'p> {
    pub(super) fn root() -> Self {
        At { environment: None, table: Vec::new() }
    }

    pub(super) fn child(&self, key: &'p str) -> Self {
        let mut table = self.table.clone();
        table.push(key);
        At { environment: self.environment, table }
    }

    /// The key as reported: relative to the environment's table when inside one.
    fn key_name(&self, key: &str) -> String {
        let skip = if self.environment.is_some() { self.environment_depth() } else { 0 };
        let mut parts: Vec<&str> = self.table[skip..].to_vec();
        parts.push(key);
        parts.join(".")
    }

    fn environment_depth(&self) -> usize {
        match self.table.first() {
            Some(&"environments") => 2,
            _ => 1,
        }
    }
}

pub(super) struct Checker<'a> {
    spans: KeySpans<'a>,
    lookup_var: &'a dyn Fn(&str) -> Option<String>,
    base_dir: &'a Path,
    pub(super) problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    pub(super) fn problem(&mut self, at: &At<'_>, key: Option<&str>, message: impl Into<String>) {
        let mut path = at.table.clone();
        if let Some(key) = key {
            path.push(key);
        }
        self.problems.push(ConfigProblem {
            environment: at.environment.map(str::to_owned),
            key: key.map(|k| at.key_name(k)),
            location: self.spans.locate(&path),
            message: message.into(),
        });
    }

    pub(super) fn var(&self, name: &str) -> Option<String> {
        (self.lookup_var)(name)
    }

    pub(super) fn home(&self) -> Option<PathBuf> {
        self.var("HOME").filter(|home| !home.is_empty()).map(PathBuf::from)
    }

    /// A path of the file, relative to its directory unless absolute.
    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.base_dir.join(path) }
    }

    pub(super) fn unknown_keys(&mut self, at: &At<'_>, table: &Table, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.problem(at, Some(key), unknown_key_message(key, known));
            }
        }
    }

    fn config(&mut self, root: &Table) -> Config {
        self.unknown_keys(&At::root(), root, ROOT_KEYS);
        let server = self.server(root.get("server"));
        let defaults = self.defaults(root.get("defaults"));
        let mut environments = Vec::new();
        let legacy = root.get("database");
        match (root.get("environments"), legacy) {
            (Some(_), Some(_)) => self.problem(
                &At::root(),
                Some("database"),
                "a legacy [database] section cannot be combined with [environments]: move it to [environments.default]",
            ),
            (Some(value), None) => match value.as_table() {
                Some(table) => {
                    for (name, value) in table {
                        let at = At { environment: Some(name), table: vec!["environments", name] };
                        if let Some(env) = self.environment(&at, name, value, &defaults) {
                            environments.push(env);
                        }
                    }
                }
                None => self.problem(&At::root(), Some("environments"), "expected a table of environments"),
            },
            (None, Some(value)) => {
                let at = At { environment: Some("default"), table: vec!["database"] };
                match (value.as_table(), registry::legacy_database_driver()) {
                    (None, _) => self.problem(&At::root(), Some("database"), "expected a table"),
                    (Some(_), None) => self.problem(
                        &At::root(),
                        Some("database"),
                        "no driver linked into this binary reads a legacy [database] section: move it to \
                         [environments.default] and name its driver",
                    ),
                    (Some(table), Some(driver)) => {
                        let mut table = table.clone();
                        table.insert("driver".into(), toml::Value::String(driver.name().into()));
                        let legacy = toml::Value::Table(table);
                        if let Some(env) = self.environment(&at, "default", &legacy, &defaults) {
                            environments.push(env);
                        }
                    }
                }
            }
            (None, None) => self.problem(
                &At::root(),
                None,
                "no environments configured: add an [environments.NAME] table with at least a driver",
            ),
        }
        // Every environment the file declares, valid or not, so that a broken
        // one is not also reported as missing.
        let declared: Vec<(String, bool)> = match (root.get("environments"), legacy) {
            (Some(toml::Value::Table(table)), _) => table
                .iter()
                .map(|(name, value)| {
                    let enabled = value.get("enabled").and_then(toml::Value::as_bool).unwrap_or(true);
                    (name.clone(), enabled)
                })
                .collect(),
            (None, Some(_)) => vec![("default".to_owned(), true)],
            _ => Vec::new(),
        };
        let default_environment = self.default_environment(root, &declared, &environments);
        let tools = self.tools(root.get("tools"), &environments);
        self.tool_set(root, &server, &tools);
        let mut server = server;
        server.tokens = self.tokens(root, &declared, &tools);
        let audit = self.audit(root.get("audit"));
        let alerts = self.alerts(root.get("alerts"));
        let telemetry = self.telemetry(root.get("telemetry"));
        Config { default_environment, server, environments, tools, audit, alerts, telemetry, source: None }
    }

    /// `[audit]`: `path` (relative to the file's directory) or `stderr = true`.
    fn audit(&mut self, value: Option<&toml::Value>) -> Option<AuditConfig> {
        let table = self.table(&At::root(), "audit", value)?;
        let at = At::root().child("audit");
        self.unknown_keys(&at, table, AUDIT_KEYS);
        let include_literals = self.boolean(&at, table, "include_literals").unwrap_or(false);
        let max_bytes = self
            .integer(&at, table, "max_file_bytes", 1024 * 1024..=10 * 1024 * 1024 * 1024)
            .map_or(DEFAULT_AUDIT_MAX_BYTES, |n| n as u64);
        let max_files =
            self.integer(&at, table, "max_files", 1..=100).map_or(DEFAULT_AUDIT_MAX_FILES, |n| n as usize);
        let stderr = self.boolean(&at, table, "stderr").unwrap_or(false);
        let path = self.string(&at, table, "path").and_then(|p| self.expanded(&at, "path", &p));
        let destination = match (path, stderr) {
            (Some(_), true) => {
                self.problem(&at, Some("stderr"), "give path or stderr = true, not both");
                return None;
            }
            (Some(path), false) => {
                let path = PathBuf::from(path);
                let path = if path.is_absolute() { path } else { self.base_dir.join(path) };
                AuditDestination::File { path, max_bytes, max_files }
            }
            (None, true) => AuditDestination::Stderr,
            (None, false) => {
                self.problem(&at, Some("path"), "required: the audit log's file, or stderr = true");
                return None;
            }
        };
        Some(AuditConfig { destination, include_literals })
    }

    /// `[server] tools`: each name a built-in tool or one of `[tools]`.
    fn tool_set(&mut self, root: &Table, server: &ServerConfig, tools: &[ToolConfig]) {
        let configured = root.get("tools").and_then(toml::Value::as_table);
        for name in server.tools.iter().flatten() {
            let known = BUILT_IN_TOOLS.contains(&name.as_str())
                || tools.iter().any(|t| &t.name == name)
                || configured.is_some_and(|t| t.contains_key(name));
            if !known {
                self.problem(
                    &At::root().child("server"),
                    Some("tools"),
                    format!("no tool named '{name}': built-in tools are {}", BUILT_IN_TOOLS.join(", ")),
                );
            }
        }
    }

    fn default_environment(
        &mut self,
        root: &Table,
        declared: &[(String, bool)],
        valid: &[EnvironmentConfig],
    ) -> Option<String> {
        let at = At::root();
        let Some(named) = self.string(&at, root, "default_environment") else {
            let mut enabled = valid.iter().filter(|env| env.enabled);
            return match (enabled.next(), enabled.next()) {
                (Some(only), None) => Some(only.name.clone()),
                _ => None,
            };
        };
        let named = self.expanded(&at, "default_environment", &named)?;
        match declared.iter().find(|(name, _)| *name == named) {
            Some((_, true)) => Some(named),
            Some((_, false)) => {
                self.problem(&at, Some("default_environment"), format!("environment '{named}' is disabled"));
                None
            }
            None => {
                let names: Vec<&str> = declared.iter().map(|(name, _)| name.as_str()).collect();
                self.problem(
                    &at,
                    Some("default_environment"),
                    format!("no environment named '{named}' (configured: {})", names.join(", ")),
                );
                None
            }
        }
    }

    fn server(&mut self, value: Option<&toml::Value>) -> ServerConfig {
        let mut server = ServerConfig::default();
        let at = At::root().child("server");
        let Some(table) = self.table(&At::root(), "server", value) else { return server };
        self.unknown_keys(&at, table, SERVER_KEYS);
        match self.string(&at, table, "transport").as_deref() {
            None | Some("stdio") => {}
            Some("http") => server.transport = Transport::Http,
            Some(other) => {
                self.problem(&at, Some("transport"), format!("'{other}' is not one of stdio, http"))
            }
        }
        if let Some(listen) = self.string(&at, table, "listen") {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                self.problem(
                    &at,
                    Some("listen"),
                    format!("'{listen}' is not an address such as 127.0.0.1:8080"),
                );
            }
            server.listen = listen;
        }
        server.auth_token_env = self.string(&at, table, "auth_token_env");
        if let Some(origins) = self.strings(&at, table, "allowed_origins") {
            for origin in origins {
                let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
                });
                if valid {
                    server.allowed_origins.push(origin.to_ascii_lowercase());
                } else {
                    self.problem(
                        &at,
                        Some("allowed_origins"),
                        format!("'{origin}' is not an origin such as https://console.example.com:8443"),
                    );
                }
            }
        }
        if let Some(n) = self.integer(&at, table, "max_sessions", 1..=100_000) {
            server.max_sessions = n as usize;
        }
        server.tools = self.strings(&at, table, "tools");
        if let Some(watch) = self.boolean(&at, table, "watch_config") {
            server.watch_config = watch;
        }
        if let Some(n) = self.integer(&at, table, "max_parallel", 1..=10_000) {
            server.max_parallel = n as usize;
        }
        if let Some(stateless) = self.boolean(&at, table, "stateless") {
            server.stateless = stateless;
        }
        if let Some(n) = self.integer(&at, table, "drain_secs", 0..=600) {
            server.drain = Duration::from_secs(n as u64);
        }
        server.ui = self.boolean(&at, table, "ui");
        server
    }

    fn defaults(&mut self, value: Option<&toml::Value>) -> Defaults {
        let mut defaults = Defaults {
            limits: Limits {
                max_rows: DEFAULT_MAX_ROWS,
                query_timeout: DEFAULT_QUERY_TIMEOUT,
                read_only: DEFAULT_READ_ONLY,
                max_statement_bytes: DEFAULT_MAX_STATEMENT_BYTES,
                max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
                side_effect_functions: Vec::new(),
                lazy: false,
            },
            pool: PoolConfig::default(),
        };
        let at = At::root().child("defaults");
        let Some(table) = self.table(&At::root(), "defaults", value) else { return defaults };
        self.unknown_keys(&at, table, DEFAULTS_KEYS);
        self.limits(&at, table, &mut defaults.limits);
        defaults.pool = self.pool(&at, table.get("pool"), &defaults.pool);
        defaults
    }

    /// The keys `[defaults]` and environments share; an environment's
    /// `side_effect_functions` add to those of `[defaults]`.
    fn limits(&mut self, at: &At<'_>, table: &Table, limits: &mut Limits) {
        if let Some(n) = self.integer(at, table, "max_rows", 1..=10_000_000) {
            limits.max_rows = n as u64;
        }
        if let Some(n) = self.integer(at, table, "query_timeout_secs", 1..=86_400) {
            limits.query_timeout = Duration::from_secs(n as u64);
        }
        if let Some(b) = self.boolean(at, table, "read_only") {
            limits.read_only = b;
        }
        if let Some(b) = self.boolean(at, table, "lazy") {
            limits.lazy = b;
        }
        if let Some(n) = self.integer(at, table, "max_statement_bytes", 64..=MAX_STATEMENT_BYTES_LIMIT as i64)
        {
            limits.max_statement_bytes = n as usize;
        }
        if let Some(n) = self.integer(at, table, "max_result_bytes", 1024..=1 << 30) {
            limits.max_result_bytes = n as u64;
        }
        if let Some(names) = self.strings(at, table, "side_effect_functions") {
            for name in names {
                let valid = !name.is_empty()
                    && name.trim_end_matches('*').split('.').all(|part| {
                        !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                    });
                if valid {
                    limits.side_effect_functions.push(name);
                } else {
                    self.problem(
                        at,
                        Some("side_effect_functions"),
                        format!("'{name}' is not a function name such as purge, app.purge or purge_*"),
                    );
                }
            }
        }
    }

    fn pool(&mut self, at: &At<'_>, value: Option<&toml::Value>, base: &PoolConfig) -> PoolConfig {
        let mut pool = base.clone();
        let Some(table) = self.table(at, "pool", value) else { return pool };
        let at = at.child("pool");
        self.unknown_keys(&at, table, POOL_KEYS);
        if let Some(n) = self.integer(&at, table, "max_connections", 1..=1_000) {
            pool.max_connections = n as u32;
        }
        if let Some(n) = self.integer(&at, table, "min_connections", 0..=1_000) {
            pool.min_connections = n as u32;
        }
        if pool.min_connections > pool.max_connections {
            self.problem(
                &at,
                Some("min_connections"),
                format!("{} is more than max_connections ({})", pool.min_connections, pool.max_connections),
            );
        }
        if let Some(n) = self.integer(&at, table, "connect_timeout_secs", 1..=600) {
            pool.connect_timeout = Duration::from_secs(n as u64);
        }
        if let Some(n) = self.integer(&at, table, "idle_timeout_secs", 0..=86_400) {
            pool.idle_timeout = (n > 0).then(|| Duration::from_secs(n as u64));
        }
        pool
    }

    fn environment(
        &mut self,
        at: &At<'_>,
        name: &str,
        value: &toml::Value,
        defaults: &Defaults,
    ) -> Option<EnvironmentConfig> {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            self.problem(
                at,
                None,
                format!("invalid environment name '{name}': use letters, digits, '_' and '-' (at most 64)"),
            );
        }
        let Some(table) = value.as_table() else {
            self.problem(at, None, "expected a table of settings");
            return None;
        };
        let before = self.problems.len();

        let driver = match self.string(at, table, "driver") {
            None if !table.contains_key("driver") => {
                self.problem(
                    at,
                    Some("driver"),
                    format!("required: one of {}", registry::driver_names().join(", ")),
                );
                None
            }
            None => None,
            Some(driver) => match registry::find_driver(&driver) {
                Some(found) => Some(found),
                None => {
                    self.problem(
                        at,
                        Some("driver"),
                        format!(
                            "unknown driver '{driver}'; registered drivers: {}",
                            registry::driver_names().join(", ")
                        ),
                    );
                    None
                }
            },
        };

        let description =
            self.string(at, table, "description").and_then(|d| self.expanded(at, "description", &d));
        let enabled = self.boolean(at, table, "enabled").unwrap_or(true);
        let mut limits = defaults.limits.clone();
        self.limits(at, table, &mut limits);
        let pool = self.pool(at, table.get("pool"), &defaults.pool);
        let password = self.password(at, table);
        let password_command = self.password_command(at, table);
        let ssh = self.ssh(at, table.get("ssh"));

        let mut settings = std::collections::BTreeMap::new();
        for (key, value) in table {
            if ENVIRONMENT_KEYS.contains(&key.as_str()) {
                continue;
            }
            if let Some(driver) = driver
                && !driver.settings_keys().contains(&key.as_str())
            {
                let known: Vec<&str> =
                    ENVIRONMENT_KEYS.iter().chain(driver.settings_keys()).copied().collect();
                self.problem(at, Some(key), unknown_key_message(key, &known));
                continue;
            }
            if let Some(value) = self.expand_value(at, key, value) {
                settings.insert(key.clone(), value);
            }
        }
        let settings = DriverSettings::new(settings);
        if let Some(driver) = driver
            && let Err(problems) = driver.validate(&settings)
        {
            for problem in problems {
                let key = problem.key.clone();
                self.problem(at, key.as_deref(), problem.message);
            }
        }

        if self.problems.len() > before || !valid_name {
            return None;
        }
        let config = EnvironmentConfig {
            name: name.to_owned(),
            driver: driver?.name().to_owned(),
            description,
            enabled,
            read_only: limits.read_only,
            max_rows: limits.max_rows,
            query_timeout: limits.query_timeout,
            max_statement_bytes: limits.max_statement_bytes,
            max_result_bytes: limits.max_result_bytes,
            side_effect_functions: limits.side_effect_functions,
            lazy: limits.lazy,
            pool,
            password,
            password_command,
            settings,
            base_dir: self.base_dir.to_path_buf(),
            ssh,
            connect_address: None,
        };
        if config.ssh.is_some() && driver?.server_address(&config).is_none() {
            self.problem(
                at,
                Some("ssh"),
                format!(
                    "the {} driver does not connect to a host and port here, so there is nothing to tunnel",
                    config.driver
                ),
            );
            return None;
        }
        Some(config)
    }

    /// The environment's password from whichever single source it names. An
    /// empty password means none (legacy files write `password = ""`).
    fn password(&mut self, at: &At<'_>, table: &Table) -> Option<SecretString> {
        self.password_source(at, table).filter(|password| !password.expose_secret().is_empty())
    }

    fn password_source(&mut self, at: &At<'_>, table: &Table) -> Option<SecretString> {
        let given: Vec<&str> = PASSWORD_KEYS.iter().copied().filter(|k| table.contains_key(*k)).collect();
        if given.len() > 1 {
            self.problem(
                at,
                Some(given[1]),
                format!("give the password one way only; found {}", given.join(" and ")),
            );
            return None;
        }
        match given.first().copied() {
            Some("password") => {
                let raw = self.string(at, table, "password")?;
                self.expanded(at, "password", &raw).map(SecretString::from)
            }
            Some("password_env") => {
                let var = self.string(at, table, "password_env")?;
                match (self.lookup_var)(&var) {
                    Some(value) => Some(SecretString::from(value)),
                    None => {
                        self.problem(
                            at,
                            Some("password_env"),
                            format!("environment variable {var} is not set"),
                        );
                        None
                    }
                }
            }
            Some("password_command") => None,
            Some(_) => {
                let raw = self.string(at, table, "password_file")?;
                let file = self.expanded(at, "password_file", &raw)?;
                match read_secret_file(&self.resolve(Path::new(&file))) {
                    Ok(secret) => Some(SecretString::from(secret)),
                    Err(message) => {
                        self.problem(at, Some("password_file"), message);
                        None
                    }
                }
            }
            None => None,
        }
    }

    /// `password_command = ["program", "arg", …]`, run when the environment
    /// connects (see `password_command.rs`), and its timeout.
    fn password_command(&mut self, at: &At<'_>, table: &Table) -> Option<PasswordCommand> {
        let timeout = self
            .integer(at, table, "password_command_timeout_secs", 1..=300)
            .map_or(DEFAULT_PASSWORD_COMMAND_TIMEOUT, |n| Duration::from_secs(n as u64));
        let refresh = self
            .integer(at, table, "password_command_refresh_secs", 1..=86_400)
            .map(|n| Duration::from_secs(n as u64));
        if !table.contains_key("password_command") {
            for key in ["password_command_timeout_secs", "password_command_refresh_secs"] {
                if table.contains_key(key) {
                    self.problem(at, Some(key), "only used with password_command");
                }
            }
            return None;
        }
        let words = self.strings(at, table, "password_command")?;
        let mut expanded = Vec::with_capacity(words.len());
        for word in &words {
            expanded.push(self.expanded(at, "password_command", word)?);
        }
        let Some((program, args)) = expanded.split_first().filter(|(program, _)| !program.is_empty()) else {
            self.problem(
                at,
                Some("password_command"),
                "expected the program and its arguments, such as [\"aws\", \"rds\", \"generate-db-auth-token\", …]",
            );
            return None;
        };
        Some(PasswordCommand { program: program.clone(), args: args.to_vec(), timeout, refresh })
    }

    /// A driver setting with `${VAR}` expanded in every string inside it.
    fn expand_value(&mut self, at: &At<'_>, key: &str, value: &toml::Value) -> Option<toml::Value> {
        match value {
            toml::Value::String(s) => self.expanded(at, key, s).map(toml::Value::String),
            toml::Value::Array(items) => {
                let items: Vec<_> = items.iter().map(|item| self.expand_value(at, key, item)).collect();
                items.into_iter().collect::<Option<Vec<_>>>().map(toml::Value::Array)
            }
            toml::Value::Table(table) => {
                let mut out = Table::new();
                for (k, v) in table {
                    out.insert(k.clone(), self.expand_value(at, key, v)?);
                }
                Some(toml::Value::Table(out))
            }
            other => Some(other.clone()),
        }
    }

    pub(super) fn expanded(&mut self, at: &At<'_>, key: &str, text: &str) -> Option<String> {
        match expand(text, self.lookup_var) {
            Ok(value) => Some(value),
            Err(err @ (ExpandError::Unset(_) | ExpandError::Unterminated | ExpandError::BadName(_))) => {
                self.problem(at, Some(key), err.to_string());
                None
            }
        }
    }

    pub(super) fn table<'v>(
        &mut self,
        at: &At<'_>,
        key: &str,
        value: Option<&'v toml::Value>,
    ) -> Option<&'v Table> {
        match value {
            None => None,
            Some(toml::Value::Table(table)) => Some(table),
            Some(other) => {
                self.problem(at, Some(key), format!("expected a table, found {}", other.type_str()));
                None
            }
        }
    }

    pub(super) fn string(&mut self, at: &At<'_>, table: &Table, key: &str) -> Option<String> {
        match table.get(key)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.problem(at, Some(key), format!("expected a string, found {}", other.type_str()));
                None
            }
        }
    }

    pub(super) fn strings(&mut self, at: &At<'_>, table: &Table, key: &str) -> Option<Vec<String>> {
        let found = table.get(key)?;
        let strings = found.as_array().and_then(|items| {
            items.iter().map(|item| item.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
        });
        if strings.is_none() {
            self.problem(at, Some(key), format!("expected a list of strings, found {}", found.type_str()));
        }
        strings
    }

    pub(super) fn boolean(&mut self, at: &At<'_>, table: &Table, key: &str) -> Option<bool> {
        match table.get(key)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                self.problem(at, Some(key), format!("expected true or false, found {}", other.type_str()));
                None
            }
        }
    }

    pub(super) fn integer(
        &mut self,
        at: &At<'_>,
        table: &Table,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        match table.get(key)? {
            toml::Value::Integer(i) if range.contains(i) => Some(*i),
            toml::Value::Integer(i) => {
                self.problem(
                    at,
                    Some(key),
                    format!("{i} is out of range ({}..={})", range.start(), range.end()),
                );
                None
            }
            other => {
                self.problem(at, Some(key), format!("expected an integer, found {}", other.type_str()));
                None
            }
        }
    }
}

/// A secret kept in a file (`password_file`, `key_passphrase_file`,
/// `token_file`): its content without the trailing line break, or why it
/// cannot be read.
pub(super) fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|content| content.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|err| format!("cannot read {}: {}", path.display(), err.kind()))
}

fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min();
    match closest {
        Some((_, suggestion)) => format!("unknown key (did you mean '{suggestion}'?)"),
        None => format!("unknown key; expected one of: {}", known.join(", ")),
    }
}
