//! Loading: layer the sources, read every section through the key table, collect every
//! problem, and return a [`ServiceConfig`] only when nothing is wrong ([`PartialConfig`] keeps
//! the valid sections for `validate`).

use std::collections::HashMap;
use std::path::Path;

use super::database::DatabaseSettings;
use super::datahub::DataHubSettings;
use super::error::ConfigErrors;
use super::fields::Fields;
use super::keys::{self, KEYS};
use super::layer::{config_file, layer};
use super::runtime::ServiceConfig;

/// What the configuration is loaded for: decides which keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `run` and `validate`: database and DataHub settings are required.
    Run,
    /// `tail`: only the database settings are required (DataHub ones are still checked when
    /// given).
    SourceOnly,
}

/// Settings as far as they could be parsed: each section is `Some` when all its keys are
/// valid. `validate` uses this to check what it can even when other sections are broken.
#[derive(Debug, Clone)]
pub struct PartialConfig {
    /// The source settings, when complete and valid.
    pub database: Option<DatabaseSettings>,
    /// The sink settings, when complete and valid.
    pub datahub: Option<DataHubSettings>,
    /// The whole configuration, when everything required for the purpose is valid.
    pub full: Option<ServiceConfig>,
    /// Every problem found, in [`KEYS`] order.
    pub errors: ConfigErrors,
}

/// Loads the configuration from the process environment and the file named by `--config`
/// (`file`) or `CDC_CONFIG_FILE`.
///
/// Errors: [`ConfigErrors`] listing every invalid or missing setting.
pub fn load(file: Option<&Path>, purpose: Purpose) -> Result<ServiceConfig, ConfigErrors> {
    let env: HashMap<String, String> = std::env::vars().collect();
    load_from(&env, file, purpose)
}

/// Like [`load`], from an explicit environment map (tests, embedding). `file` overrides
/// `CDC_CONFIG_FILE` in `env`.
///
/// Errors: [`ConfigErrors`] listing every invalid or missing setting.
pub fn load_from(
    env: &HashMap<String, String>,
    file: Option<&Path>,
    purpose: Purpose,
) -> Result<ServiceConfig, ConfigErrors> {
    let p = load_partial_from(env, file, purpose);
    p.full.ok_or(p.errors)
}

/// Loads and checks everything, keeping whatever sections are valid.
pub fn load_partial_from(env: &HashMap<String, String>, file: Option<&Path>, purpose: Purpose) -> PartialConfig {
    load_recording(env, file, purpose).0
}

/// [`load_partial_from`], also returning the keys read (tests prove every table entry is).
pub(super) fn load_recording(
    env: &HashMap<String, String>,
    file: Option<&Path>,
    purpose: Purpose,
) -> (PartialConfig, Vec<&'static str>) {
    let mut errors = ConfigErrors::default();
    let raw = layer(env, config_file(env, file).as_deref(), &mut errors);
    let mut f = Fields::new(&raw, &mut errors);
    let database = DatabaseSettings::read(&mut f, env);
    let datahub =
        if purpose == Purpose::Run || DataHubSettings::any_set(&f) { DataHubSettings::read(&mut f) } else { None };
    let whole = ServiceConfig::read(&mut f, database.clone(), datahub.clone());
    let read = f.read().to_vec();

    // Report in the order of KEYS, so the message is stable whatever order checks ran in.
    let order = |k: &str| KEYS.iter().position(|x| x.name == k).unwrap_or(usize::MAX);
    errors.0.sort_by_key(|e| order(&e.key));

    let complete = errors.is_empty() && (purpose == Purpose::SourceOnly || datahub.is_some());
    let full = whole.filter(|_| complete);
    (PartialConfig { database, datahub, full, errors }, read)
}

/// Reads only `MONITORING_PORT` (env over file over 8080), for `healthcheck`, which must work
/// whatever the rest of the configuration says.
///
/// Errors: [`ConfigErrors`] when the port is invalid or the file unreadable.
pub fn monitoring_port_from(env: &HashMap<String, String>, file: Option<&Path>) -> Result<u16, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let raw = layer(env, config_file(env, file).as_deref(), &mut errors);
    let port = Fields::new(&raw, &mut errors).port(&keys::MONITORING_PORT);
    if errors.is_empty() {
        Ok(port)
    } else {
        Err(errors)
    }
}
