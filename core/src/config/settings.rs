//! Driver-specific settings of one environment.

use std::collections::BTreeMap;

use super::ConfigProblem;
use crate::error::DbError;
use crate::redact;

/// The keys of an environment's table that core does not interpret itself
/// (`url`, `host`, `port`, `path`, `mode`, …), handed to its driver.
///
/// `Debug` redacts the password of any URL-like value, so that a settings dump
/// in a log line never shows a secret.
#[derive(Clone, Default, PartialEq)]
pub struct DriverSettings {
    values: BTreeMap<String, toml::Value>,
}

impl DriverSettings {
    pub fn new(values: BTreeMap<String, toml::Value>) -> Self {
        DriverSettings { values }
    }

    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        self.values.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// A string setting; a value of another type is a problem.
    pub fn str(&self, key: &str) -> Result<Option<&str>, ConfigProblem> {
        match self.values.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(key, "a string", other)),
        }
    }

    /// An integer setting within `range`.
    pub fn integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ConfigProblem> {
        match self.values.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if range.contains(i) => Ok(Some(*i)),
            Some(toml::Value::Integer(i)) => Err(ConfigProblem::key(
                key,
                format!("{i} is out of range ({}..={})", range.start(), range.end()),
            )),
            Some(other) => Err(wrong_type(key, "an integer", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigProblem> {
        match self.values.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(key, "true or false", other)),
        }
    }
}

/// Reads a driver's settings into its typed form, in one pass that reports
/// every problem at once. Each getter reads one key; a value of the wrong
/// type, out of range or not among the choices becomes a problem kept by the
/// reader, and the getter answers `None`. A driver's one `read` function
/// asks for its keys, checks what spans several keys with
/// [`SettingsReader::problem`], and builds its settings after
/// [`SettingsReader::finish`]; validating and connecting both go through it.
pub struct SettingsReader<'a> {
    settings: &'a DriverSettings,
    problems: Vec<ConfigProblem>,
}

impl<'a> SettingsReader<'a> {
    pub fn new(settings: &'a DriverSettings) -> Self {
        SettingsReader { settings, problems: Vec::new() }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.settings.contains(key)
    }

    pub fn string(&mut self, key: &str) -> Option<&'a str> {
        let read = self.settings.str(key);
        self.keep(read)
    }

    pub fn integer(&mut self, key: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let read = self.settings.integer(key, range);
        self.keep(read)
    }

    /// A TCP port, 1 to 65535.
    pub fn port(&mut self, key: &str) -> Option<u16> {
        self.integer(key, 1..=65535).and_then(|port| u16::try_from(port).ok())
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        let read = self.settings.bool(key);
        self.keep(read)
    }

    /// A string that must be one of `choices`.
    pub fn one_of(&mut self, key: &str, choices: &[&str]) -> Option<&'a str> {
        let value = self.string(key)?;
        if choices.contains(&value) {
            return Some(value);
        }
        self.problem(key, format!("'{value}' is not one of {}", choices.join(", ")));
        None
    }

    /// A problem the getters cannot see: a rule across keys, a value that
    /// does not parse.
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem::key(key, message));
    }

    /// Every problem found, or none.
    pub fn finish(self) -> Result<(), Vec<ConfigProblem>> {
        if self.problems.is_empty() { Ok(()) } else { Err(self.problems) }
    }

    fn keep<T>(&mut self, read: Result<Option<T>, ConfigProblem>) -> Option<T> {
        read.unwrap_or_else(|problem| {
            self.problems.push(problem);
            None
        })
    }
}

/// The error of settings that do not read when connecting. They passed
/// validation when the file was loaded, so this happens only to a
/// configuration built by hand; the error names every problem.
pub fn invalid_settings(problems: Vec<ConfigProblem>) -> DbError {
    let reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
    DbError::invalid_argument(format!("invalid settings: {}", reasons.join("; ")))
}

fn wrong_type(key: &str, expected: &str, found: &toml::Value) -> ConfigProblem {
    ConfigProblem::key(key, format!("expected {expected}, found {}", found.type_str()))
}

impl std::fmt::Debug for DriverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.values {
            match value {
                toml::Value::String(s) => map.entry(key, &redact::url(s)),
                other => map.entry(key, other),
            };
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> DriverSettings {
        let table: toml::Table = toml_text.parse().unwrap();
        DriverSettings::new(table.into_iter().collect())
    }

    #[test]
    fn a_reader_collects_every_problem_and_answers_none_for_each() {
        let settings = settings("host = 5\nport = 70000\nmode = \"fast\"\ntls = \"yes\"\nname = \"db\"");
        let mut reader = SettingsReader::new(&settings);
        assert_eq!(reader.string("host"), None);
        assert_eq!(reader.port("port"), None);
        assert_eq!(reader.one_of("mode", &["safe", "careful"]), None);
        assert_eq!(reader.bool("tls"), None);
        assert_eq!(reader.string("name"), Some("db"));
        assert_eq!(reader.string("absent"), None);
        reader.problem("name", "too short");
        let problems = reader.finish().unwrap_err();
        let keys: Vec<&str> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
        assert_eq!(keys, ["host", "port", "mode", "tls", "name"]);
        assert!(problems[0].message.contains("expected a string, found integer"), "{}", problems[0]);
        assert!(problems[1].message.contains("out of range (1..=65535)"), "{}", problems[1]);
        assert!(problems[2].message.contains("'fast' is not one of safe, careful"), "{}", problems[2]);
    }

    #[test]
    fn a_reader_without_problems_finishes() {
        let settings = settings("port = 5432\nmode = \"safe\"\ntls = true");
        let mut reader = SettingsReader::new(&settings);
        assert_eq!(reader.port("port"), Some(5432));
        assert_eq!(reader.one_of("mode", &["safe"]), Some("safe"));
        assert_eq!(reader.bool("tls"), Some(true));
        assert!(reader.finish().is_ok());
    }
}
