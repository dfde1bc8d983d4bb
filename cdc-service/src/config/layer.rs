//! Layering: the optional TOML file under the environment, with figment, down to one raw string
//! per key ([`Raw`]), remembering which values came from the file so that problems can say so.
//!
//! The environment is taken verbatim as strings (figment's own `Env` provider parses values,
//! which would strip quotes from or reinterpret a password such as `"007"`). File keys are the
//! variable names in lower case; any other file key is a problem. Which keys exist is
//! [`super::keys::KEYS`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;

use super::error::ConfigErrors;
use super::keys::KEYS;

/// Environment variable naming the optional TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "CDC_CONFIG_FILE";

/// Raw string values by key (upper-case), after layering.
#[derive(Debug)]
pub(super) struct Raw {
    values: HashMap<&'static str, String>,
    origin: HashMap<&'static str, String>,
}

impl Raw {
    /// The value with surrounding white space removed; `None` when unset or empty.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The value exactly as given (for verbatim secrets).
    pub(super) fn verbatim(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// " (from <file>)" when the value came from the file, for problems.
    pub(super) fn origin(&self, key: &str) -> String {
        self.origin.get(key).map(|f| format!(" (from {f})")).unwrap_or_default()
    }
}

fn value_to_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(_, s) => Ok(s.clone()),
        Value::Char(_, c) => Ok(c.to_string()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(_, n) => Ok(match n.to_u128() {
            Some(u) => u.to_string(),
            None => match n.to_i128() {
                Some(i) => i.to_string(),
                None => n.to_f64().map(|f| f.to_string()).unwrap_or_default(),
            },
        }),
        Value::Array(_, items) => items.iter().map(value_to_string).collect::<Result<Vec<_>, _>>().map(|v| v.join(",")),
        Value::Dict(..) => Err("expected a value or a list, found a table".into()),
        Value::Empty(..) => Ok(String::new()),
    }
}

/// The file to read: `file` (from `--config`) or else `CDC_CONFIG_FILE` in `env`.
pub(super) fn config_file(env: &HashMap<String, String>, file: Option<&Path>) -> Option<PathBuf> {
    file.map(Path::to_path_buf).or_else(|| env.get(CONFIG_FILE_ENV).filter(|s| !s.is_empty()).map(PathBuf::from))
}

/// Layers the file under the environment with figment and returns the raw values; problems of
/// the file itself (missing, unreadable, unknown keys) go to `errors` under `CDC_CONFIG_FILE`.
pub(super) fn layer(env: &HashMap<String, String>, file: Option<&Path>, errors: &mut ConfigErrors) -> Raw {
    let mut figment = Figment::new();
    let mut file_keys = BTreeMap::new();
    if let Some(path) = file {
        if !path.is_file() {
            errors.push(CONFIG_FILE_ENV, format!("`{}` does not exist or is not a file", path.display()));
        } else {
            let file_fig = Figment::from(Toml::file(path));
            match file_fig.extract::<BTreeMap<String, Value>>() {
                Ok(map) => {
                    for (k, v) in map {
                        match KEYS.iter().find(|known| known.name.eq_ignore_ascii_case(&k)) {
                            Some(known) if k == known.name.to_ascii_lowercase() => {
                                file_keys.insert(known.name, v);
                            }
                            _ => errors.push(
                                CONFIG_FILE_ENV,
                                format!(
                                    "unknown key `{k}` in `{}` (keys are the variable names in lower case, e.g. `database_host`)",
                                    path.display()
                                ),
                            ),
                        }
                    }
                    figment = figment.merge(Toml::file(path));
                }
                Err(e) => errors.push(CONFIG_FILE_ENV, format!("cannot read `{}`: {e}", path.display())),
            }
        }
    }
    // The environment, verbatim, on top.
    let env_map: BTreeMap<String, String> =
        KEYS.iter().filter_map(|k| env.get(k.name).map(|v| (k.name.to_ascii_lowercase(), v.clone()))).collect();
    figment = figment.merge(Serialized::defaults(env_map));

    let mut values = HashMap::new();
    let mut origin = HashMap::new();
    for key in KEYS.iter().map(|k| k.name) {
        let lower = key.to_ascii_lowercase();
        let Ok(v) = figment.find_value(&lower) else { continue };
        match value_to_string(&v) {
            Ok(s) => {
                values.insert(key, s);
            }
            Err(why) => errors.push(key, why),
        }
        if !env.contains_key(key) && file_keys.contains_key(key) {
            if let Some(path) = file {
                origin.insert(key, path.display().to_string());
            }
        }
    }
    Raw { values, origin }
}

/// Environment variables that look like settings of this service (prefix `DATABASE_`,
/// `DATAHUB_`, `RETRY_` or `CDC_`) but are not one: most likely typos, which would otherwise be
/// silently ignored. `CDC_CONFIG_FILE` and test variables (`CDC_TEST_*`, `DATAHUB_EMULATOR_*`)
/// are not reported. Sorted.
pub fn unknown_env_keys(env: &HashMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = env
        .keys()
        .filter(|k| ["DATABASE_", "DATAHUB_", "RETRY_", "CDC_"].iter().any(|p| k.starts_with(p)))
        .filter(|k| !KEYS.iter().any(|known| known.name == k.as_str()) && k.as_str() != CONFIG_FILE_ENV)
        .filter(|k| !k.starts_with("CDC_TEST_") && !k.starts_with("DATAHUB_EMULATOR_"))
        .cloned()
        .collect();
    out.sort();
    out
}
