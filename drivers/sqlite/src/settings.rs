//! The SQLite settings of an environment.

use std::path::PathBuf;
use std::time::Duration;

use dbfleet_core::driver_api::{ConfigProblem, DriverSettings, EnvironmentConfig};

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
    let mut problems = Vec::new();
    let mut take = |result: Result<Option<&str>, ConfigProblem>| match result {
        Ok(value) => value.map(str::to_owned),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let path = take(settings.str("path"));
    let url = take(settings.str("url"));
    let mode = take(settings.str("mode"));
    let init_script = take(settings.str("init_script"));

    let location = match (path, url) {
        (Some(_), Some(_)) => {
            problems.push(ConfigProblem::key("url", "set either 'path' or 'url', not both"));
            None
        }
        (None, None) if !settings.contains("path") && !settings.contains("url") => {
            problems.push(ConfigProblem::key("path", "required: the database file (or set 'url')"));
            None
        }
        (Some(path), None) => Some(location_of_path(&path)),
        (None, Some(url)) => match location_of_url(&url) {
            Ok(location) => Some(location),
            Err(problem) => {
                problems.push(problem);
                None
            }
        },
        (None, None) => None,
    };
    let mode = match mode.as_deref() {
        None | Some("read_write") => Mode::ReadWrite,
        Some("read_only") => Mode::ReadOnly,
        Some("create") => Mode::Create,
        Some(other) => {
            problems.push(ConfigProblem::key(
                "mode",
                format!("'{other}' is not one of read_only, read_write, create"),
            ));
            Mode::ReadWrite
        }
    };
    if init_script.is_some() && mode != Mode::Create {
        problems.push(ConfigProblem::key(
            "init_script",
            "only runs when a database is created: set mode = \"create\"",
        ));
    }
    let busy_timeout = match settings.integer("busy_timeout_ms", 0..=3_600_000) {
        Ok(ms) => ms.map_or(DEFAULT_BUSY_TIMEOUT, |ms| Duration::from_millis(ms as u64)),
        Err(problem) => {
            problems.push(problem);
            DEFAULT_BUSY_TIMEOUT
        }
    };
    match location {
        Some(location) if problems.is_empty() => Ok(Parsed { location, mode, init_script, busy_timeout }),
        _ => Err(problems),
    }
}

fn location_of_path(path: &str) -> RawLocation {
    if path == ":memory:" { RawLocation::Memory } else { RawLocation::File(path.to_owned()) }
}

/// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:`.
fn location_of_url(url: &str) -> Result<RawLocation, ConfigProblem> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(RawLocation::Memory);
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(RawLocation::File(path.to_owned())),
        _ => Err(ConfigProblem::key(
            "url",
            "expected sqlite://relative/path.db, sqlite:///absolute/path.db or sqlite::memory:",
        )),
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
