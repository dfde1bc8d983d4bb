//! Service configuration: read from the environment and an optional TOML file, validated in one
//! pass so that every wrong or missing setting is reported at once, by name.
//!
//! Precedence is **environment over file over defaults**. The layering is done by figment: the
//! file (`CDC_CONFIG_FILE` or `--config`, keys are the variable names in lower case, e.g.
//! `database_host = "db"`) is merged under a provider holding the environment variables. The
//! environment is taken verbatim as strings (figment's own `Env` provider parses values, which
//! would strip quotes from or reinterpret a password such as `"007"`).
//!
//! Every key is then parsed and checked on its own and problems are collected into
//! [`ConfigErrors`]; nothing stops at the first error. Secrets (`DATABASE_PASSWORD`,
//! `DATAHUB_ACCESS_KEY`, `DATAHUB_SECURITY_TOKEN`) are held in [`Secret`] and never echoed,
//! not even in error messages.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cdc_core::batch::BatchLimits;
use cdc_core::datahub::{Credentials, DataHubConfig, RetryPolicy};
use cdc_core::position::StartPosition;
use cdc_core::secret::Secret;
use cdc_core::source::SourceConfig;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;

/// Every configuration key, as an environment variable name. The file uses the same names in
/// lower case. `CDC_CONFIG_FILE` itself is not a file key.
pub const KEYS: &[&str] = &[
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_USERNAME",
    "DATABASE_PASSWORD",
    "DATABASE_SCHEMA",
    "DATABASE_TABLES",
    "DATAHUB_ENDPOINT",
    "DATAHUB_ACCESS_ID",
    "DATAHUB_ACCESS_KEY",
    "DATAHUB_SECURITY_TOKEN",
    "DATAHUB_PROJECT",
    "DATAHUB_TOPIC",
    "RETRY_MAX_ATTEMPTS",
    "RETRY_BACKOFF_MS",
    "MONITORING_PORT",
    "LOG_LEVEL",
    "CDC_LOG_FORMAT",
    "CDC_SERVER_ID",
    "CDC_SERVER_NAME",
    "CDC_OFFSET_PATH",
    "CDC_START_POSITION",
    "CDC_BATCH_MAX_RECORDS",
    "CDC_BATCH_MAX_BYTES",
    "CDC_BATCH_LINGER_MS",
    "CDC_QUEUE_CAPACITY",
    "CDC_HEARTBEAT_MS",
    "CDC_SHUTDOWN_GRACE_MS",
    "CDC_LIVENESS_TIMEOUT_MS",
];

/// Environment variable naming the optional TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "CDC_CONFIG_FILE";

/// OceanBase's MySQL-protocol port (the OceanBase binlog service listens there too); MySQL and
/// MariaDB use 3306.
pub const DEFAULT_DATABASE_PORT: u16 = 2881;
/// Base of the default replica `server_id`: the default is `5400 + FNV-1a(server name) % 1000`,
/// i.e. in 5400..=6399, stable for a given host name so a restarted collector keeps its id.
pub const DEFAULT_SERVER_ID_BASE: u32 = 5400;
/// Most records in one DataHub `PutRecords` request (DataHub limit, `batch.rs`).
pub const DATAHUB_MAX_RECORDS: usize = 10_000;
/// Most bytes in one DataHub `PutRecords` request (DataHub limit, `batch.rs`).
pub const DATAHUB_MAX_BYTES: usize = 4_000_000;

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
    fn push(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(ConfigError { key: key.to_owned(), message: message.into() });
    }

    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the configuration is loaded for: decides which keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `run` and `validate`: database and DataHub settings are required.
    Run,
    /// `tail`: only the database settings are required (DataHub ones are still checked when
    /// given).
    SourceOnly,
}

/// Log output format (`CDC_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line.
    Json,
}

/// The database (binlog source) settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_HOST` (required).
    pub host: String,
    /// `DATABASE_PORT`, default 2881 (OceanBase).
    pub port: u16,
    /// `DATABASE_USERNAME` (required); needs REPLICATION SLAVE, REPLICATION CLIENT, SELECT.
    pub username: String,
    /// `DATABASE_PASSWORD`, default empty.
    pub password: Secret,
    /// `DATABASE_SCHEMA`: comma-separated schemas; empty (unset) = all schemas.
    pub schemas: Vec<String>,
    /// `DATABASE_TABLES`: comma-separated table selectors (`*`, `t`, `db.t` or regular
    /// expressions); default `*`.
    pub tables: Vec<String>,
    /// `CDC_SERVER_ID`: the replica server_id; default `5400 + FNV-1a(server name) % 1000`.
    pub server_id: u32,
    /// `CDC_SERVER_NAME`: logical name written to `source.name`; default the host name.
    pub server_name: String,
    /// `CDC_HEARTBEAT_MS`: heartbeat period asked of the server, ms (0 = none); default 1000.
    pub heartbeat_ms: u64,
}

/// The DataHub (sink) settings.
#[derive(Debug, Clone)]
pub struct DataHubSettings {
    /// `DATAHUB_ENDPOINT`, e.g. `https://dh-cn-hangzhou.aliyuncs.com`.
    pub endpoint: String,
    /// `DATAHUB_ACCESS_ID`: AccessKey ID.
    pub access_id: String,
    /// `DATAHUB_ACCESS_KEY`: AccessKey secret.
    pub access_key: Secret,
    /// `DATAHUB_SECURITY_TOKEN`: optional STS token.
    pub security_token: Option<Secret>,
    /// `DATAHUB_PROJECT`.
    pub project: String,
    /// `DATAHUB_TOPIC`.
    pub topic: String,
}

impl DataHubSettings {
    /// The producer configuration: these settings, `retry`, and the producer's defaults
    /// (timeouts, compression, protocol). Records per request follow the batch bound; request
    /// bodies may use DataHub's whole limit ([`DATAHUB_MAX_BYTES`]) whatever the batch's byte
    /// bound (an estimate that bounds memory), so one large row (up to 4 MB) still fits.
    pub fn datahub_config(&self, retry: &RetrySettings, batch: &BatchLimits) -> DataHubConfig {
        let mut creds = Credentials::new(&self.access_id, self.access_key.clone());
        creds.security_token = self.security_token.clone();
        let mut c = DataHubConfig::new(&self.endpoint, &self.project, &self.topic, creds);
        let backoff_ms = u64::try_from(retry.backoff.as_millis()).unwrap_or(u64::MAX);
        c.retry = RetryPolicy { max_attempts: retry.max_attempts, backoff_ms, max_backoff_ms: backoff_ms.max(30_000) };
        c.max_records_per_request = batch.max_records;
        c.max_request_bytes = DATAHUB_MAX_BYTES;
        c
    }
}

/// Retry of failed DataHub requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// `RETRY_MAX_ATTEMPTS`: attempts per request including the first, ≥ 1; default 3.
    pub max_attempts: u32,
    /// `RETRY_BACKOFF_MS`: initial backoff between attempts; default 2000 ms.
    pub backoff: Duration,
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
}

impl DatabaseSettings {
    /// These settings in `cdc-core`'s shape; the source's own defaults (reconnect backoff,
    /// checksum verification) are kept.
    pub fn source_config(&self) -> SourceConfig {
        let mut c = SourceConfig::new(&self.host, self.port, &self.username, self.password.expose());
        c.server_id = self.server_id;
        c.name = self.server_name.clone();
        c.schemas = self.schemas.clone();
        c.tables = self.tables.clone();
        c.heartbeat_ms = self.heartbeat_ms;
        c
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
    /// Every problem found.
    pub errors: ConfigErrors,
}

/// Raw string values by key (upper-case), after layering.
struct Raw {
    values: HashMap<&'static str, String>,
    origin: HashMap<&'static str, String>,
}

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// " (from <file>)" when the value came from the file, for error messages.
    fn origin(&self, key: &str) -> String {
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

/// Layers the file under the environment with figment and returns the raw values.
fn layer(env: &HashMap<String, String>, file: Option<&Path>, errors: &mut ConfigErrors) -> Raw {
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
                        match KEYS.iter().find(|known| known.eq_ignore_ascii_case(&k)) {
                            Some(known) if k == known.to_ascii_lowercase() => {
                                file_keys.insert(*known, v);
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
        KEYS.iter().filter_map(|k| env.get(*k).map(|v| (k.to_ascii_lowercase(), v.clone()))).collect();
    figment = figment.merge(Serialized::defaults(env_map));

    let mut values = HashMap::new();
    let mut origin = HashMap::new();
    for key in KEYS {
        let lower = key.to_ascii_lowercase();
        let Ok(v) = figment.find_value(&lower) else { continue };
        match value_to_string(&v) {
            Ok(s) => {
                values.insert(*key, s);
            }
            Err(why) => errors.push(key, why),
        }
        if !env.contains_key(*key) && file_keys.contains_key(key) {
            if let Some(path) = file {
                origin.insert(*key, path.display().to_string());
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
        .filter(|k| !KEYS.contains(&k.as_str()) && k.as_str() != CONFIG_FILE_ENV)
        .filter(|k| !k.starts_with("CDC_TEST_") && !k.starts_with("DATAHUB_EMULATOR_"))
        .cloned()
        .collect();
    out.sort();
    out
}

/// Loads the configuration from the process environment and the file named by `--config`
/// (`file`) or `CDC_CONFIG_FILE`.
///
/// Errors: [`ConfigErrors`] listing every invalid or missing setting.
pub fn load(file: Option<&Path>, purpose: Purpose) -> Result<ServiceConfig, ConfigErrors> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let p = load_partial_from(&env, file, purpose);
    p.full.ok_or(p.errors)
}

/// Like [`load`], from an explicit environment map (tests, embedding). `file` overrides
/// `CDC_CONFIG_FILE` in `env`.
pub fn load_from(
    env: &HashMap<String, String>,
    file: Option<&Path>,
    purpose: Purpose,
) -> Result<ServiceConfig, ConfigErrors> {
    let p = load_partial_from(env, file, purpose);
    p.full.ok_or(p.errors)
}

/// Reads only `MONITORING_PORT` (env over file over 8080), for `healthcheck`, which must work
/// whatever the rest of the configuration says.
///
/// Errors: [`ConfigErrors`] when the port is invalid or the file unreadable.
pub fn monitoring_port_from(env: &HashMap<String, String>, file: Option<&Path>) -> Result<u16, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let file =
        file.map(Path::to_path_buf).or_else(|| env.get(CONFIG_FILE_ENV).filter(|s| !s.is_empty()).map(PathBuf::from));
    let raw = layer(env, file.as_deref(), &mut errors);
    let port = port(&raw, "MONITORING_PORT", 8080, &mut errors);
    if errors.is_empty() {
        Ok(port)
    } else {
        Err(errors)
    }
}

fn required(raw: &Raw, key: &str, errors: &mut ConfigErrors) -> Option<String> {
    match raw.get(key) {
        Some(v) => Some(v.to_owned()),
        None => {
            errors.push(key, "missing");
            None
        }
    }
}

fn port(raw: &Raw, key: &str, default: u16, errors: &mut ConfigErrors) -> u16 {
    match raw.get(key) {
        None => default,
        Some(v) => match v.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                errors.push(key, format!("`{v}` is not a port number (1-65535){}", raw.origin(key)));
                default
            }
        },
    }
}

/// An unsigned integer in `min..=max`.
fn number<T>(raw: &Raw, key: &str, default: T, min: T, max: T, unit: &str, errors: &mut ConfigErrors) -> T
where
    T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
{
    match raw.get(key) {
        None => default,
        Some(v) => match v.replace('_', "").parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => {
                errors.push(key, format!("`{v}` is not a whole number of {unit} in {min}..={max}{}", raw.origin(key)));
                default
            }
        },
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// 32-bit FNV-1a: a stable hash (std's hasher may change between releases).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The default `CDC_SERVER_ID` for a server name: `5400 + FNV-1a(name) % 1000`.
pub fn default_server_id(server_name: &str) -> u32 {
    DEFAULT_SERVER_ID_BASE + fnv1a(server_name) % 1000
}

/// The host name (`HOSTNAME`, else `/proc/sys/kernel/hostname`, else `cdc-collector`).
fn host_name(env: &HashMap<String, String>) -> String {
    env.get("HOSTNAME")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cdc-collector".into())
}

/// A DataHub project or topic name: `^[a-zA-Z][a-zA-Z0-9_]*$`, `min..=max` characters
/// (datahub-protocol §1: projects 3-32, topics 1-128).
fn datahub_name(raw: &Raw, key: &str, min: usize, max: usize, errors: &mut ConfigErrors) -> Option<String> {
    let v = required(raw, key, errors)?;
    let mut chars = v.chars();
    let ok = (min..=max).contains(&v.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        errors.push(
            key,
            format!(
                "`{v}` must start with a letter, hold only letters, digits and `_`, and be {min}-{max} characters{}",
                raw.origin(key)
            ),
        );
        return None;
    }
    Some(v)
}

fn database(raw: &Raw, env: &HashMap<String, String>, errors: &mut ConfigErrors) -> Option<DatabaseSettings> {
    let before = errors.0.len();
    let host = required(raw, "DATABASE_HOST", errors);
    let port = port(raw, "DATABASE_PORT", DEFAULT_DATABASE_PORT, errors);
    let username = required(raw, "DATABASE_USERNAME", errors);
    let password = Secret::new(raw.values.get("DATABASE_PASSWORD").cloned().unwrap_or_default());
    let schemas = raw.get("DATABASE_SCHEMA").map(list).unwrap_or_default();
    let tables = raw.get("DATABASE_TABLES").map(list).unwrap_or_else(|| vec!["*".into()]);
    let tables = if tables.is_empty() { vec!["*".into()] } else { tables };
    // A selector that is not a valid regular expression would only fail once streaming starts.
    if let Err(why) = cdc_core::source::TableFilter::new(&schemas, &tables) {
        let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
        errors.push("DATABASE_TABLES", format!("{why}{}", raw.origin("DATABASE_TABLES")));
    }
    let server_name = raw.get("CDC_SERVER_NAME").map(str::to_owned).unwrap_or_else(|| host_name(env));
    let server_id = number(raw, "CDC_SERVER_ID", default_server_id(&server_name), 1, u32::MAX, "server ids", errors);
    let heartbeat_ms = number(raw, "CDC_HEARTBEAT_MS", 1000u64, 0, 4_294_967, "milliseconds", errors);
    if errors.0.len() > before {
        return None;
    }
    Some(DatabaseSettings {
        host: host?,
        port,
        username: username?,
        password,
        schemas,
        tables,
        server_id,
        server_name,
        heartbeat_ms,
    })
}

fn datahub(raw: &Raw, errors: &mut ConfigErrors) -> Option<DataHubSettings> {
    let before = errors.0.len();
    let endpoint = required(raw, "DATAHUB_ENDPOINT", errors).and_then(|v| match reqwest::Url::parse(&v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Some(v.trim_end_matches('/').to_owned())
        }
        _ => {
            errors.push(
                "DATAHUB_ENDPOINT",
                format!(
                    "`{v}` is not an http(s) URL, e.g. `https://dh-cn-hangzhou.aliyuncs.com`{}",
                    raw.origin("DATAHUB_ENDPOINT")
                ),
            );
            None
        }
    });
    let access_id = required(raw, "DATAHUB_ACCESS_ID", errors);
    let access_key = required(raw, "DATAHUB_ACCESS_KEY", errors).map(Secret::new);
    let security_token = raw.get("DATAHUB_SECURITY_TOKEN").map(Secret::new);
    let project = datahub_name(raw, "DATAHUB_PROJECT", 3, 32, errors);
    let topic = datahub_name(raw, "DATAHUB_TOPIC", 1, 128, errors);
    if errors.0.len() > before {
        return None;
    }
    Some(DataHubSettings {
        endpoint: endpoint?,
        access_id: access_id?,
        access_key: access_key?,
        security_token,
        project: project?,
        topic: topic?,
    })
}

/// True when any DataHub key is set (then a `tail` still reports its problems).
fn any_datahub(raw: &Raw) -> bool {
    KEYS.iter().filter(|k| k.starts_with("DATAHUB_")).any(|k| raw.get(k).is_some())
}

/// Loads and checks everything, keeping whatever sections are valid.
pub fn load_partial_from(env: &HashMap<String, String>, file: Option<&Path>, purpose: Purpose) -> PartialConfig {
    let mut errors = ConfigErrors::default();
    let file =
        file.map(Path::to_path_buf).or_else(|| env.get(CONFIG_FILE_ENV).filter(|s| !s.is_empty()).map(PathBuf::from));
    let raw = layer(env, file.as_deref(), &mut errors);

    let database = database(&raw, env, &mut errors);
    let datahub = if purpose == Purpose::Run || any_datahub(&raw) { datahub(&raw, &mut errors) } else { None };

    let max_attempts = number(&raw, "RETRY_MAX_ATTEMPTS", 3u32, 1, 1000, "attempts", &mut errors);
    let backoff_ms = number(&raw, "RETRY_BACKOFF_MS", 2000u64, 0, 3_600_000, "milliseconds", &mut errors);
    let monitoring_port = port(&raw, "MONITORING_PORT", 8080, &mut errors);
    let log_level = match raw.get("LOG_LEVEL").map(str::to_ascii_uppercase) {
        None => tracing::Level::INFO,
        Some(v) => match v.as_str() {
            "TRACE" => tracing::Level::TRACE,
            "DEBUG" => tracing::Level::DEBUG,
            "INFO" => tracing::Level::INFO,
            "WARN" | "WARNING" => tracing::Level::WARN,
            "ERROR" => tracing::Level::ERROR,
            _ => {
                errors.push(
                    "LOG_LEVEL",
                    format!(
                        "`{}` is not one of TRACE, DEBUG, INFO, WARN, ERROR{}",
                        raw.get("LOG_LEVEL").unwrap_or_default(),
                        raw.origin("LOG_LEVEL")
                    ),
                );
                tracing::Level::INFO
            }
        },
    };
    let log_format = match raw.get("CDC_LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            errors.push("CDC_LOG_FORMAT", format!("`{other}` is not `text` or `json`{}", raw.origin("CDC_LOG_FORMAT")));
            LogFormat::Text
        }
    };
    let offset_path = PathBuf::from(raw.get("CDC_OFFSET_PATH").unwrap_or("./data/offsets.json"));
    let start_position = match raw.get("CDC_START_POSITION") {
        None => StartPosition::Latest,
        Some(v) => v.parse::<StartPosition>().unwrap_or_else(|why| {
            errors.push("CDC_START_POSITION", format!("{why}{}", raw.origin("CDC_START_POSITION")));
            StartPosition::Latest
        }),
    };
    let max_records = number(
        &raw,
        "CDC_BATCH_MAX_RECORDS",
        10_000usize,
        1,
        DATAHUB_MAX_RECORDS,
        "records (DataHub accepts at most 10000 per request)",
        &mut errors,
    );
    let max_bytes = number(
        &raw,
        "CDC_BATCH_MAX_BYTES",
        1_000_000usize,
        1024,
        DATAHUB_MAX_BYTES,
        "bytes (DataHub accepts at most 4000000 per request)",
        &mut errors,
    );
    let linger_ms = number(&raw, "CDC_BATCH_LINGER_MS", 100u64, 0, 60_000, "milliseconds", &mut errors);
    let queue_capacity = number(&raw, "CDC_QUEUE_CAPACITY", 16usize, 1, 1_000_000, "messages", &mut errors);
    let grace_ms = number(&raw, "CDC_SHUTDOWN_GRACE_MS", 30_000u64, 0, 3_600_000, "milliseconds", &mut errors);
    let live_ms = number(&raw, "CDC_LIVENESS_TIMEOUT_MS", 60_000u64, 1000, 3_600_000, "milliseconds", &mut errors);

    // Report in the order of KEYS, so the message is stable whatever order checks ran in.
    let order = |k: &str| KEYS.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    errors.0.sort_by_key(|e| order(&e.key));

    let full = match (&database, errors.is_empty()) {
        (Some(db), true) if purpose == Purpose::SourceOnly || datahub.is_some() => Some(ServiceConfig {
            database: db.clone(),
            datahub: datahub.clone(),
            retry: RetrySettings { max_attempts, backoff: Duration::from_millis(backoff_ms) },
            monitoring_port,
            log_level,
            log_format,
            offset_path,
            start_position,
            batch: BatchLimits { max_records, max_bytes, linger: Duration::from_millis(linger_ms) },
            queue_capacity,
            shutdown_grace: Duration::from_millis(grace_ms),
            liveness_timeout: Duration::from_millis(live_ms),
        }),
        _ => None,
    };
    PartialConfig { database, datahub, full, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn minimal() -> HashMap<String, String> {
        env(&[
            ("DATABASE_HOST", "db.example"),
            ("DATABASE_USERNAME", "cdc_repl"),
            ("DATABASE_PASSWORD", "db-pass-7f3a"),
            ("DATAHUB_ENDPOINT", "http://127.0.0.1:9999"),
            ("DATAHUB_ACCESS_ID", "AKID"),
            ("DATAHUB_ACCESS_KEY", "dh-key-91bc"),
            ("DATAHUB_PROJECT", "proj"),
            ("DATAHUB_TOPIC", "topic"),
            ("HOSTNAME", "collector-0"),
        ])
    }

    #[test]
    fn defaults_apply_when_only_required_keys_are_set() {
        let c = load_from(&minimal(), None, Purpose::Run).unwrap();
        assert_eq!(c.database.port, 2881);
        assert_eq!(c.database.tables, vec!["*"]);
        assert!(c.database.schemas.is_empty());
        assert_eq!(c.database.server_name, "collector-0");
        assert_eq!(c.database.server_id, 5400 + fnv1a("collector-0") % 1000);
        assert!((5400..6400).contains(&c.database.server_id));
        assert_eq!(c.database.heartbeat_ms, 1000);
        assert_eq!(c.retry, RetrySettings { max_attempts: 3, backoff: Duration::from_millis(2000) });
        assert_eq!(c.monitoring_port, 8080);
        assert_eq!(c.log_level, tracing::Level::INFO);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.offset_path, PathBuf::from("./data/offsets.json"));
        assert_eq!(c.start_position, StartPosition::Latest);
        assert_eq!(
            c.batch,
            BatchLimits { max_records: 10_000, max_bytes: 1_000_000, linger: Duration::from_millis(100) }
        );
        assert_eq!(c.queue_capacity, 16);
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
        assert_eq!(c.liveness_timeout, Duration::from_secs(60));
        assert!(c.datahub.as_ref().unwrap().security_token.is_none());
    }

    #[test]
    fn values_parse_lists_levels_and_positions() {
        let mut e = minimal();
        e.extend(env(&[
            ("DATABASE_SCHEMA", "shop, billing ,"),
            ("DATABASE_TABLES", "orders,shop.items,^log_.*$"),
            ("LOG_LEVEL", "debug"),
            ("CDC_LOG_FORMAT", "JSON"),
            ("CDC_START_POSITION", "mysql-bin.000003:1234"),
            ("CDC_SERVER_ID", "77"),
            ("DATAHUB_ENDPOINT", "https://dh-cn-hangzhou.aliyuncs.com/"),
        ]));
        let c = load_from(&e, None, Purpose::Run).unwrap();
        assert_eq!(c.database.schemas, vec!["shop", "billing"]);
        assert_eq!(c.database.tables, vec!["orders", "shop.items", "^log_.*$"]);
        assert_eq!(c.log_level, tracing::Level::DEBUG);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.start_position, "mysql-bin.000003:1234".parse().unwrap());
        assert_eq!(c.database.server_id, 77);
        let dh = c.datahub.as_ref().unwrap();
        assert_eq!(dh.endpoint, "https://dh-cn-hangzhou.aliyuncs.com");
        let dcfg = dh.datahub_config(&c.retry, &c.batch);
        assert_eq!(dcfg.validate(), Ok(()), "what the config accepts, the producer accepts");
        assert_eq!(dcfg.max_request_bytes, DATAHUB_MAX_BYTES, "a 1 MB row fits whatever the batch byte bound");
        assert_eq!((dcfg.retry.max_attempts, dcfg.retry.backoff_ms), (3, 2000));
        let sc = load_from(&e, None, Purpose::Run).unwrap().source_config();
        assert_eq!((sc.host.as_str(), sc.port, sc.server_id), ("db.example", 2881, 77));
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdc.toml");
        std::fs::write(
            &path,
            "database_port = 3306\nmonitoring_port = 9100\ndatabase_schema = [\"a\", \"b\"]\ncdc_batch_max_records = 500\nlog_level = \"warn\"\n",
        )
        .unwrap();
        let mut e = minimal();
        e.insert("DATABASE_PORT".into(), "3307".into());
        let c = load_from(&e, Some(&path), Purpose::Run).unwrap();
        assert_eq!(c.database.port, 3307, "env wins over file");
        assert_eq!(c.monitoring_port, 9100, "file wins over default");
        assert_eq!(c.database.schemas, vec!["a", "b"]);
        assert_eq!(c.batch.max_records, 500);
        assert_eq!(c.log_level, tracing::Level::WARN);
        assert_eq!(c.batch.max_bytes, 1_000_000, "default when neither sets it");

        // CDC_CONFIG_FILE names the file when no explicit path is given.
        e.insert(CONFIG_FILE_ENV.into(), path.display().to_string());
        assert_eq!(load_from(&e, None, Purpose::Run).unwrap().monitoring_port, 9100);
        assert_eq!(monitoring_port_from(&e, None).unwrap(), 9100);
    }

    #[test]
    fn a_password_is_taken_verbatim_from_the_environment() {
        let mut e = minimal();
        e.insert("DATABASE_PASSWORD".into(), "\"007\"".into());
        let c = load_from(&e, None, Purpose::Run).unwrap();
        assert_eq!(c.database.password.expose(), "\"007\"");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let e = env(&[
            ("DATABASE_PORT", "abc"),
            ("DATABASE_PASSWORD", "db-pass-7f3a"),
            ("DATAHUB_ENDPOINT", "not a url"),
            ("DATAHUB_ACCESS_KEY", "dh-key-91bc"),
            ("DATAHUB_PROJECT", "a/b"),
            ("DATAHUB_TOPIC", ""),
            ("RETRY_MAX_ATTEMPTS", "0"),
            ("MONITORING_PORT", "70000"),
            ("LOG_LEVEL", "loud"),
            ("CDC_START_POSITION", "somewhere"),
            ("CDC_BATCH_MAX_RECORDS", "20000"),
            ("CDC_QUEUE_CAPACITY", "-1"),
        ]);
        let err = load_from(&e, None, Purpose::Run).unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "DATABASE_HOST",
                "DATABASE_PORT",
                "DATABASE_USERNAME",
                "DATAHUB_ENDPOINT",
                "DATAHUB_ACCESS_ID",
                "DATAHUB_PROJECT",
                "DATAHUB_TOPIC",
                "RETRY_MAX_ATTEMPTS",
                "MONITORING_PORT",
                "LOG_LEVEL",
                "CDC_START_POSITION",
                "CDC_BATCH_MAX_RECORDS",
                "CDC_QUEUE_CAPACITY",
            ]
        );
        let text = err.to_string();
        assert!(text.contains("DATABASE_PORT: `abc` is not a port number (1-65535)"), "{text}");
        assert!(text.contains("DATAHUB_TOPIC: missing"), "{text}");
        assert!(!text.contains("db-pass-7f3a") && !text.contains("dh-key-91bc"), "{text}");
    }

    #[test]
    fn file_problems_are_named_with_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdc.toml");
        std::fs::write(&path, "database_port = 0\nnot_a_key = 1\n").unwrap();
        let err = load_from(&minimal(), Some(&path), Purpose::Run).unwrap_err().to_string();
        assert!(err.contains("unknown key `not_a_key`"), "{err}");
        assert!(
            err.contains(&format!("DATABASE_PORT: `0` is not a port number (1-65535) (from {})", path.display())),
            "{err}"
        );
        let missing = load_from(&minimal(), Some(&dir.path().join("nope.toml")), Purpose::Run).unwrap_err();
        assert_eq!(missing.0[0].key, CONFIG_FILE_ENV);
    }

    #[test]
    fn tail_needs_no_datahub_settings_but_checks_given_ones() {
        let mut e = minimal();
        for k in ["DATAHUB_ENDPOINT", "DATAHUB_ACCESS_ID", "DATAHUB_ACCESS_KEY", "DATAHUB_PROJECT", "DATAHUB_TOPIC"] {
            e.remove(k);
        }
        let c = load_from(&e, None, Purpose::SourceOnly).unwrap();
        assert!(c.datahub.is_none());
        assert!(load_from(&e, None, Purpose::Run).is_err());
        e.insert("DATAHUB_TOPIC".into(), "t".into());
        let err = load_from(&e, None, Purpose::SourceOnly).unwrap_err();
        assert!(err.to_string().contains("DATAHUB_ENDPOINT: missing"), "{err}");
    }

    #[test]
    fn misspelt_variables_are_found() {
        let mut e = minimal();
        e.extend(env(&[
            ("CDC_BATCH_MAX_RECORD", "5"),
            ("DATAHUB_TOPICS", "x"),
            ("CDC_TEST_MARIADB", "h:1"),
            ("PATH", "/bin"),
        ]));
        assert_eq!(unknown_env_keys(&e), ["CDC_BATCH_MAX_RECORD", "DATAHUB_TOPICS"]);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut e = minimal();
        e.insert("DATAHUB_SECURITY_TOKEN".into(), "sts-token-55aa".into());
        let c = load_from(&e, None, Purpose::Run).unwrap();
        let dbg = format!("{c:?} {:?}", c.source_config());
        for secret in ["db-pass-7f3a", "dh-key-91bc", "sts-token-55aa"] {
            assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
        }
        assert!(dbg.contains("***"));
        assert!(dbg.contains("AKID"), "non-secret values stay visible");
    }
}
