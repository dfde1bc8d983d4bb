//! The service's own settings, outside the source and sink sections: sink retries
//! ([`RetrySettings`]), monitoring port, logging ([`LogFormat`]), checkpoint file, start
//! position, batching, queue, shutdown grace and liveness timeout.

use std::path::PathBuf;
use std::time::Duration;

use cdc_core::batch::BatchLimits;
use cdc_core::position::StartPosition;

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

/// The settings of this module, read; [`super::ServiceConfig`] holds them as its own fields.
#[derive(Debug, Clone)]
pub(super) struct Runtime {
    pub(super) retry: RetrySettings,
    pub(super) monitoring_port: u16,
    pub(super) log_level: tracing::Level,
    pub(super) log_format: LogFormat,
    pub(super) offset_path: PathBuf,
    pub(super) start_position: StartPosition,
    pub(super) batch: BatchLimits,
    pub(super) queue_capacity: usize,
    pub(super) shutdown_grace: Duration,
    pub(super) liveness_timeout: Duration,
}

impl Runtime {
    /// Reads every key of this module; problems go to `f`, defaults stand in for bad values.
    pub(super) fn read(f: &mut Fields<'_>) -> Self {
        let retry = RetrySettings {
            max_attempts: f.int(&keys::RETRY_MAX_ATTEMPTS),
            backoff: f.millis(&keys::RETRY_BACKOFF_MS),
        };
        let monitoring_port = f.port(&keys::MONITORING_PORT);
        let log_level = match f.choice(&keys::LOG_LEVEL) {
            "TRACE" => tracing::Level::TRACE,
            "DEBUG" => tracing::Level::DEBUG,
            "WARN" => tracing::Level::WARN,
            "ERROR" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        let log_format = match f.choice(&keys::CDC_LOG_FORMAT) {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let offset_path = f.path(&keys::CDC_OFFSET_PATH);
        let start_position = f.position(&keys::CDC_START_POSITION);
        let batch = BatchLimits {
            max_records: f.int(&keys::CDC_BATCH_MAX_RECORDS),
            max_bytes: f.int(&keys::CDC_BATCH_MAX_BYTES),
            linger: f.millis(&keys::CDC_BATCH_LINGER_MS),
        };
        let queue_capacity = f.int(&keys::CDC_QUEUE_CAPACITY);
        let shutdown_grace = f.millis(&keys::CDC_SHUTDOWN_GRACE_MS);
        let liveness_timeout = f.millis(&keys::CDC_LIVENESS_TIMEOUT_MS);
        Self {
            retry,
            monitoring_port,
            log_level,
            log_format,
            offset_path,
            start_position,
            batch,
            queue_capacity,
            shutdown_grace,
            liveness_timeout,
        }
    }
}
