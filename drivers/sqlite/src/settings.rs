//! The SQLite settings of an environment.

use std::path::PathBuf;
use std::time::Duration;

use dbfleet_core::driver_api::{ConfigProblem, DriverSettings, EnvironmentConfig, SettingsReader};

pub const KEYS: &[&str] = &["path", "url", "mode", "init_script", "busy_timeout_ms"];

const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// How the database file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    /// The file must exist.
    ReadWrite,
    /// The file is created, and seeded with `init_script`, when missing.
    Create,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Memory,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct SqliteSettings {
    pub location: Location,
    pub mode: Mode,
    pub init_script: Option<PathBuf>,
    pub busy_timeout: Duration,
}

impl SqliteSettings {
    /// Reads validated settings; relative paths resolve against the config file.
    pub fn from_env(env: &EnvironmentConfig) -> Result<Self, Vec<ConfigProblem>> {
        let parsed = parse(&env.settings)?;
        Ok(SqliteSettings {
            location: match parsed.location {
                RawLocation::Memory => Location::Memory,
                RawLocation::File(path) => Location::File(env.resolve_path(&path)),
            },
            mode: parsed.mode,
            init_script: parsed.init_script.map(|p| env.resolve_path(&p)),
            busy_timeout: parsed.busy_timeout,
        })
    }
}

enum RawLocation {
    Memory,
    File(String),
}

struct Parsed {
    location: RawLocation,
    mode: Mode,
    init_script: Option<String>,
    busy_timeout: Duration,
}

/// Checks every setting and reports every problem, each naming its key.
pub fn validate(settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
    parse(settings).map(|_| ())
}

fn parse(settings: &DriverSettings) -> Result<Parsed, Vec<ConfigProblem>> {
    let mut r = SettingsReader::new(settings);
    let path = r.string("path");
    let url = r.string("url");
    let mode = match r.one_of("mode", &["read_only", "read_write", "create"]) {
        Some("read_only") => Mode::ReadOnly,
        Some("create") => Mode::Create,
        _ => Mode::ReadWrite,
    };
    let init_script = r.string("init_script").map(str::to_owned);
    let busy_timeout = r
        .integer("busy_timeout_ms", 0..=3_600_000)
        .map_or(DEFAULT_BUSY_TIMEOUT, |ms| Duration::from_millis(ms as u64));

    let location = match (path, url) {
        (Some(_), Some(_)) => {
            r.problem("url", "set either 'path' or 'url', not both");
            None
        }
        (None, None) if !r.contains("path") && !r.contains("url") => {
            r.problem("path", "required: the database file (or set 'url')");
            None
        }
        (Some(path), None) => Some(location_of_path(path)),
        (None, Some(url)) => location_of_url(url).map_err(|message| r.problem("url", message)).ok(),
        (None, None) => None,
    };
    if init_script.is_some() && mode != Mode::Create {
        r.problem("init_script", "only runs when a database is created: set mode = \"create\"");
    }
    r.finish()?;
    // Every way of ending without a location recorded a problem.
    let location = location.ok_or_else(|| vec![ConfigProblem::key("path", "required: the database file")])?;
    Ok(Parsed { location, mode, init_script, busy_timeout })
}

fn location_of_path(path: &str) -> RawLocation {
    if path == ":memory:" { RawLocation::Memory } else { RawLocation::File(path.to_owned()) }
}

/// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:`.
fn location_of_url(url: &str) -> Result<RawLocation, &'static str> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(RawLocation::Memory);
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(RawLocation::File(path.to_owned())),
        _ => Err("expected sqlite://relative/path.db, sqlite:///absolute/path.db or sqlite::memory:"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dbfleet_core::toml;

    use super::*;

    fn settings(pairs: &[(&str, toml::Value)]) -> DriverSettings {
        DriverSettings::new(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>())
    }

    fn keys(problems: Vec<ConfigProblem>) -> Vec<String> {
        problems.into_iter().filter_map(|p| p.key).collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let s = |v: &str| toml::Value::String(v.into());
        assert_eq!(keys(validate(&settings(&[])).unwrap_err()), ["path"]);
        assert_eq!(
            keys(validate(&settings(&[("path", s("a")), ("url", s("sqlite://b"))])).unwrap_err()),
            ["url"]
        );
        assert_eq!(
            keys(
                validate(&settings(&[("path", s("a")), ("mode", s("rw")), ("init_script", s("x.sql"))]))
                    .unwrap_err()
            ),
            ["mode", "init_script"]
        );
        assert_eq!(keys(validate(&settings(&[("url", s("postgres://x"))])).unwrap_err()), ["url"]);
        assert_eq!(
            keys(
                validate(&settings(&[("path", toml::Value::Integer(3)), ("busy_timeout_ms", s("x"))]))
                    .unwrap_err()
            ),
            ["path", "busy_timeout_ms"]
        );
    }

    #[test]
    fn urls_and_paths() {
        let s = |v: &str| toml::Value::String(v.into());
        assert!(matches!(
            parse(&settings(&[("url", s("sqlite::memory:"))])).ok().unwrap().location,
            RawLocation::Memory
        ));
        assert!(matches!(
            parse(&settings(&[("path", s(":memory:"))])).ok().unwrap().location,
            RawLocation::Memory
        ));
        match parse(&settings(&[("url", s("sqlite:///tmp/x.db"))])).ok().unwrap().location {
            RawLocation::File(path) => assert_eq!(path, "/tmp/x.db"),
            RawLocation::Memory => panic!(),
        }
        assert!(
            validate(&settings(&[("path", s("a.db")), ("mode", s("create")), ("init_script", s("s.sql"))]))
                .is_ok()
        );
    }
}
