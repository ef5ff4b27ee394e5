//! Driver-specific settings of one environment.

use std::collections::BTreeMap;

use super::ConfigProblem;
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
