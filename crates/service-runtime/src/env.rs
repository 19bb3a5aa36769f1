//! Typed configuration from environment variables. Each reader returns an
//! error naming the variable and what was expected, so a bad deployment fails
//! at start with a message an operator can act on.
//!
//! Any variable `NAME` may instead be given as `NAME_FILE`, the path of a file
//! holding the value (one trailing newline is dropped): the usual way to pass
//! secrets mounted from Kubernetes Secrets or Docker secrets, which then never
//! sit in the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// A variable that is set but unusable, or required and missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// An error about `name`.
    pub fn new(name: &str, problem: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Where variables are read from: the process environment, or a map in tests.
pub trait Source {
    /// The value of `name`, if set and not empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<S: std::hash::BuildHasher> Source for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name)
            .filter(|v| !v.is_empty())
            .cloned()
    }
}

/// Typed reads from a [`Source`].
#[derive(Debug, Clone)]
pub struct Env<S = ProcessEnv> {
    source: S,
}

impl Env<ProcessEnv> {
    /// Reads the process environment.
    pub fn process() -> Self {
        Self { source: ProcessEnv }
    }
}

impl<S: Source> Env<S> {
    /// Reads `source`.
    pub fn from_source(source: S) -> Self {
        Self { source }
    }

    /// `name`, or else the content of the file named by `name_FILE`.
    ///
    /// # Panics
    /// If `name_FILE` is set but cannot be read: a start-up error that names
    /// the variable and the file.
    fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = self.source.get(name) {
            return Some(value);
        }
        let file_variable = format!("{name}_FILE");
        let path = self.source.get(&file_variable)?;
        match std::fs::read_to_string(&path) {
            Ok(content) => {
                let value = content
                    .strip_suffix('\n')
                    .map(|v| v.strip_suffix('\r').unwrap_or(v))
                    .unwrap_or(&content);
                (!value.is_empty()).then(|| value.to_owned())
            }
            Err(e) => panic!("invalid configuration: {file_variable}: cannot read {path}: {e}"),
        }
    }

    /// A string, or `default`.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A string that may be unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
    }

    /// A string that must be set.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "is required"))
    }

    /// A secret, or `default`; never printed by `Debug`.
    pub fn secret(&self, name: &str, default: &str) -> SecretString {
        SecretString::from(self.string(name, default))
    }

    /// Any value that parses with `FromStr`, or `default`.
    pub fn parse<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("cannot parse {raw:?}: {e}"))),
        }
    }

    /// A socket address such as `127.0.0.1:50051`.
    pub fn socket_addr(&self, name: &str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = self.string(name, default);
        raw.parse().map_err(|_| {
            ConfigError::new(
                name,
                format!("{raw:?} is not an address like 127.0.0.1:8080"),
            )
        })
    }

    /// A whole number within `range`.
    pub fn number<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let value = self.parse(name, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                name,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    /// A duration in whole seconds within `range` (in seconds).
    pub fn seconds(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_secs)
    }

    /// A duration in milliseconds within `range` (in milliseconds).
    pub fn millis(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_millis)
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("{v:?} is not true or false"),
            )),
        }
    }

    /// A file-system path, or `default`.
    pub fn path(&self, name: &str, default: &str) -> PathBuf {
        PathBuf::from(self.string(name, default))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<HashMap<String, String>> {
        Env::from_source(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn unset_and_empty_variables_take_the_default() {
        let env = env(&[("EMPTY", "")]);
        assert_eq!(env.number("UNSET", 7u32, 1..=10), Ok(7));
        assert_eq!(env.number("EMPTY", 7u32, 1..=10), Ok(7));
    }

    #[test]
    fn errors_name_the_variable() {
        let env = env(&[("PORT", "eighty"), ("COST", "4"), ("ADDR", "nowhere")]);
        assert_eq!(env.number("PORT", 1u16, 1..=9).unwrap_err().name, "PORT");
        let error = env.number("COST", 12u32, 10..=16).unwrap_err();
        assert!(error.to_string().contains("COST"), "{error}");
        assert_eq!(
            env.socket_addr("ADDR", "127.0.0.1:1").unwrap_err().name,
            "ADDR"
        );
        assert_eq!(env.required("MISSING").unwrap_err().name, "MISSING");
    }

    #[test]
    fn a_value_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "postgresql://db/auth\n").unwrap();
        let path = path.to_str().unwrap();
        let env = env(&[("DB_FILE", path), ("BOTH", "direct"), ("BOTH_FILE", path)]);
        assert_eq!(env.optional("DB").as_deref(), Some("postgresql://db/auth"));
        // A required one too (it did not: a client secret had to sit in the
        // environment).
        assert_eq!(env.required("DB").as_deref(), Ok("postgresql://db/auth"));
        // The variable itself wins over its file.
        assert_eq!(env.string("BOTH", ""), "direct");
        assert_eq!(env.optional("NEITHER"), None);
    }

    #[test]
    #[should_panic(expected = "DB_FILE: cannot read /nonexistent/secret")]
    fn an_unreadable_file_stops_the_start() {
        env(&[("DB_FILE", "/nonexistent/secret")]).optional("DB");
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        let env = env(&[("A", "yes"), ("B", "0"), ("C", "maybe")]);
        assert_eq!(env.flag("A", false), Ok(true));
        assert_eq!(env.flag("B", true), Ok(false));
        assert!(env.flag("C", true).is_err());
    }
}
