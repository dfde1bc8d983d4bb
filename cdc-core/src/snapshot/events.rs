//! Snapshot rows as [`ChangeEvent`]s with `op: Read` ([`ReadEvents`]), and how they are marked
//! in the envelope's `source.snapshot` ([`SnapshotMark`]).
//!
//! A read event looks like a create from the binlog (same column names, same values, same
//! `key_columns`, so the same partition key), with `before` None and the `source` block of the
//! snapshot: the point's binlog file and position, `row` = running index of the row in the
//! snapshot, `gtid` None (the point's GTID *set* is not one transaction's GTID), `ts_ms` = when
//! the snapshot began, `server_id` of the server read.
//!
//! `source.snapshot` is written `"false"` by the event encoder today (`event.rs`); the mark of a
//! read event ([`SnapshotMark`]) is for the field the encoder will carry.

use std::sync::Arc;

use super::point::SnapshotPoint;
use crate::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};

use super::layout::TableLayout;

/// What `source.snapshot` says of an event (Debezium's `SnapshotRecord`: `true`, `last`,
/// `incremental`; `false` for streamed changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotMark {
    /// A streamed change: `"false"`.
    False,
    /// A row of the initial snapshot: `"true"`.
    True,
    /// The initial snapshot's last row: `"last"` (see [`super::SnapshotChunk::last`]).
    Last,
    /// A row of a watermark (incremental) snapshot chunk: `"incremental"`.
    Incremental,
}

impl SnapshotMark {
    /// The envelope text.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMark::False => "false",
            SnapshotMark::True => "true",
            SnapshotMark::Last => "last",
            SnapshotMark::Incremental => "incremental",
        }
    }
}

/// Builds the read events of one table.
#[derive(Debug, Clone)]
pub struct ReadEvents {
    info: Arc<RowsEventInfo>,
    columns: Arc<[Arc<str>]>,
    key_columns: Arc<[usize]>,
}

impl ReadEvents {
    /// Events of `layout`'s table, named `name` (the logical server name of `source.name`),
    /// placed at `point` (its binlog position, server_id and timestamp).
    pub fn new(name: &str, point: &SnapshotPoint, layout: &TableLayout) -> Self {
        Self {
            info: Arc::new(RowsEventInfo {
                name: name.into(),
                server_id: point.server_id,
                db: layout.id.db.as_str().into(),
                table: layout.id.table.as_str().into(),
                file: point.position.file.as_str().into(),
                pos: point.position.pos,
                gtid: None,
                ts_ms: point.ts_ms,
                origin: crate::event::Origin::Snapshot { last: false },
            }),
            columns: layout.columns.clone(),
            key_columns: layout.key_columns.clone(),
        }
    }

    /// The read event of one row (`values` in column order), `row` its running index.
    pub fn event(&self, values: Vec<Value>, row: u32, now_ms: i64) -> ChangeEvent {
        ChangeEvent {
            op: Op::Read,
            before: None,
            after: Some(Row { columns: self.columns.clone(), values }),
            source: SourceInfo { event: self.info.clone(), row },
            ts_ms: now_ms,
            transaction: None,
            key_columns: self.key_columns.clone(),
        }
    }
}
