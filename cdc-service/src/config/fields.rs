//! [`Fields`]: reads one key at a time through its [`Key`] entry: the raw value or the entry's
//! default, checked against the entry's kind and range, a problem recorded (in the entry's
//! words, with the file it came from) instead of stopping. Every key read is noted, so a test
//! can prove that each table entry is actually parsed.
//!
//! Reading a key with a method that does not fit its [`Kind`] (or its [`DefaultValue`]) is a
//! programming error in this crate and panics, naming the key; any test that loads a
//! configuration finds it.

use std::path::PathBuf;
use std::time::Duration;

use cdc_core::datahub::config::valid_name;
use cdc_core::position::StartPosition;
use cdc_core::secret::Secret;

use super::error::ConfigErrors;
use super::keys::{DefaultValue, Key, Kind};
use super::layer::Raw;

/// The reader: raw values in, typed values and problems out.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    raw: &'a Raw,
    errors: &'a mut ConfigErrors,
    read: Vec<&'static str>,
}

fn misuse(key: &Key, what: &str) -> ! {
    panic!("configuration key {} ({:?}, default {:?}) read as {what}", key.name, key.kind, key.default)
}

/// A comma-separated list, empty items dropped.
fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl<'a> Fields<'a> {
    pub(super) fn new(raw: &'a Raw, errors: &'a mut ConfigErrors) -> Self {
        Self { raw, errors, read: Vec::new() }
    }

    /// The keys read so far, in reading order.
    pub(super) fn read(&self) -> &[&'static str] {
        &self.read
    }

    /// Problems recorded so far (all sections).
    pub(super) fn problem_count(&self) -> usize {
        self.errors.0.len()
    }

    /// The trimmed value, `None` when unset or empty; notes the key as read.
    fn value(&mut self, key: &Key) -> Option<&'a str> {
        self.read.push(key.name);
        self.raw.get(key.name)
    }

    /// True when `key` has a (non-empty) value.
    pub(super) fn is_set(&self, key: &Key) -> bool {
        self.raw.get(key.name).is_some()
    }

    /// Records a problem with `key`, adding where the value came from.
    pub(super) fn problem(&mut self, key: &Key, message: impl std::fmt::Display) {
        let origin = self.raw.origin(key.name);
        self.errors.push(key.name, format!("{message}{origin}"));
    }

    /// The missing-value rule: `Required` is a problem (`None`), `Text(s)` is `s`, `Derived` is
    /// `None` (the caller derives it).
    fn unset(&mut self, key: &Key) -> Option<String> {
        match &key.default {
            DefaultValue::Required => {
                self.errors.push(key.name, "missing");
                None
            }
            DefaultValue::Text(s) => Some((*s).to_owned()),
            DefaultValue::Derived(_) => None,
            DefaultValue::Int(_) => misuse(key, "text"),
        }
    }

    /// A [`Kind::Text`] key: the value, the default text, or `None` (missing required: a
    /// problem; derived: the caller's).
    pub(super) fn text(&mut self, key: &Key) -> Option<String> {
        if key.kind != Kind::Text {
            misuse(key, "text");
        }
        match self.value(key) {
            Some(v) => Some(v.to_owned()),
            None => self.unset(key),
        }
    }

    /// A [`Kind::Path`] key with a default.
    pub(super) fn path(&mut self, key: &Key) -> PathBuf {
        if key.kind != Kind::Path {
            misuse(key, "path");
        }
        match self.value(key) {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(self.unset(key).unwrap_or_else(|| misuse(key, "path with a default"))),
        }
    }

    /// A [`Kind::Secret`] key; `None` when unset (a problem when required). A verbatim secret
    /// keeps white space and may be empty.
    pub(super) fn secret(&mut self, key: &Key) -> Option<Secret> {
        let Kind::Secret { verbatim } = key.kind else { misuse(key, "secret") };
        let given = if verbatim {
            self.read.push(key.name);
            self.raw.verbatim(key.name)
        } else {
            self.value(key)
        };
        match given {
            Some(v) => Some(Secret::new(v)),
            None => self.unset(key).map(Secret::new),
        }
    }

    /// A [`Kind::List`] key: the items, or the default's items when none are given.
    pub(super) fn list(&mut self, key: &Key) -> Vec<String> {
        if key.kind != Kind::List {
            misuse(key, "list");
        }
        let items = self.value(key).map(split_list).unwrap_or_default();
        if !items.is_empty() {
            return items;
        }
        self.unset(key).map(|d| split_list(&d)).unwrap_or_default()
    }

    /// A [`Kind::Port`] key with a numeric default.
    pub(super) fn port(&mut self, key: &Key) -> u16 {
        let DefaultValue::Int(d) = key.default else { misuse(key, "port with a default") };
        let default = u16::try_from(d).unwrap_or_else(|_| misuse(key, "port (default out of range)"));
        if key.kind != Kind::Port {
            misuse(key, "port");
        }
        match self.value(key) {
            None => default,
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    self.problem(key, format_args!("`{v}` is not a port number (1-65535)"));
                    default
                }
            },
        }
    }

    /// A [`Kind::Int`] key with a numeric default, as `T` (the table's range must fit `T`).
    pub(super) fn int<T: TryFrom<u64>>(&mut self, key: &Key) -> T {
        let DefaultValue::Int(d) = key.default else { misuse(key, "number with a default") };
        let n = self.int_u64(key, d);
        T::try_from(n).unwrap_or_else(|_| misuse(key, std::any::type_name::<T>()))
    }

    /// A [`Kind::Int`] key whose default is derived by the caller.
    pub(super) fn int_or<T: TryFrom<u64> + Into<u64>>(&mut self, key: &Key, default: T) -> T {
        let n = self.int_u64(key, default.into());
        T::try_from(n).unwrap_or_else(|_| misuse(key, std::any::type_name::<T>()))
    }

    /// A [`Kind::Int`] key in milliseconds, as a duration.
    pub(super) fn millis(&mut self, key: &Key) -> Duration {
        Duration::from_millis(self.int(key))
    }

    fn int_u64(&mut self, key: &Key, default: u64) -> u64 {
        let Kind::Int { min, max, unit, max_is } = key.kind else { misuse(key, "number") };
        match self.value(key) {
            None => default,
            Some(v) => match v.replace('_', "").parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    let why = max_is.map(|w| format!(" ({max} is {w})")).unwrap_or_default();
                    self.problem(
                        key,
                        format_args!("`{v}` is not a whole number of {} in {min}..={max}{why}", unit.noun()),
                    );
                    default
                }
            },
        }
    }

    /// A [`Kind::Choice`] key: the matching value as written in the table (aliases resolved),
    /// or the default (also after a problem).
    pub(super) fn choice(&mut self, key: &Key) -> &'static str {
        let Kind::Choice { values, aliases } = key.kind else { misuse(key, "choice") };
        let DefaultValue::Text(default) = key.default else { misuse(key, "choice with a default") };
        let Some(v) = self.value(key) else { return default };
        let found = values
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(v))
            .or_else(|| aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(v)).map(|(_, c)| *c));
        match found {
            Some(c) => c,
            None => {
                let allowed = match values {
                    [a, b] => format!("`{a}` or `{b}`"),
                    _ => format!("one of {}", values.join(", ")),
                };
                self.problem(key, format_args!("`{v}` is not {allowed}"));
                default
            }
        }
    }

    /// A required [`Kind::Url`] key: an http(s) URL with a host, without a trailing `/`.
    pub(super) fn url(&mut self, key: &Key) -> Option<String> {
        if key.kind != Kind::Url {
            misuse(key, "url");
        }
        let v = match self.value(key) {
            Some(v) => v,
            None => return self.unset(key),
        };
        match reqwest::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Some(v.trim_end_matches('/').to_owned())
            }
            _ => {
                self.problem(
                    key,
                    format_args!("`{v}` is not an http(s) URL, e.g. `https://dh-cn-hangzhou.aliyuncs.com`"),
                );
                None
            }
        }
    }

    /// A required [`Kind::Name`] key: a DataHub project or topic name.
    pub(super) fn name(&mut self, key: &Key) -> Option<String> {
        let Kind::Name { len } = &key.kind else { misuse(key, "name") };
        let v = match self.value(key) {
            Some(v) => v,
            None => return self.unset(key),
        };
        if valid_name(v, len.clone()) {
            return Some(v.to_owned());
        }
        let (min, max) = (len.start(), len.end());
        self.problem(
            key,
            format_args!(
                "`{v}` must start with a letter, hold only letters, digits and `_`, and be {min}-{max} characters"
            ),
        );
        None
    }

    /// A [`Kind::Position`] key with a default.
    pub(super) fn position(&mut self, key: &Key) -> StartPosition {
        if key.kind != Kind::Position {
            misuse(key, "position");
        }
        let DefaultValue::Text(default) = key.default else { misuse(key, "position with a default") };
        let default = || default.parse::<StartPosition>().unwrap_or_else(|_| misuse(key, "position (bad default)"));
        match self.value(key) {
            None => default(),
            Some(v) => v.parse::<StartPosition>().unwrap_or_else(|why| {
                self.problem(key, why);
                default()
            }),
        }
    }
}
