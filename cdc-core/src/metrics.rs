//! Metric names, in one place. Every name carries its unit (`_total`, `_seconds`, `_bytes`)
//! and is recorded through the `metrics` facade; the service installs the Prometheus exporter.
//!
//! Labels: `op` (`c`/`u`/`d`), `outcome` (`ok`/`retry`/`error`), `code` (DataHub `ErrorCode`),
//! `reason` (why an event was skipped).

/// Counter: row events read from the binlog and decoded, by `op`.
pub const EVENTS_TOTAL: &str = "cdc_events_total";
/// Counter: binlog bytes received (event sizes).
pub const BINLOG_BYTES_TOTAL: &str = "cdc_binlog_bytes_total";
/// Counter: binlog events not turned into change events, by `reason` (`filtered`,
/// `unknown_event`, `skipped_event`...).
pub const BINLOG_EVENTS_SKIPPED_TOTAL: &str = "cdc_binlog_events_skipped_total";
/// Counter: zero dates (`0000-00-00`) emitted as null.
pub const ZERO_DATES_TOTAL: &str = "cdc_zero_dates_total";
/// Gauge: now minus the binlog timestamp of the last event read, seconds.
pub const REPLICATION_LAG_SECONDS: &str = "cdc_replication_lag_seconds";
/// Gauge: messages (rows events, commits, heartbeats) waiting in the source → batcher channel.
pub const QUEUE_DEPTH: &str = "cdc_queue_depth";
/// Counter: source (re)connections, by `outcome`.
pub const SOURCE_CONNECTS_TOTAL: &str = "cdc_source_connects_total";
/// Counter: sink HTTP requests, by `outcome` and `code`.
pub const SINK_REQUESTS_TOTAL: &str = "cdc_sink_requests_total";
/// Histogram: sink HTTP request duration, seconds.
pub const SINK_REQUEST_DURATION_SECONDS: &str = "cdc_sink_request_duration_seconds";
/// Counter: sink request retries, by `code`.
pub const SINK_RETRIES_TOTAL: &str = "cdc_sink_retries_total";
/// Counter: records acknowledged by DataHub.
pub const SINK_RECORDS_TOTAL: &str = "cdc_sink_records_total";
/// Counter: record payload bytes acknowledged by DataHub.
pub const SINK_BYTES_TOTAL: &str = "cdc_sink_bytes_total";
/// Counter: batches the pipeline re-sent after a transient sink failure.
pub const PIPELINE_BATCH_RETRIES_TOTAL: &str = "cdc_pipeline_batch_retries_total";
/// Histogram: time from a batch's first send to its acknowledgement (retries included), seconds.
pub const PIPELINE_BATCH_SECONDS: &str = "cdc_pipeline_batch_ack_seconds";
/// Histogram: rows per batch handed to the sink.
pub const PIPELINE_BATCH_ROWS: &str = "cdc_pipeline_batch_rows";
/// Counter: checkpoints stored.
pub const CHECKPOINTS_TOTAL: &str = "cdc_checkpoints_total";
/// Gauge: binlog file index of the last stored checkpoint (`binlog.000012` → 12).
pub const CHECKPOINT_FILE_INDEX: &str = "cdc_checkpoint_file_index";
/// Gauge: byte position of the last stored checkpoint in its file.
pub const CHECKPOINT_POSITION_BYTES: &str = "cdc_checkpoint_position_bytes";
/// Gauge: Unix time of the last stored checkpoint, seconds.
pub const CHECKPOINT_TIMESTAMP_SECONDS: &str = "cdc_checkpoint_timestamp_seconds";
/// Counter: rows read by the initial snapshot, labelled `table` (`db.table`).
pub const SNAPSHOT_ROWS_TOTAL: &str = "cdc_snapshot_rows_total";
/// Gauge: tables of the initial snapshot not finished yet (0 when done or none).
pub const SNAPSHOT_TABLES_REMAINING: &str = "cdc_snapshot_tables_remaining";
/// Gauge: seconds the initial snapshot has run (its total once done).
pub const SNAPSHOT_DURATION_SECONDS: &str = "cdc_snapshot_duration_seconds";
/// Counter: DDL statements of captured databases read from the binlog.
pub const SCHEMA_CHANGES_TOTAL: &str = "cdc_schema_changes_total";
