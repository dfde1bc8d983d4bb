//! [`ServiceConfig`]: the source and sink sections plus the service's own settings, which are
//! read here: sink retries ([`RetrySettings`]), monitoring port, logging ([`LogFormat`]),
//! checkpoint file, start position, batching, queue, shutdown grace and liveness timeout.
//!
//! A service-wide key is one field of [`ServiceConfig`], read in [`ServiceConfig::read`]'s
//! struct literal through its table entry.

use std::path::PathBuf;
use std::time::Duration;

use cdc_core::batch::BatchLimits;
use cdc_core::position::{BinlogPosition, StartPosition};
use cdc_core::snapshot::{parse_signal_table, SnapshotConfig, SnapshotMethod, SnapshotMode, TableId};
use cdc_core::source::SourceConfig;

use super::database::DatabaseSettings;
use super::datahub::DataHubSettings;
use super::fields::Fields;
use super::keys;

/// Retry of failed DataHub requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// `RETRY_MAX_ATTEMPTS`: attempts per request including the first, ≥ 1; default 3.
    pub max_attempts: u32,
    /// `RETRY_BACKOFF_MS`: initial backoff between attempts; default 2000 ms.
    pub backoff: Duration,
}

/// Log output format (`CDC_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole, validated service configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
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
    /// `CDC_SNAPSHOT_MODE`: when to snapshot; unset, `initial`, or `never` when
    /// `CDC_START_POSITION` is set to other than `latest` (a start position says where to
    /// stream from, as Flink CDC's `scan.startup.mode` does).
    pub snapshot_mode: SnapshotMode,
    /// `CDC_SNAPSHOT_METHOD`: `watermark` forces the watermark snapshot (`Some`); `auto` (the
    /// default) is None: what the server allows.
    pub snapshot_method: Option<SnapshotMethod>,
    /// `CDC_SNAPSHOT_CHUNK_ROWS`: rows per snapshot chunk; default 8192.
    pub snapshot_chunk_rows: usize,
    /// `CDC_SNAPSHOT_SIGNAL_TABLE`: the watermark snapshot's signal table; None: `cdc_signal`
    /// in the first captured schema (`cdc_core::snapshot::signal_table_of`).
    pub snapshot_signal_table: Option<TableId>,
    /// `CDC_SCHEMA_HISTORY`: keep a schema history (default on); see [`Self::schema_history_path`].
    pub schema_history: bool,
    /// `CDC_SCHEMA_HISTORY_SKIP`: positions of DDL statements the history skips; default none.
    pub schema_history_skip: Vec<BinlogPosition>,
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
    /// Source settings.
    pub database: DatabaseSettings,
    /// Sink settings; `None` only when loaded for [`super::Purpose::SourceOnly`] without them.
    pub datahub: Option<DataHubSettings>,
}

impl ServiceConfig {
    /// The schema history file: `CDC_OFFSET_PATH` with `.schema_history.jsonl` appended, so the
    /// history and the checkpoint it is read with live and are removed together.
    pub fn schema_history_path(&self) -> PathBuf {
        let mut p = self.offset_path.clone().into_os_string();
        p.push(".schema_history.jsonl");
        PathBuf::from(p)
    }

    /// The snapshot settings in `cdc-core`'s shape (`CDC_SNAPSHOT_CHUNK_ROWS`,
    /// `CDC_SNAPSHOT_SIGNAL_TABLE`, `CDC_SNAPSHOT_METHOD`), events named `name`.
    pub fn snapshot_config(&self, name: impl Into<String>) -> SnapshotConfig {
        let mut snapshot = SnapshotConfig::new(name);
        snapshot.chunk_rows = self.snapshot_chunk_rows;
        snapshot.signal_table = self.snapshot_signal_table.clone();
        snapshot.method = self.snapshot_method;
        snapshot
    }

    /// The binlog source settings in `cdc-core`'s shape.
    pub fn source_config(&self) -> SourceConfig {
        self.database.source_config()
    }

    /// Reads every service-wide key (problems go to `f`), then takes the sections: `None` when
    /// the database section is. Fields are evaluated in the order written, so `database` comes
    /// last: the keys above are read and checked whatever the sections hold.
    pub(super) fn read(
        f: &mut Fields<'_>,
        database: Option<DatabaseSettings>,
        datahub: Option<DataHubSettings>,
    ) -> Option<Self> {
        let start_position = f.position(&keys::CDC_START_POSITION);
        Some(Self {
            retry: RetrySettings {
                max_attempts: f.int(&keys::RETRY_MAX_ATTEMPTS),
                backoff: f.millis(&keys::RETRY_BACKOFF_MS),
            },
            monitoring_port: f.port(&keys::MONITORING_PORT),
            log_level: match f.choice(&keys::LOG_LEVEL) {
                "TRACE" => tracing::Level::TRACE,
                "DEBUG" => tracing::Level::DEBUG,
                "WARN" => tracing::Level::WARN,
                "ERROR" => tracing::Level::ERROR,
                _ => tracing::Level::INFO,
            },
            log_format: match f.choice(&keys::CDC_LOG_FORMAT) {
                "json" => LogFormat::Json,
                _ => LogFormat::Text,
            },
            offset_path: f.path(&keys::CDC_OFFSET_PATH),
            snapshot_mode: {
                let explicit = f.is_set(&keys::CDC_SNAPSHOT_MODE);
                let mode: SnapshotMode = f.choice(&keys::CDC_SNAPSHOT_MODE).parse().expect("the key's values parse");
                if explicit || matches!(start_position, StartPosition::Latest) {
                    mode
                } else {
                    SnapshotMode::Never
                }
            },
            start_position,
            snapshot_method: (f.choice(&keys::CDC_SNAPSHOT_METHOD) == "watermark").then_some(SnapshotMethod::Watermark),
            snapshot_chunk_rows: f.int(&keys::CDC_SNAPSHOT_CHUNK_ROWS),
            snapshot_signal_table: f
                .text(&keys::CDC_SNAPSHOT_SIGNAL_TABLE)
                .and_then(|t| parse_signal_table(&t).map_err(|e| f.problem(&keys::CDC_SNAPSHOT_SIGNAL_TABLE, e)).ok()),
            schema_history: f.choice(&keys::CDC_SCHEMA_HISTORY) == "on",
            schema_history_skip: {
                let mut out = Vec::new();
                for item in f.list(&keys::CDC_SCHEMA_HISTORY_SKIP) {
                    match item.parse::<BinlogPosition>() {
                        Ok(p) => out.push(p),
                        Err(e) => f.problem(&keys::CDC_SCHEMA_HISTORY_SKIP, e),
                    }
                }
                out
            },
            batch: BatchLimits {
                max_records: f.int(&keys::CDC_BATCH_MAX_RECORDS),
                max_bytes: f.int(&keys::CDC_BATCH_MAX_BYTES),
                linger: f.millis(&keys::CDC_BATCH_LINGER_MS),
            },
            queue_capacity: f.int(&keys::CDC_QUEUE_CAPACITY),
            shutdown_grace: f.millis(&keys::CDC_SHUTDOWN_GRACE_MS),
            liveness_timeout: f.millis(&keys::CDC_LIVENESS_TIMEOUT_MS),
            datahub,
            database: database?,
        })
    }
}
