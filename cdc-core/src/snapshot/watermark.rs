//! The lock-free chunked snapshot with low/high watermarks (DBLog, arXiv 2010.12597; Debezium's
//! incremental snapshot), as a pure state machine without I/O ([`IncrementalSnapshot`]): for
//! servers that offer no consistent-snapshot point (MySQL without locks, OceanBase), for very
//! large tables, and for re-snapshots of single tables while streaming.
//!
//! One chunk, driven by the caller (the streaming loop):
//! 1. [`IncrementalSnapshot::next_chunk`] says which rows to read next (table, after which key,
//!    how many) and gives the window an id.
//! 2. The caller writes the *low watermark* (e.g. an INSERT into a signal table carrying the
//!    id, committed), then SELECTs the chunk ([`super::read_chunk`]) and hands its rows to
//!    [`IncrementalSnapshot::on_chunk_read`], then writes the *high watermark*.
//! 3. The stream goes on; the caller passes every streamed change event to
//!    [`IncrementalSnapshot::on_stream_event`] (and emits it, always), calls
//!    [`IncrementalSnapshot::on_low_watermark`] when the stream reaches the low watermark and
//!    [`IncrementalSnapshot::on_high_watermark`] when it reaches the high one, which returns the
//!    chunk rows to emit there.
//!
//! The rule (DBLog): a chunk row whose key appears in any change of the same table between the
//! low and the high watermark is dropped — the stream's event wins. The remaining rows are
//! emitted at the high watermark. Per key, the output is then in causal order: a change before
//! the low watermark precedes the row (which shows its effect or a later state), a change in
//! the window replaces the row, a change after the high watermark follows it. The per-chunk
//! progress is a [`SnapshotProgress`] (the next chunk starts after the last key *read*, dropped
//! rows included), so a restart re-reads at most the chunk whose window was open.
//!
//! Keys are compared as the text of [`crate::event::Value::write_key`] of the key columns of an
//! event's before and after images (so the chunk SELECT and the binlog must give identical
//! values: the differential test of the snapshot reader checks that). A table without a primary
//! key is read whole in one window ([`super::read_chunk`] ignores the limit for it) with the
//! whole row image as its key: exact unless the table holds identical rows (then a change of one
//! drops all the identical chunk rows). Two key values equal under a
//! case- or accent-insensitive collation but with different bytes (`'a'`/`'A'`) are different
//! keys here: harmless for a primary key, where only one of them can exist at a time, except
//! when a change in the window swaps one for the other.
//!
//! Safety of the watermarks: a write-based watermark (a committed INSERT, Debezium's default
//! `incremental.snapshot.watermarking.strategy`) with `binlog_order_commits=ON` is safe; a
//! read-only watermark (`SHOW MASTER STATUS`) can miss a transaction that is in the binlog but not
//! yet visible to the SELECT (binlog subscribers see a transaction at the binlog sync stage,
//! before the engine commit makes its rows visible: github.com/block/spirit PR #1080).

use std::collections::HashSet;

use super::chunk::ChunkRows;
use super::error::SnapshotError;
use super::progress::{KeyValue, SnapshotProgress, TableId, TableState};
use crate::event::{ChangeEvent, Row};

/// The next chunk to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRequest {
    /// The window's id: write it into both watermarks so the stream can tell them apart.
    pub id: u64,
    /// The table.
    pub table: TableId,
    /// Read the rows after this key (None: from the first row).
    pub after: Option<Vec<KeyValue>>,
    /// At most this many rows, in primary-key order. A table without a primary key is read
    /// whole in this window instead ([`super::read_chunk`] does so, and says `exhausted`).
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The low watermark is written (or about to be) but not yet seen in the stream.
    AwaitingLow,
    /// Between the low and the high watermark in the stream.
    Open,
}

#[derive(Debug)]
struct Window {
    request: ChunkRequest,
    rows_before: u64,
    phase: Phase,
    /// Keys changed in the window (see [`event_keys`]).
    seen: HashSet<String>,
    chunk: Option<ChunkRows>,
}

/// The watermark snapshot of a list of tables (see the module docs).
#[derive(Debug)]
pub struct IncrementalSnapshot {
    progress: SnapshotProgress,
    chunk_rows: usize,
    next_id: u64,
    window: Option<Window>,
    dropped: u64,
}

impl IncrementalSnapshot {
    /// A snapshot of the tables of `progress` (fresh: [`SnapshotProgress::new`]; resumed: the
    /// progress last recorded, whose in-progress tables continue after their key), in chunks
    /// of `chunk_rows` (at least 1). Window ids start at `first_id` (use something that
    /// watermarks of an earlier run cannot carry, e.g. a timestamp).
    pub fn new(progress: SnapshotProgress, chunk_rows: usize, first_id: u64) -> Self {
        Self { progress, chunk_rows: chunk_rows.max(1), next_id: first_id, window: None, dropped: 0 }
    }

    /// Adds `tables` to the snapshot (an ad-hoc snapshot signal): a table not listed is appended
    /// pending, a table done is read again from its start (pending), a table pending or being
    /// read is left as it is. Returns the tables that will be read (again).
    pub fn add_tables(&mut self, tables: &[TableId]) -> Vec<TableId> {
        let mut added = Vec::new();
        for t in tables {
            match self.progress.state(t) {
                Some(TableState::Pending | TableState::InProgress { .. }) => {}
                None | Some(TableState::Done { .. }) => {
                    self.progress.set(t, TableState::Pending);
                    added.push(t.clone());
                }
            }
        }
        added
    }

    /// The progress after the last closed window (record it in the checkpoint with the stream
    /// position of that window's high watermark).
    pub fn progress(&self) -> &SnapshotProgress {
        &self.progress
    }

    /// Chunk rows dropped so far because the stream changed their key in the window.
    pub fn dropped_rows(&self) -> u64 {
        self.dropped
    }

    /// True while a window is open or awaited (between `next_chunk` and `on_high_watermark`).
    pub fn in_window(&self) -> bool {
        self.window.is_some()
    }

    /// True when every table is done and no window is open.
    pub fn is_done(&self) -> bool {
        self.window.is_none() && self.progress.is_done()
    }

    /// Opens the next window: which chunk to read. None when every table is done.
    ///
    /// Errors: [`SnapshotError::Protocol`] when a window is still open.
    pub fn next_chunk(&mut self) -> Result<Option<ChunkRequest>, SnapshotError> {
        if let Some(w) = &self.window {
            return Err(SnapshotError::Protocol(format!("next_chunk while window {} is open", w.request.id)));
        }
        let Some(t) = self.progress.tables.iter().find(|t| !matches!(t.state, TableState::Done { .. })) else {
            return Ok(None);
        };
        let (after, rows_before) = match &t.state {
            TableState::InProgress { after, rows } => (after.clone(), *rows),
            _ => (None, 0),
        };
        let request = ChunkRequest { id: self.next_id, table: t.table.clone(), after, limit: self.chunk_rows };
        self.next_id += 1;
        self.window = Some(Window {
            request: request.clone(),
            rows_before,
            phase: Phase::AwaitingLow,
            seen: HashSet::new(),
            chunk: None,
        });
        Ok(Some(request))
    }

    fn window(&mut self, id: u64, call: &str) -> Result<&mut Window, SnapshotError> {
        match self.window.as_ref().map(|w| w.request.id) {
            Some(open) if open == id => Ok(self.window.as_mut().expect("checked")),
            Some(open) => Err(SnapshotError::Protocol(format!("{call}({id}) while window {open} is open"))),
            None => Err(SnapshotError::Protocol(format!("{call}({id}) with no window open"))),
        }
    }

    /// The stream reached the low watermark of window `id`.
    ///
    /// Errors: [`SnapshotError::Protocol`] for another id, or twice.
    pub fn on_low_watermark(&mut self, id: u64) -> Result<(), SnapshotError> {
        let w = self.window(id, "on_low_watermark")?;
        if w.phase != Phase::AwaitingLow {
            return Err(SnapshotError::Protocol(format!("low watermark {id} seen twice")));
        }
        w.phase = Phase::Open;
        Ok(())
    }

    /// The rows the chunk SELECT of window `id` returned (read after the low watermark was
    /// written, before the high one; the stream may be at any point).
    ///
    /// Errors: [`SnapshotError::Protocol`] for another id, or twice.
    pub fn on_chunk_read(&mut self, id: u64, rows: ChunkRows) -> Result<(), SnapshotError> {
        let w = self.window(id, "on_chunk_read")?;
        if w.chunk.is_some() {
            return Err(SnapshotError::Protocol(format!("chunk of window {id} read twice")));
        }
        w.chunk = Some(rows);
        Ok(())
    }

    /// A change event of the stream (every one, in stream order; the caller emits it as
    /// always). Inside an open window, a change of the window's table marks its keys (before
    /// and after image) so that chunk rows with those keys are dropped.
    pub fn on_stream_event(&mut self, ev: &ChangeEvent) {
        let Some(w) = &mut self.window else { return };
        if w.phase != Phase::Open || *ev.source.db != *w.request.table.db || *ev.source.table != *w.request.table.table
        {
            return;
        }
        for row in [&ev.before, &ev.after].into_iter().flatten() {
            w.seen.insert(row_key(row, &ev.key_columns));
        }
    }

    /// The stream reached the high watermark of window `id`: returns the chunk rows to emit
    /// now (those whose key no change in the window touched), closes the window and advances
    /// the progress.
    ///
    /// Errors: [`SnapshotError::Protocol`] for another id, before the low watermark, or before
    /// [`Self::on_chunk_read`] (write the high watermark only after the SELECT returned).
    pub fn on_high_watermark(&mut self, id: u64) -> Result<Vec<ChangeEvent>, SnapshotError> {
        let w = self.window(id, "on_high_watermark")?;
        if w.phase != Phase::Open {
            return Err(SnapshotError::Protocol(format!("high watermark {id} before its low watermark")));
        }
        let Some(chunk) = w.chunk.take() else {
            return Err(SnapshotError::Protocol(format!("high watermark {id} before the chunk's rows were read")));
        };
        let w = self.window.take().expect("checked above");
        let read = chunk.events.len() as u64;
        let rows = w.rows_before + read;
        let after = chunk.last_key.or(w.request.after);
        let state = if chunk.exhausted { TableState::Done { rows } } else { TableState::InProgress { after, rows } };
        self.progress.set(&w.request.table, state);
        let keep: Vec<ChangeEvent> = chunk
            .events
            .into_iter()
            .filter(|ev| ev.after.as_ref().is_none_or(|r| !w.seen.contains(&row_key(r, &ev.key_columns))))
            .collect();
        self.dropped += read - keep.len() as u64;
        Ok(keep)
    }
}

/// The identity of a row for the window: the key columns' values (all values when the table
/// has no key), as [`crate::event::Value::write_key`] text.
fn row_key(row: &Row, key_columns: &[usize]) -> String {
    let mut key = String::new();
    let mut put = |i: usize| {
        if let Some(v) = row.values.get(i) {
            v.write_key(&mut key);
        }
        key.push('\u{1}');
    };
    if key_columns.is_empty() {
        (0..row.values.len()).for_each(&mut put);
    } else {
        key_columns.iter().copied().for_each(&mut put);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> SnapshotProgress {
        SnapshotProgress::new([TableId::new("d", "t")])
    }

    fn empty(exhausted: bool) -> ChunkRows {
        ChunkRows { events: Vec::new(), last_key: None, exhausted }
    }

    #[test]
    fn calls_out_of_order_are_errors() {
        let mut s = IncrementalSnapshot::new(progress(), 10, 7);
        assert!(s.on_low_watermark(7).is_err(), "no window yet");
        let r = s.next_chunk().unwrap().unwrap();
        assert_eq!((r.id, r.after.clone(), r.limit), (7, None, 10));
        assert!(s.next_chunk().is_err(), "a window is open");
        assert!(s.on_low_watermark(8).is_err(), "another id");
        assert!(s.on_high_watermark(7).is_err(), "high before low");
        s.on_low_watermark(7).unwrap();
        assert!(s.on_low_watermark(7).is_err(), "low twice");
        assert!(s.on_high_watermark(7).is_err(), "high before the rows");
        s.on_chunk_read(7, empty(true)).unwrap();
        assert!(s.on_chunk_read(7, empty(true)).is_err(), "rows twice");
        assert!(s.on_high_watermark(7).unwrap().is_empty());
        assert!(s.is_done());
        assert_eq!(s.progress().state(&TableId::new("d", "t")), Some(&TableState::Done { rows: 0 }));
        assert_eq!(s.next_chunk().unwrap(), None);
    }

    #[test]
    fn a_resumed_snapshot_continues_after_the_recorded_key() {
        let mut p = progress();
        p.set(&TableId::new("d", "t"), TableState::InProgress { after: Some(vec![KeyValue::Int(41)]), rows: 41 });
        let mut s = IncrementalSnapshot::new(p, 5, 1);
        let r = s.next_chunk().unwrap().unwrap();
        assert_eq!(r.after, Some(vec![KeyValue::Int(41)]));
        s.on_low_watermark(1).unwrap();
        // An empty, not exhausted chunk (cannot happen with a real SELECT) keeps the key.
        s.on_chunk_read(1, empty(false)).unwrap();
        s.on_high_watermark(1).unwrap();
        assert_eq!(
            s.progress().state(&TableId::new("d", "t")),
            Some(&TableState::InProgress { after: Some(vec![KeyValue::Int(41)]), rows: 41 })
        );
    }
}
