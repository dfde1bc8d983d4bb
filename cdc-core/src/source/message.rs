//! [`SourceMessage`]: what a change source yields, in source order, on its bounded channel —
//! row changes, consistent points (checkpoints), schema changes and heartbeats. The pipeline
//! consumes them without knowing which source produced them.

use crate::event::ChangeEvent;
use crate::position::BinlogPosition;

use crate::checkpoint::Checkpoint;

/// One item of the source's output, in binlog order.
#[derive(Debug, Clone)]
pub enum SourceMessage {
    /// Decoded row changes (WRITE/UPDATE/DELETE_ROWS) of one transaction, in binlog order; never
    /// empty: the rows of one rows event, or of several consecutive ones (up to about 8,192
    /// column values or 256 KiB of binlog row data, see `stream_once`). An UPDATE that changes
    /// the primary key contributes a delete and a create.
    Events(Vec<ChangeEvent>),
    /// A transaction committed (XID or COMMIT): every event before this message belongs to
    /// committed transactions, and resuming at `Checkpoint.position` re-reads nothing of them.
    Commit(Checkpoint),
    /// A DDL statement of a captured database was read (QUERY event). Every event before it
    /// was decoded with the schema before the change, every event after it with the schema
    /// after. Not a consistent point by itself: a [`SourceMessage::Commit`] follows.
    SchemaChange(SchemaChange),
    /// The server is alive and the source is at `position` with no open transaction.
    Heartbeat {
        /// Current position.
        position: BinlogPosition,
        /// Binlog timestamp of the heartbeat (ms since epoch; 0 when unknown).
        ts_ms: i64,
    },
}

impl SourceMessage {
    /// The change events this message carries: those of [`SourceMessage::Events`], none for the
    /// others.
    pub fn events(&self) -> &[ChangeEvent] {
        match self {
            SourceMessage::Events(events) => events,
            _ => &[],
        }
    }
}

/// A DDL statement as the source read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// The statement's default database (the QUERY event's schema; may be empty).
    pub db: String,
    /// The statement as logged.
    pub sql: String,
    /// The end position of the QUERY event.
    pub position: BinlogPosition,
    /// Binlog timestamp, ms since the epoch.
    pub ts_ms: i64,
}

/// Sends `msg` on `tx` unless `cancel` fires first; false when cancelled or the receiver is
/// gone (the consumer stopped).
pub(crate) async fn send_or_cancel(
    tx: &tokio::sync::mpsc::Sender<SourceMessage>,
    msg: SourceMessage,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = tx.send(msg) => r.is_ok(),
    }
}
