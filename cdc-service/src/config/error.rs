//! [`ConfigError`] and [`ConfigErrors`]: every problem of one configuration, by key. Messages
//! quote the offending value, except for secrets, whose values never appear.

use std::fmt;

/// One invalid or missing setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable name (also when the value came from the file).
    pub key: String,
    /// What is wrong, e.g. "missing" or "`abc` is not a port number (1-65535)".
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in one configuration, in key order. `Display` joins them with `; `.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub(super) fn push(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(ConfigError { key: key.to_owned(), message: message.into() });
    }

    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
