//! Loading: layer the sources, read every section through the key table, collect every
//! problem, and assemble [`ServiceConfig`] only when nothing is wrong ([`PartialConfig`] keeps
//! the valid sections for `validate`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cdc_core::batch::BatchLimits;
use cdc_core::position::StartPosition;
use cdc_core::source::SourceConfig;

use super::database::DatabaseSettings;
use super::datahub::DataHubSettings;
use super::error::ConfigErrors;
use super::fields::Fields;
use super::keys::{self, KEYS};
use super::layer::{config_file, layer};
use super::runtime::{LogFormat, RetrySettings, Runtime};

/// What the configuration is loaded for: decides which keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `run` and `validate`: database and DataHub settings are required.
    Run,
    /// `tail`: only the database settings are required (DataHub ones are still checked when
    /// given).
    SourceOnly,
}

/// The whole, validated service configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Source settings.
    pub database: DatabaseSettings,
    /// Sink settings; `None` only when loaded for [`Purpose::SourceOnly`] without them.
    pub datahub: Option<DataHubSettings>,
    /// Sink retry settings.
    pub retry: RetrySettings,
    /// `MONITORING_PORT`: port of `/health*` and `/metrics`; default 8080.
    pub monitoring_port: u16,
    /// `LOG_LEVEL`: TRACE/DEBUG/INFO/WARN/ERROR (case-insensitive); default INFO.
    pub log_level: tracing::Level,
    /// `CDC_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `CDC_OFFSET_PATH`: checkpoint file; default `./data/offsets.json`.
    pub offset_path: PathBuf,
    /// `CDC_START_POSITION`: where to start when no checkpoint is stored; default `latest`.
    pub start_position: StartPosition,
    /// `CDC_BATCH_MAX_RECORDS` (10000), `CDC_BATCH_MAX_BYTES` (1000000, estimated),
    /// `CDC_BATCH_LINGER_MS` (100).
    pub batch: BatchLimits,
    /// `CDC_QUEUE_CAPACITY`: messages buffered between source and sink (rows of up to ≈ 8,192
    /// column values or 256 KiB of binlog row data plus one rows event, a commit or a
    /// heartbeat each); default 16.
    pub queue_capacity: usize,
    /// `CDC_SHUTDOWN_GRACE_MS`: longest drain on SIGTERM; default 30000 ms.
    pub shutdown_grace: Duration,
    /// `CDC_LIVENESS_TIMEOUT_MS`: `/health/live` fails when the pipeline loop has not reported
    /// for this long; default 60000 ms.
    pub liveness_timeout: Duration,
}

impl ServiceConfig {
    /// The binlog source settings in `cdc-core`'s shape.
    pub fn source_config(&self) -> SourceConfig {
        self.database.source_config()
    }

    fn assemble(database: DatabaseSettings, datahub: Option<DataHubSettings>, rt: Runtime) -> Self {
        Self {
            database,
            datahub,
            retry: rt.retry,
            monitoring_port: rt.monitoring_port,
            log_level: rt.log_level,
            log_format: rt.log_format,
            offset_path: rt.offset_path,
            start_position: rt.start_position,
            batch: rt.batch,
            queue_capacity: rt.queue_capacity,
            shutdown_grace: rt.shutdown_grace,
            liveness_timeout: rt.liveness_timeout,
        }
    }
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
    let runtime = Runtime::read(&mut f);
    let read = f.read().to_vec();

    // Report in the order of KEYS, so the message is stable whatever order checks ran in.
    let order = |k: &str| KEYS.iter().position(|x| x.name == k).unwrap_or(usize::MAX);
    errors.0.sort_by_key(|e| order(&e.key));

    let full = match (&database, errors.is_empty()) {
        (Some(db), true) if purpose == Purpose::SourceOnly || datahub.is_some() => {
            Some(ServiceConfig::assemble(db.clone(), datahub.clone(), runtime))
        }
        _ => None,
    };
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
