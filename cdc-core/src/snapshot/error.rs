//! Why a snapshot could not start or stopped ([`SnapshotError`]).

use super::progress::TableId;

/// Errors of the snapshot reader and of the watermark state machine.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A query failed or the connection was lost. The snapshot can be resumed from the last
    /// [`super::SnapshotProgress`] the consumer acknowledged.
    #[error("snapshot query failed: {0}")]
    Sql(#[from] mysql_async::Error),
    /// The server gave no binlog position for the consistent snapshot: it is not MariaDB (or
    /// Percona Server) with binary logging on, so `SHOW STATUS LIKE 'binlog_snapshot_%'` is
    /// empty. Use the lock-free watermark snapshot ([`super::watermark`]) on such servers.
    #[error(
        "the server reports no binlog_snapshot_file/binlog_snapshot_position after START TRANSACTION WITH \
         CONSISTENT SNAPSHOT (a MariaDB or Percona Server feature, with log_bin=ON); use the watermark snapshot"
    )]
    NoConsistentPoint,
    /// A resumed snapshot must deliver the binlog between its stored point and its new
    /// consistent point, but the binlog source gave a commit without a file position (a
    /// GTID-only resume), so the new point cannot be located in the stream.
    #[error(
        "the snapshot resumes at a later binlog point, but the stream gave a commit without a binlog file position; \
         resume the snapshot from a file/position checkpoint"
    )]
    NoResumePosition,
    /// A table to snapshot does not exist (no columns in `information_schema.COLUMNS`).
    #[error("table {0} does not exist (no columns in information_schema.COLUMNS)")]
    NoSuchTable(TableId),
    /// A column type without a decoding rule (also unsupported by the binlog decoder), e.g.
    /// MariaDB's INET6 / UUID data-type plugins.
    #[error(
        "table {table}: column {column} has type {column_type}, which the snapshot cannot read like the binlog decoder"
    )]
    UnsupportedType {
        /// The table.
        table: TableId,
        /// The column.
        column: String,
        /// Its `COLUMN_TYPE`.
        column_type: String,
    },
    /// A value the server returned does not fit its column's rule (e.g. a DECIMAL that is not
    /// ASCII), or a stored key value cannot be bound again.
    #[error("table {table}: {message}")]
    Value {
        /// The table.
        table: TableId,
        /// What.
        message: String,
    },
    /// The watermark state machine was driven out of order (a high watermark before the chunk's
    /// rows, an unknown window id); the message says which call.
    #[error("watermark snapshot: {0}")]
    Protocol(String),
}
