//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dbfleet",
    version,
    about = "Work with a whole fleet of databases: query, compare, inspect."
)]
pub struct Cli {
    /// Configuration file (default: $DBFLEET_CONFIG, then ./dbfleet.toml).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log filter for stderr, e.g. `info` or `dbfleet_core=debug` (default: $RUST_LOG, else `warn`).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the environments to MCP clients (stdio, or streamable HTTP at /mcp).
    Serve(ServeArgs),
    /// List the drivers linked into this binary.
    Drivers,
    /// Validate the configuration and test every environment.
    Check,
    /// List the configured environments (no connections are made).
    Envs,
    /// Run one SQL statement on one environment, or on several and compare.
    Query(QueryArgs),
    /// Compare table definitions across environments.
    DiffSchema(DiffSchemaArgs),
    /// Compare the rows of a table (or a query) across environments, at any size.
    DiffData(DiffDataArgs),
    /// List the databases and schemas of one environment, or of several.
    Databases(ListArgs),
    /// List the tables and views of one environment, or of several.
    Tables(TablesArgs),
    /// Describe a table or view: columns, primary key, indexes, foreign keys.
    Describe(DescribeArgs),
    /// Print the completion script for a shell (`dbfleet completions bash > /etc/bash_completion.d/dbfleet`).
    Completions(CompletionsArgs),
    /// Print the manual page, in roff (`dbfleet man > dbfleet.1`).
    Man,
    /// Ask a running HTTP server whether it serves: exit 0 when the URL
    /// answers 200 (a container's health check, where there is no curl).
    Ping(PingArgs),
}

#[derive(Debug, clap::Args)]
pub struct PingArgs {
    /// `/health` answers 200 while the process serves; `/ready` only once
    /// every environment had its first connection attempt, and not while
    /// the server drains.
    #[arg(default_value = "http://127.0.0.1:8080/health")]
    pub url: String,

    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub timeout_secs: u64,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Environment (default: the configured default environment); repeat it
    /// for several.
    #[arg(long = "env", short = 'e', value_name = "ENV")]
    pub environments: Vec<String>,

    /// Every enabled environment.
    #[arg(long, conflicts_with = "environments")]
    pub all: bool,

    /// Output format: table (readable) or json.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    #[command(flatten)]
    pub list: ListArgs,

    /// Only this schema.
    #[arg(long, value_name = "SCHEMA")]
    pub schema: Option<String>,

    /// Only names matching this SQL LIKE pattern (case-insensitive), e.g. `ord%`.
    #[arg(long, value_name = "PATTERN")]
    pub pattern: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// Environment (default: the configured default environment).
    #[arg(long = "env", short = 'e', value_name = "ENV")]
    pub environment: Option<String>,

    /// The table or view.
    pub table: String,

    /// Its schema (default: the environment's own).
    #[arg(long, value_name = "SCHEMA")]
    pub schema: Option<String>,

    /// Output format: table (readable) or json.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Transport (default: [server] transport, else stdio).
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,

    /// Address for the HTTP transport (default: [server] listen, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// With the stdio transport, also serve Prometheus metrics at
    /// http://ADDR/metrics (behind [server] auth_token_env when set). The
    /// HTTP transport serves them at /metrics on its own address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    Stdio,
    Http,
}

#[derive(Debug, clap::Args)]
pub struct DiffSchemaArgs {
    /// Environments to compare (at least two; default: every enabled one).
    #[arg(long = "env", short = 'e', value_name = "ENV")]
    pub environments: Vec<String>,

    /// Compare only this table.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,

    /// Output format: table (readable) or json.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct DiffDataArgs {
    /// Environments to compare (at least two).
    #[arg(long = "env", short = 'e', value_name = "ENV", required = true)]
    pub environments: Vec<String>,

    /// The table to compare.
    #[arg(long, value_name = "TABLE", required_unless_present = "query", conflicts_with = "query")]
    pub table: Option<String>,

    /// The table's schema (default: the connection's own).
    #[arg(long, value_name = "SCHEMA", requires = "table")]
    pub schema: Option<String>,

    /// Compare the rows of this SELECT instead of a table (needs --key).
    #[arg(long, value_name = "SQL", requires = "key_columns")]
    pub query: Option<String>,

    /// A column that identifies a row; repeat it for a composite key
    /// (default: the table's primary key).
    #[arg(long = "key", short = 'k', value_name = "COLUMN")]
    pub key_columns: Vec<String>,

    /// A column to compare besides the keys; repeat it (default: every column).
    #[arg(long = "column", value_name = "COLUMN")]
    pub columns: Vec<String>,

    /// Compare only the rows meeting this SQL condition.
    #[arg(long = "where", value_name = "CONDITION")]
    pub filter: Option<String>,

    /// bisect: checksum key ranges in the engines and read only those that
    /// differ; merge: stream every row in key order; auto: bisect where every
    /// engine can checksum the columns.
    #[arg(long, value_enum, default_value_t = DiffMethodArg::Auto)]
    pub method: DiffMethodArg,

    /// After a bisection, checksum the whole table again on every environment
    /// to rule out changes made while it ran.
    #[arg(long)]
    pub verify: bool,

    /// How many differences to list; all are counted.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_differences: usize,

    /// Output format: table (readable) or json.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffMethodArg {
    Auto,
    Bisect,
    Merge,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Environment to run on (default: the configured default environment);
    /// repeat it to run on several at once.
    #[arg(long = "env", short = 'e', value_name = "ENV")]
    pub environments: Vec<String>,

    /// Run on every enabled environment.
    #[arg(long, conflicts_with = "environments")]
    pub all: bool,

    /// With several environments: compare their results and print what differs.
    #[arg(long)]
    pub compare: bool,

    /// Column that identifies a row when comparing (repeat for a composite key);
    /// without one, rows compare as multisets.
    #[arg(long = "key", value_name = "COLUMN", requires = "compare")]
    pub keys: Vec<String>,

    /// How many row differences to list (all are counted).
    #[arg(long, value_name = "N", default_value_t = dbfleet_core::compare::DEFAULT_MAX_DIFFERENCES)]
    pub max_differences: usize,

    /// Output format. ndjson and csv stream rows as they arrive; on several
    /// environments ndjson tags every line with its environment.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Row limit (default and cap: the environment's max_rows).
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,

    /// Positional parameters as a JSON array, e.g. '[42, "shipped"]'.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,

    /// The SQL statement.
    pub sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document with columns, rows and metadata.
    Json,
    /// One JSON object per row, streamed.
    Ndjson,
    /// CSV with a header line, streamed.
    Csv,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap checks a command's definition (unique short options, valid
    /// references between arguments) only when it is used: check them all.
    #[test]
    fn every_command_is_well_formed() {
        Cli::command().debug_assert();
    }
}
