//! Configuration: the typed form of the TOML file (see `load` for the parser
//! and validation).

mod alerts;
mod expand;
mod load;
mod locate;
mod password_command;
mod settings;
mod ssh;
mod telemetry;
mod tokens;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use alerts::AlertsConfig;
pub use load::{ConfigError, find_config_path, load_config, load_config_str};
pub use password_command::{DEFAULT_PASSWORD_COMMAND_TIMEOUT, PasswordCommand};
pub use settings::{DriverSettings, SettingsReader, invalid_settings};
pub use ssh::{DEFAULT_SSH_KEEPALIVE, JumpHost, SshConfig};
pub use telemetry::TelemetryConfig;
pub use tools::{BUILT_IN_TOOLS, ParameterKind, TOOL_CALL_ARGUMENTS, ToolConfig, ToolParameter};

/// The whole configuration file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_environment: Option<String>,
    pub server: ServerConfig,
    /// Environments in the order the file lists them.
    pub environments: Vec<EnvironmentConfig>,
    /// `[tools.NAME]`, in file order.
    pub tools: Vec<ToolConfig>,
    /// `[audit]`: the statement log, when configured.
    pub audit: Option<AuditConfig>,
    /// `[alerts]`: where health changes are posted, when configured.
    pub alerts: Option<AlertsConfig>,
    /// `[telemetry]`: where traces are exported, when configured.
    pub telemetry: Option<TelemetryConfig>,
    /// The file the configuration came from, when it came from a file.
    pub source: Option<PathBuf>,
}

impl Config {
    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.iter().find(|env| env.name == name)
    }
}

/// Where the audit log goes, and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub destination: AuditDestination,
    /// Statements as given, literal values included (default: masked).
    pub include_literals: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDestination {
    Stderr,
    /// A file, rotated when it passes `max_bytes`, keeping `max_files` old ones.
    File {
        path: PathBuf,
        max_bytes: u64,
        max_files: usize,
    },
}

pub const DEFAULT_AUDIT_MAX_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_AUDIT_MAX_FILES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub transport: Transport,
    pub listen: String,
    /// Name of the environment variable holding the HTTP bearer token.
    pub auth_token_env: Option<String>,
    /// Browser origins (`https://console.example.com`) allowed besides the
    /// local ones; a request from any other origin is refused.
    pub allowed_origins: Vec<String>,
    /// MCP sessions open at once over HTTP; an `initialize` beyond is refused.
    pub max_sessions: usize,
    /// The tools clients see (built-in and configured), when not all of them.
    pub tools: Option<Vec<String>>,
    /// `[[server.tokens]]`: named bearer tokens, each with what it reaches.
    pub tokens: Vec<TokenConfig>,
    /// Reload the configuration when its file changes (SIGHUP always does).
    pub watch_config: bool,
    /// Environments one fan-out works on at once; the others wait their turn.
    pub max_parallel: usize,
    /// HTTP without sessions: each request stands alone, so replicas behind
    /// a round-robin balancer answer any of them. Nothing reaches a client
    /// outside a response (no `tools/list_changed`, no log messages).
    pub stateless: bool,
    /// On SIGTERM, how long `/ready` answers 503 while requests are still
    /// served, so that a balancer stops sending new ones before the
    /// listener closes.
    pub drain: Duration,
    /// The web console at `/ui`: `None` serves it when listening on
    /// loopback only.
    pub ui: Option<bool>,
}

pub const DEFAULT_MAX_PARALLEL: usize = 32;

/// A bearer token of the HTTP transport: its name (the audit log's
/// `client`), its secret, and the environments and tools it may use.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub name: String,
    pub secret: SecretString,
    /// Every environment when `None`.
    pub environments: Option<Vec<String>>,
    /// Every tool the server lists when `None`.
    pub tools: Option<Vec<String>>,
}

pub const DEFAULT_MAX_SESSIONS: usize = 100;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            transport: Transport::Stdio,
            listen: "127.0.0.1:8080".into(),
            auth_token_env: None,
            allowed_origins: Vec::new(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            tools: None,
            tokens: Vec::new(),
            watch_config: true,
            max_parallel: DEFAULT_MAX_PARALLEL,
            stateless: false,
            drain: Duration::ZERO,
            ui: None,
        }
    }
}

/// One named environment, with `[defaults]` already applied.
#[derive(Debug, Clone)]
pub struct EnvironmentConfig {
    pub name: String,
    /// The driver's canonical name (an alias in the file is resolved).
    pub driver: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub read_only: bool,
    pub max_rows: u64,
    pub query_timeout: Duration,
    /// Longer statements are refused before they are parsed.
    pub max_statement_bytes: usize,
    /// A result stops before its rows' JSON form passes this size.
    pub max_result_bytes: u64,
    /// Functions with side effects beyond those the driver knows, refused on
    /// a read-only environment (`purge`, `app.purge`, `purge_*`).
    pub side_effect_functions: Vec<String>,
    /// Connect at the first call that needs it, not at start-up.
    pub lazy: bool,
    pub pool: PoolConfig,
    /// This environment's password, from `password`, `password_env` or
    /// `password_file`. Handed only to this environment's driver.
    pub password: Option<SecretString>,
    /// Gives the password each time the environment connects, when set
    /// (`password` is then filled in for the driver, and only for it).
    pub password_command: Option<PasswordCommand>,
    /// Driver-specific keys (`url`, `host`, `path`, …), `${VAR}` expanded.
    pub settings: DriverSettings,
    /// Directory that relative paths in the settings are resolved against
    /// (the config file's directory).
    pub base_dir: PathBuf,
    /// The SSH tunnel the environment is reached through, when it has one.
    pub ssh: Option<SshConfig>,
    /// Set by the fleet for each connection of an environment reached through
    /// an SSH tunnel: the tunnel's local end, to connect to in place of the
    /// host and port of the settings (where the tunnel leads). Drivers that
    /// connect over TCP must honour it.
    pub connect_address: Option<SocketAddr>,
}

impl EnvironmentConfig {
    /// Whether `other` makes the same environment: every setting equal,
    /// secrets included (a reload keeps such an environment as it is).
    pub fn same_as(&self, other: &EnvironmentConfig) -> bool {
        // Destructured, so that a field added later is compared too.
        let EnvironmentConfig {
            name,
            driver,
            description,
            enabled,
            read_only,
            max_rows,
            query_timeout,
            max_statement_bytes,
            max_result_bytes,
            side_effect_functions,
            lazy,
            pool,
            password,
            password_command,
            settings,
            base_dir,
            ssh,
            connect_address,
        } = self;
        *name == other.name
            && *driver == other.driver
            && *description == other.description
            && *enabled == other.enabled
            && *read_only == other.read_only
            && *max_rows == other.max_rows
            && *query_timeout == other.query_timeout
            && *max_statement_bytes == other.max_statement_bytes
            && *max_result_bytes == other.max_result_bytes
            && *side_effect_functions == other.side_effect_functions
            && *lazy == other.lazy
            && *pool == other.pool
            && same_secret(password, &other.password)
            && *password_command == other.password_command
            && *settings == other.settings
            && *base_dir == other.base_dir
            && *connect_address == other.connect_address
            && match (ssh, &other.ssh) {
                (Some(mine), Some(theirs)) => mine.same_as(theirs),
                (mine, theirs) => mine.is_none() && theirs.is_none(),
            }
    }

    /// Resolves a path setting relative to the config file's directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let path = PathBuf::from(path);
        if path.is_absolute() { path } else { self.base_dir.join(path) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout: Duration,
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 5,
            min_connections: 0,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(300)),
        }
    }
}

pub(crate) fn same_secret(a: &Option<SecretString>, b: &Option<SecretString>) -> bool {
    a.as_ref().map(ExposeSecret::expose_secret) == b.as_ref().map(ExposeSecret::expose_secret)
}

/// Defaults applied to every environment that does not set its own value.
pub const DEFAULT_MAX_ROWS: u64 = 1000;
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_READ_ONLY: bool = true;
pub const DEFAULT_MAX_STATEMENT_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 4 * 1024 * 1024;
/// The largest `max_statement_bytes` accepted.
pub const MAX_STATEMENT_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub environment: Option<String>,
    /// The key, dotted from the environment's table (`pool.max_connections`)
    /// or from the file's root when there is no environment.
    pub key: Option<String>,
    /// 1-based line and column in the file, where known.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigProblem { environment: None, key: None, location: None, message: message.into() }
    }

    /// A problem with one key; drivers report their settings problems this way.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem { key: Some(key.into()), ..ConfigProblem::new(message) }
    }

    pub fn in_env(mut self, environment: &str) -> Self {
        self.environment.get_or_insert_with(|| environment.to_owned());
        self
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(env) = &self.environment {
            write!(f, "environment '{env}': ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key '{key}': ")?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests;
