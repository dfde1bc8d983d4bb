//! The consistent-snapshot reader ([`SnapshotReader`]): one connection, one `START TRANSACTION
//! WITH CONSISTENT SNAPSHOT`, every table read in primary-key order in chunks, sent as
//! [`SnapshotChunk`]s on a bounded channel (backpressure), each with the table's progress after
//! it, so the consumer can checkpoint per acknowledged chunk and a restart resumes after the
//! last acknowledged key.

use mysql_async::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::chunk::{read_chunk, RowConverter};
use super::error::SnapshotError;
use super::events::{ReadEvents, SnapshotMark};
use super::layout::TableLayout;
use super::point::SnapshotPoint;
use super::point::{begin_consistent, prepare_session};
use super::progress::{SnapshotMethod, SnapshotProgress, TableId, TableState};
use super::query;
use crate::event::ChangeEvent;

/// What to snapshot and how.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    /// Logical server name written to `source.name` of every event (the binlog source's
    /// `SourceConfig::name`).
    pub name: String,
    /// Most rows per chunk (one keyset query; also the size of the batches of a table without
    /// a primary key). At least 1. Default 8,192. The consistent snapshot also keeps a chunk
    /// near [`CHUNK_TARGET_BYTES`] (2 MiB estimated): a table of 1 KB rows is read about 2,000
    /// rows at a time, and a table's first chunk has at most 1,024 rows.
    pub chunk_rows: usize,
    /// The watermark snapshot's signal table (`CDC_SNAPSHOT_SIGNAL_TABLE`), where low and high
    /// watermarks are written on servers without a consistent point; None: `cdc_signal` in the
    /// first captured schema (`SourceConfig::schemas`), see [`super::signal_table_of`].
    pub signal_table: Option<TableId>,
    /// `Some(SnapshotMethod::Watermark)`: snapshot in watermark windows inside the stream even
    /// where a consistent point exists (MariaDB), so that every table streams during a long
    /// snapshot (`CDC_SNAPSHOT_METHOD=watermark`). None (the default): the consistent snapshot
    /// where the server has a point, the watermark snapshot elsewhere. `Some(Consistent)` is
    /// the same as None.
    pub method: Option<SnapshotMethod>,
}

impl SnapshotConfig {
    /// `name`, 8,192 rows per chunk, the default signal table, the method the server allows.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), chunk_rows: 8192, signal_table: None, method: None }
    }

    /// True when the watermark method is asked for whatever the server offers.
    pub fn forces_watermark(&self) -> bool {
        self.method == Some(SnapshotMethod::Watermark)
    }
}

/// Rows of one table read in one go, and where the table stands after them.
#[derive(Debug, Clone)]
pub struct SnapshotChunk {
    /// The table.
    pub table: TableId,
    /// Read events (`op: Read`), in primary-key order; may be empty (an empty table, or the
    /// empty query that finds a table's end).
    pub events: Vec<ChangeEvent>,
    /// The table's progress once these events are delivered: record it with
    /// [`SnapshotProgress::set`] when the sink has acknowledged them.
    pub state: TableState,
    /// True for the chunk holding the snapshot's last row (found by holding one chunk back, so
    /// it is right even when the last tables are empty): its last event is
    /// [`SnapshotMark::Last`], every other read event [`SnapshotMark::True`]
    /// ([`SnapshotChunk::mark`]). At most one chunk of a run has it (none when the snapshot has
    /// no rows at all, or when cancelled).
    pub last: bool,
}

impl SnapshotChunk {
    /// The `source.snapshot` mark of `self.events[i]`.
    pub fn mark(&self, i: usize) -> SnapshotMark {
        if self.last && i + 1 == self.events.len() {
            SnapshotMark::Last
        } else {
            SnapshotMark::True
        }
    }
}

/// The initial snapshot of a list of tables, consistent at one binlog point (MariaDB).
#[derive(Debug)]
pub struct SnapshotReader {
    conn: mysql_async::Conn,
    config: SnapshotConfig,
    progress: SnapshotProgress,
    point: SnapshotPoint,
}

impl SnapshotReader {
    /// Opens the snapshot on `conn` (a connection of its own: it holds one transaction until the
    /// reader ends): prepares the session, starts the consistent snapshot and reads its binlog
    /// point ([`super::begin_consistent`]).
    ///
    /// `progress` lists the tables in reading order; tables already done are skipped, a table
    /// in progress continues after its last key (or from its start when it has no primary
    /// key). A fresh snapshot passes [`SnapshotProgress::new`]. The point of a fresh snapshot is
    /// recorded in the progress; a resumed one keeps the stored point there and reads the
    /// remaining rows at this run's later point ([`Self::point`]): the binlog between the two
    /// must be delivered before those rows (see the module docs of [`crate::snapshot`]).
    ///
    /// Errors: [`SnapshotError::NoConsistentPoint`] on servers without
    /// `binlog_snapshot_file/position`; [`SnapshotError::Sql`].
    pub async fn open(
        mut conn: mysql_async::Conn,
        config: SnapshotConfig,
        mut progress: SnapshotProgress,
    ) -> Result<Self, SnapshotError> {
        prepare_session(&mut conn).await?;
        let point = begin_consistent(&mut conn).await?;
        if progress.point.is_none() {
            progress.point = Some(point.clone());
        }
        Ok(Self { conn, config, progress, point })
    }

    /// The binlog point this run reads at (for a fresh snapshot, the same as the progress's).
    pub fn point(&self) -> &SnapshotPoint {
        &self.point
    }

    /// The progress the reader starts from (with the point filled in).
    pub fn progress(&self) -> &SnapshotProgress {
        &self.progress
    }

    /// Reads every table not yet done and sends its chunks on `tx`, in order, then commits the
    /// transaction and returns the final progress (every table done). On `cancel` (or when the
    /// receiver is dropped) it stops between chunks and returns the progress of what it sent.
    ///
    /// Errors: [`SnapshotError::Sql`] (connection lost, DDL on a table being read:
    /// `ER_TABLE_DEF_CHANGED`), [`SnapshotError::Value`], [`SnapshotError::NoSuchTable`],
    /// [`SnapshotError::UnsupportedType`]. Chunks sent before the error stay valid: resume from
    /// the progress the consumer recorded.
    pub async fn run(
        mut self,
        tx: mpsc::Sender<SnapshotChunk>,
        cancel: CancellationToken,
    ) -> Result<SnapshotProgress, SnapshotError> {
        let mut out = Outbox { tx, held: Vec::new(), progress: self.progress.clone(), cancel };
        let tables: Vec<(TableId, TableState)> =
            self.progress.tables.iter().map(|t| (t.table.clone(), t.state.clone())).collect();
        // Rows are numbered across runs: a resumed run continues after the rows already
        // acknowledged, so `(file, pos, row, op)` never names two rows (a resume without writes
        // in between reads at the same point as the first run).
        let mut row_index: u32 = u32::try_from(self.progress.rows()).unwrap_or(u32::MAX);
        for (table, state) in tables {
            let (mut after, mut rows) = match state {
                TableState::Done { .. } => continue,
                TableState::Pending => (None, 0),
                TableState::InProgress { after, rows } => (after, rows),
            };
            let layout = TableLayout::load(&mut self.conn, &table).await?;
            let events = ReadEvents::new(&self.config.name, &self.point, &layout);
            if !layout.has_key() {
                // Read whole, from the start, in one statement: nothing to resume after.
                if !self.read_whole(&layout, &events, &mut out, &mut row_index).await? {
                    return Ok(out.progress);
                }
                continue;
            }
            let mut limit = first_chunk_rows(self.config.chunk_rows);
            loop {
                let chunk = read_chunk(&mut self.conn, &layout, after.as_deref(), limit, &events, row_index).await?;
                limit = next_chunk_rows(self.config.chunk_rows, &chunk.events);
                rows += chunk.events.len() as u64;
                row_index = row_index.saturating_add(chunk.events.len() as u32);
                if chunk.last_key.is_some() {
                    after = chunk.last_key;
                }
                let state = if chunk.exhausted {
                    TableState::Done { rows }
                } else {
                    TableState::InProgress { after: after.clone(), rows }
                };
                if !out.push(SnapshotChunk { table: table.clone(), events: chunk.events, state, last: false }).await {
                    return Ok(out.progress);
                }
                if chunk.exhausted {
                    break;
                }
            }
        }
        let progress = out.finish().await;
        self.conn.query_drop("COMMIT").await?;
        Ok(progress)
    }

    /// Reads a table without a primary key in one pass, in chunks of `chunk_rows`. False when
    /// cancelled.
    async fn read_whole(
        &mut self,
        layout: &TableLayout,
        events: &ReadEvents,
        out: &mut Outbox,
        row_index: &mut u32,
    ) -> Result<bool, SnapshotError> {
        let conv = RowConverter::new(layout);
        let mut limit = first_chunk_rows(self.config.chunk_rows);
        let now = crate::status::now_ms();
        let mut rows = 0u64;
        let mut batch = Vec::with_capacity(limit.min(65_536));
        let mut result = self.conn.exec_iter(query::whole_table(layout), ()).await?;
        loop {
            let next = result.next().await?;
            let end = next.is_none();
            if let Some(row) = next {
                batch.push(events.event(conv.values(row)?, *row_index, now));
                *row_index = row_index.saturating_add(1);
                rows += 1;
            }
            if end || batch.len() >= limit {
                let state = if end { TableState::Done { rows } } else { TableState::InProgress { after: None, rows } };
                let chunk =
                    SnapshotChunk { table: layout.id.clone(), events: std::mem::take(&mut batch), state, last: false };
                limit = next_chunk_rows(self.config.chunk_rows, &chunk.events);
                if !out.push(chunk).await {
                    return Ok(false);
                }
            }
            if end {
                return Ok(true);
            }
        }
    }
}

/// Estimated bytes ([`crate::batch::estimate_size`]) a chunk of the consistent snapshot aims
/// at: with the chunks the reader holds (one read, one held back, two queued, one forwarded)
/// its rows stay within about 10 MiB whatever their width. 2 MiB.
pub const CHUNK_TARGET_BYTES: usize = 2 << 20;

/// Rows of a table's first chunk, before its row size is known: `chunk_rows`, at most 1,024.
fn first_chunk_rows(chunk_rows: usize) -> usize {
    chunk_rows.clamp(1, 1024)
}

/// Rows of the next chunk after one that read `events`: as many as fit
/// [`CHUNK_TARGET_BYTES`] at their average estimated size, between 1 and `chunk_rows`
/// (`chunk_rows` again after an empty chunk). Only the chunk size changes — rows still come in
/// key order, and each chunk still carries the table's progress after it.
fn next_chunk_rows(chunk_rows: usize, events: &[ChangeEvent]) -> usize {
    let max = chunk_rows.max(1);
    if events.is_empty() {
        return first_chunk_rows(max);
    }
    let bytes: usize = events.iter().map(crate::batch::estimate_size).sum();
    let per_row = (bytes / events.len()).max(1);
    (CHUNK_TARGET_BYTES / per_row).clamp(1, max)
}

/// The sending side: holds back the chunks since the last non-empty one, so the chunk with the
/// snapshot's last row is known when it is sent.
struct Outbox {
    tx: mpsc::Sender<SnapshotChunk>,
    /// A non-empty chunk, then the empty ones after it (or only empty ones before the first
    /// non-empty chunk: those are sent at once).
    held: Vec<SnapshotChunk>,
    /// The progress after every chunk sent.
    progress: SnapshotProgress,
    cancel: CancellationToken,
}

impl Outbox {
    /// Queues `chunk`; false when cancelled or the receiver is gone.
    async fn push(&mut self, chunk: SnapshotChunk) -> bool {
        if chunk.events.is_empty() && self.held.is_empty() {
            return self.send(chunk).await;
        }
        if !chunk.events.is_empty() {
            for held in std::mem::take(&mut self.held) {
                if !self.send(held).await {
                    return false;
                }
            }
        }
        self.held.push(chunk);
        !self.cancel.is_cancelled()
    }

    /// Sends what is held, the first (non-empty) one marked last; returns the progress.
    async fn finish(mut self) -> SnapshotProgress {
        let mut held = std::mem::take(&mut self.held);
        if let Some(first) = held.first_mut() {
            first.last = true;
        }
        for chunk in held {
            if !self.send(chunk).await {
                break;
            }
        }
        self.progress
    }

    async fn send(&mut self, chunk: SnapshotChunk) -> bool {
        let (table, state) = (chunk.table.clone(), chunk.state.clone());
        let sent = tokio::select! {
            _ = self.cancel.cancelled() => false,
            r = self.tx.send(chunk) => r.is_ok(),
        };
        if sent {
            self.progress.set(&table, state);
        }
        sent
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("held", &self.held.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{Op, Origin, Row, RowsEventInfo, SourceInfo, Value};

    fn rows(n: usize, text: usize) -> Vec<ChangeEvent> {
        let info = Arc::new(RowsEventInfo {
            name: "n".into(),
            server_id: 1,
            db: "d".into(),
            table: "t".into(),
            file: "".into(),
            pos: 0,
            gtid: None,
            ts_ms: 0,
            origin: Origin::Snapshot { last: false },
        });
        let names: Arc<[Arc<str>]> = vec![Arc::from("id"), Arc::from("v")].into();
        (0..n)
            .map(|r| ChangeEvent {
                op: Op::Read,
                before: None,
                after: Some(Row {
                    columns: names.clone(),
                    values: vec![Value::Int(r as i64), Value::String("x".repeat(text).into())],
                }),
                source: SourceInfo { event: info.clone(), row: r as u32 },
                ts_ms: 0,
                transaction: None,
                key_columns: Arc::from(vec![0usize]),
            })
            .collect()
    }

    #[test]
    fn chunks_shrink_to_about_two_mib_for_wide_rows_and_stay_at_chunk_rows_for_narrow_ones() {
        assert_eq!(first_chunk_rows(8192), 1024);
        assert_eq!(first_chunk_rows(300), 300);
        assert_eq!(next_chunk_rows(8192, &rows(1024, 8)), 8192, "narrow rows: the configured size");
        let kb = next_chunk_rows(8192, &rows(1024, 1000));
        let per_row = crate::batch::estimate_size(&rows(1, 1000)[0]);
        assert!(kb < 8192 && kb * per_row <= CHUNK_TARGET_BYTES && (kb + 1) * per_row > CHUNK_TARGET_BYTES, "{kb}");
        assert_eq!(next_chunk_rows(8192, &rows(3, 4 << 20)), 1, "rows over the target: one at a time");
        assert_eq!(next_chunk_rows(8192, &[]), 1024, "after an empty chunk: the first size again");
        assert_eq!(next_chunk_rows(100, &rows(10, 8)), 100, "never above the configured size");
    }
}
