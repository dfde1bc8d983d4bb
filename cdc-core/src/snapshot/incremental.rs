//! The watermark (incremental) snapshot as a path of [`super::SnapshotThenStream`]: for servers
//! without a consistent-snapshot point — the OceanBase binlog service (declared or detected)
//! and MySQL (`begin_consistent` says [`SnapshotError::NoConsistentPoint`]) — the collector
//! streams the binlog from the current position and reads the captured tables chunk by chunk
//! *inside* the stream, with DBLog's low/high watermarks (Debezium's incremental snapshot with
//! a signal table; the state machine is [`IncrementalSnapshot`]).
//!
//! What it owns:
//! - the **signal table** (Debezium: `signal.data.collection`; [`SIGNAL_TABLE_DDL`]): created if
//!   missing, checked by the precheck (columns, INSERT privilege);
//! - the **driver**: for each chunk, write the low watermark (`INSERT INTO <signal> (kind, win)
//!   VALUES ('low', id)`, autocommit, so committed), read the chunk with [`read_chunk`] on a
//!   separate connection outside any transaction, write the high watermark (`'high'`);
//! - the **forwarder** between the binlog run and the pipeline: every change event goes to
//!   [`IncrementalSnapshot::on_stream_event`] and on to the pipeline; the signal table's rows
//!   are recognised (decoded even when the signal table is not captured,
//!   `SourceConfig::also_decode`) and never forwarded; at the high watermark the chunk's
//!   remaining rows are emitted right there in stream order (`op: "r"`, `source.snapshot =
//!   "incremental"`, the high watermark's binlog file and position, the table's primary key as
//!   key columns, so the same partition key as its changes); every [`SourceMessage::Commit`]
//!   forwarded while the snapshot runs carries the progress of the last closed window.
//!
//! **Per-key order.** A chunk row whose key changed between the watermarks is dropped (the
//! change in the stream carries a state at least as new); a change before the low watermark is
//! already in the stream before the row, which the SELECT read later and so shows that change
//! or a later state; a change after the high watermark is emitted after the row. With a
//! write-based watermark and a binlog in commit order (MySQL `binlog_order_commits=ON`, the
//! default; MariaDB; OceanBase's binlog in commit-version order), a change visible to the SELECT
//! is in the stream before the high watermark, and a change in the stream before the low
//! watermark is visible to it. The pipeline keeps channel order per key, so the topic holds, per
//! key, its changes and at most one snapshot image in causal order.
//!
//! **Checkpoints and resume.** The fresh checkpoint ([`WatermarkSnapshot::fresh`]) is the
//! current binlog position with every captured table pending ([`SnapshotMethod::Watermark`]).
//! A Commit's checkpoint is the stream position of that commit with `snapshot` = the progress
//! after the last closed window: rows of a closed window were emitted before the commit that
//! follows its high watermark, rows of an open window were not emitted at all. A restart streams
//! from the stored position (replaying, at least once, the changes after it) and continues the
//! chunks after the stored key; the open window's chunk is read again in a new window (window
//! ids start at the current time in microseconds, so watermarks of an earlier run are ignored).
//! Once every table is done, Commits carry no `snapshot`; `initial_only` returns after the first
//! of them.
//!
//! **Caveats.** A chunk is emitted only when the stream reaches its high watermark: on the
//! OceanBase binlog service, whose binlog lags the database by the converter's delay, a chunk
//! takes at least that delay, and the binlog service must include the signal table in its
//! table list (a window whose low watermark is not seen is logged every minute). The chunk
//! SELECT must be a strong read (OceanBase: not `ob_read_consistency = weak`), else it may miss
//! changes the stream has before the low watermark. A chunk is held in memory until its high
//! watermark (`chunk_rows` rows). The signal table's rows are kept (two per chunk; delete them
//! at will, the forwarder drops those deletes too).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::chunk::{read_chunk, ChunkRows};
use super::error::SnapshotError;
use super::events::ReadEvents;
use super::layout::TableLayout;
use super::mode::SnapshotMode;
use super::point::{begin_consistent, prepare_session, SnapshotPoint};
use super::progress::{SnapshotMethod, SnapshotProgress, TableId, TableState};
use super::query::ident;
use super::reader::SnapshotConfig;
use super::tables;
use super::watermark::{ChunkRequest, IncrementalSnapshot};
use crate::checkpoint::Checkpoint;
use crate::event::{ChangeEvent, Origin, RowsEventInfo, Value};
use crate::metrics as m;
use crate::position::{BinlogPosition, StartPosition};
use crate::retry::{wait_or_cancel, Backoff};
use crate::source::{
    is_oceanbase, send_or_cancel, split_events, BinlogSource, PrecheckProblem, SourceConfig, SourceError,
    SourceMessage, TableFilter,
};
use crate::status::{now_ms, SnapshotPhase, SnapshotStatus, Status};

/// The signal table's name in the first captured schema when none is configured.
pub const DEFAULT_SIGNAL_TABLE: &str = "cdc_signal";

/// The signal table's columns (after `CREATE TABLE IF NOT EXISTS <db>.<table>`): `kind` is
/// `low` or `high` (a watermark; `win` the window's id) or `snapshot` (an ad-hoc snapshot
/// signal; `data` the tables, [`parse_signal_tables`]).
pub const SIGNAL_TABLE_DDL: &str = "(id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(8) NOT NULL, \
     win BIGINT NOT NULL DEFAULT 0, data VARCHAR(4096) NULL)";

/// The `kind` of a signal row asking for an ad-hoc snapshot of the tables in its `data`.
pub const SNAPSHOT_SIGNAL: &str = "snapshot";

/// The `data` column of the signal table (added to a signal table created before it existed).
const SIGNAL_DATA_COLUMN: &str = "data VARCHAR(4096) NULL";

/// How long a window may wait for its low watermark in the stream before a warning (then again
/// every such period).
const WATERMARK_WARN_AFTER: Duration = Duration::from_secs(60);

/// Capacity of the channel between the binlog run and the forwarder, messages.
const INNER_CAPACITY: usize = 64;

/// Parses `db.table` (the value of `CDC_SNAPSHOT_SIGNAL_TABLE`; backticks around either part
/// are allowed).
///
/// Errors: the text of why, when there is no `.` or a part is empty.
pub fn parse_signal_table(text: &str) -> Result<TableId, String> {
    let unquote = |s: &str| s.trim().trim_matches('`').to_string();
    match text.trim().split_once('.') {
        Some((db, table)) if !unquote(db).is_empty() && !unquote(table).is_empty() => {
            Ok(TableId::new(unquote(db), unquote(table)))
        }
        _ => Err(format!("signal table `{text}` is not `db.table`")),
    }
}

/// The tables an ad-hoc snapshot signal's `data` names: `db.table` items separated by commas
/// (`shop.orders, shop.items`), or Debezium's `execute-snapshot` data, a JSON object with a
/// `data-collections` array of `db.table` strings
/// (<https://debezium.io/documentation/reference/stable/configuration/signalling.html>).
/// Backticks around either part are allowed; duplicates are dropped.
///
/// Errors: the text of why — no table, an item that is not `db.table`, JSON without
/// `data-collections`.
pub fn parse_signal_tables(data: &str) -> Result<Vec<TableId>, String> {
    let data = data.trim();
    let items: Vec<String> = if data.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(data).map_err(|e| format!("signal data is not JSON: {e}"))?;
        v.get("data-collections")
            .and_then(|c| c.as_array())
            .ok_or_else(|| "signal data has no `data-collections` array".to_string())?
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("`{i}` is not a string")))
            .collect::<Result<_, _>>()?
    } else {
        data.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect()
    };
    let mut out: Vec<TableId> = Vec::new();
    for i in items {
        let t = parse_signal_table(&i).map_err(|_| format!("`{i}` is not `db.table`"))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err("the signal names no table".into());
    }
    Ok(out)
}

/// The signal table of `config` on `source`: the configured one, else [`DEFAULT_SIGNAL_TABLE`]
/// in the first of `source.schemas`; None when neither is given (every schema captured, no
/// signal table configured).
pub fn signal_table_of(config: &SnapshotConfig, source: &SourceConfig) -> Option<TableId> {
    config
        .signal_table
        .clone()
        .or_else(|| source.schemas.first().map(|db| TableId::new(db.as_str(), DEFAULT_SIGNAL_TABLE)))
}

/// `kind` of a watermark row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Low,
    High,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Mark::Low => "low",
            Mark::High => "high",
        }
    }
}

/// The watermark snapshot of a [`super::SnapshotThenStream`] (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct WatermarkSnapshot {
    binlog: BinlogSource,
    mode: SnapshotMode,
    config: SnapshotConfig,
    status: Status,
}

/// How the forwarder stopped.
enum Flow {
    /// Cancelled, the receiver gone, or the binlog run ended (its result says why).
    Stopped,
    /// `initial_only`: the snapshot is done and its last commit forwarded.
    Finished,
}

impl WatermarkSnapshot {
    /// The watermark path of a source streaming with `binlog`.
    pub(crate) fn new(binlog: BinlogSource, mode: SnapshotMode, config: SnapshotConfig, status: Status) -> Self {
        Self { binlog, mode, config, status }
    }

    /// The signal table. Errors: [`SourceError::Config`] when none is configured and no schema
    /// is listed to put the default one in.
    fn signal(&self) -> Result<TableId, SourceError> {
        signal_table_of(&self.config, self.binlog.config()).ok_or_else(|| {
            SourceError::Config(
                "the watermark snapshot needs a signal table: set CDC_SNAPSHOT_SIGNAL_TABLE=db.table (or list the \
                 captured schemas in DATABASE_SCHEMA: the default is cdc_signal in the first)"
                    .into(),
            )
        })
    }

    /// True when a snapshot on this server takes the watermark path: the configuration declares
    /// or `VERSION()` names the OceanBase binlog service, or the server gives no consistent
    /// snapshot point (MySQL; probed with a read-only transaction that is rolled back).
    ///
    /// Errors: [`SourceError::Connection`].
    pub(crate) async fn applies(cfg: &SourceConfig, conn: &mut mysql_async::Conn) -> Result<bool, SourceError> {
        if is_oceanbase(cfg, conn).await? {
            return Ok(true);
        }
        match begin_consistent(conn).await {
            Ok(_) => {
                let _ = conn.query_drop("ROLLBACK").await;
                Ok(false)
            }
            Err(SnapshotError::NoConsistentPoint) => Ok(true),
            Err(SnapshotError::Sql(e)) => Err(SourceError::connection("probing for a consistent snapshot point", e)),
            Err(e) => Err(SourceError::Snapshot(Box::new(e))),
        }
    }

    /// What the watermark snapshot needs, when this server takes that path ([`Self::applies`])
    /// or `signals` (ad-hoc snapshots by signal) are on: a signal table (created here when
    /// missing, like the snapshot itself does) with `kind` and `win` columns (and `data` for
    /// signals, added when missing), that the user may INSERT into (checked by an INSERT rolled
    /// back). Returns the problems found, each with its fix; none on servers with a consistent
    /// point when signals are off.
    ///
    /// Errors: [`SourceError::Connection`] when the server cannot be reached.
    pub(crate) async fn precheck(&self, signals: bool) -> Result<Vec<PrecheckProblem>, SourceError> {
        let cfg = self.binlog.config();
        let mut conn =
            mysql_async::Conn::new(cfg.opts()).await.map_err(|e| SourceError::connection("connecting", e))?;
        let result = async {
            if !signals && !Self::applies(cfg, &mut conn).await? {
                return Ok(Vec::new());
            }
            let Some(signal) = signal_table_of(&self.config, cfg) else {
                return Ok(vec![PrecheckProblem::new(
                    "CDC_SNAPSHOT_SIGNAL_TABLE",
                    "unset, and no DATABASE_SCHEMA to put the default cdc_signal in",
                    "db.table",
                    "set CDC_SNAPSHOT_SIGNAL_TABLE=<db>.cdc_signal (the watermark snapshot writes its low/high \
                     watermarks there)",
                )]);
            };
            Ok(check_signal_table(&mut conn, &signal, &cfg.user, signals).await)
        }
        .await;
        let _ = conn.disconnect().await;
        result
    }

    /// The checkpoint of a fresh watermark snapshot: the binlog's current position
    /// (`SHOW MASTER STATUS`), every captured table pending (the signal table excluded) and recorded as
    /// snapshotted (`Checkpoint::snapshotted`). Creates
    /// the signal table when missing.
    ///
    /// Errors: [`SourceError::Config`] (no signal table, bad selector), [`SourceError::Connection`],
    /// [`SourceError::Snapshot`] when the signal table cannot be created.
    pub(crate) async fn fresh(&self) -> Result<Checkpoint, SourceError> {
        let signal = self.signal()?;
        let cfg = self.binlog.config();
        let filter = TableFilter::new(&cfg.schemas, &cfg.tables).map_err(SourceError::Config)?;
        let mut conn =
            mysql_async::Conn::new(cfg.opts()).await.map_err(|e| SourceError::connection("connecting", e))?;
        create_signal_table(&mut conn, &signal).await?;
        let listed = tables::captured_tables(&mut conn, &filter).await.map_err(|e| match e {
            SnapshotError::Sql(e) => SourceError::connection("listing the captured tables", e),
            other => SourceError::Snapshot(Box::new(other)),
        })?;
        let _ = conn.disconnect().await;
        let tables: Vec<TableId> = listed.into_iter().filter(|t| *t != signal).collect();
        let mut progress = SnapshotProgress::new(tables.iter().cloned());
        progress.method = SnapshotMethod::Watermark;
        let start = self.binlog.resolve_start(&StartPosition::Latest).await?;
        // Recorded up front, as for tables added later: a table captured afterwards is one no
        // snapshot delivered, and is snapshotted at the next start.
        let start = Checkpoint { snapshotted: Some(Arc::new(tables.into_iter().collect())), ..start };
        info!(tables = progress.tables.len(), %signal, start = %start.resume, "No checkpoint stored: the captured tables will be snapshotted in watermark windows while streaming (no consistent snapshot point on this server, or CDC_SNAPSHOT_METHOD=watermark).");
        Ok(Checkpoint { snapshot: Some(progress), ..start })
    }

    /// Streams from `from` (whose `snapshot` is a watermark progress) with the snapshot's
    /// windows inside the stream, then goes on streaming (`initial_only`: returns once the
    /// snapshot is done). `when_needed`: a purged resume position starts a fresh watermark
    /// snapshot.
    ///
    /// Errors: definite [`SourceError`]s of the binlog run; [`SourceError::Snapshot`] for a
    /// definite chunk or watermark failure (transient ones are retried with backoff);
    /// [`SourceError::Config`] without a signal table.
    pub(crate) async fn run(
        self,
        from: Checkpoint,
        tx: mpsc::Sender<SourceMessage>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let mut from = from;
        loop {
            match self.run_once(from.clone(), &tx, &cancel).await {
                Err(SourceError::PositionPurged { position, oldest }) if self.mode == SnapshotMode::WhenNeeded => {
                    warn!(%position, %oldest, "The resume position was purged from the server; snapshot mode when_needed: snapshotting the captured tables again.");
                    from = self.fresh().await?;
                }
                other => return other,
            }
        }
    }

    async fn run_once(
        &self,
        from: Checkpoint,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        let signal = self.signal()?;
        let mut cfg = self.binlog.config().clone();
        let filter = TableFilter::new(&cfg.schemas, &cfg.tables).map_err(SourceError::Config)?;
        cfg.also_decode.push((signal.db.clone(), signal.table.clone()));
        let opts = cfg.opts();
        let binlog = BinlogSource::new(cfg, self.status.clone());
        let first_id = u64::try_from(now_ms()).unwrap_or(0).saturating_mul(1000);
        // Without a snapshot in the checkpoint: streaming, with signals watched.
        let snap = from.snapshot.clone().map(|p| IncrementalSnapshot::new(p, self.config.chunk_rows, first_id));
        match &snap {
            Some(snap) => {
                info!(tables = snap.progress().tables.len(), remaining = snap.progress().remaining(), rows = snap.progress().rows(), from = %from.resume, "Watermark snapshot started.")
            }
            None => {
                info!(%signal, from = %from.resume, "Streaming; ad-hoc snapshot signals are read from the signal table.")
            }
        }
        let (itx, mut irx) = mpsc::channel(INNER_CAPACITY);
        let inner_cancel = cancel.child_token();
        let task = tokio::spawn(binlog.run(from.clone(), itx, inner_cancel.clone()));
        let mut fwd = Forwarder {
            snap,
            chunk_rows: self.config.chunk_rows,
            next_id: first_id.saturating_add(1 << 32),
            filter,
            signals: Vec::new(),
            mode: self.mode,
            signal: signal.clone(),
            io: ChunkIo::new(opts, signal, self.config.name.clone()),
            window: None,
            status: self.status.clone(),
            stats: Stats::new(),
        };
        let flow = fwd.forward(&from, &mut irx, tx, cancel).await;
        inner_cancel.cancel();
        drop(irx);
        let joined = task.await;
        fwd.io.close().await;
        let ran = match joined {
            Ok(r) => r,
            Err(join) => Err(SourceError::Snapshot(Box::new(join))),
        };
        match flow {
            Err(e) => Err(e),
            Ok(Flow::Finished) => {
                info!("Snapshot mode initial_only: the watermark snapshot is delivered; stopping.");
                Ok(())
            }
            Ok(Flow::Stopped) => ran,
        }
    }
}

/// The window the forwarder waits for in the stream.
#[derive(Debug)]
struct OpenWindow {
    id: u64,
    table: TableId,
    low_seen: bool,
    opened: Instant,
    warned: Instant,
}

/// Feeds the stream to the state machine and the pipeline (see the module docs).
struct Forwarder {
    /// None once the snapshot is done and announced (or before a signal starts one).
    snap: Option<IncrementalSnapshot>,
    /// Rows per chunk of a snapshot a signal starts.
    chunk_rows: usize,
    /// First window id of the next snapshot a signal starts (ids never repeat within a run).
    next_id: u64,
    /// The captured tables (a signal may only name those).
    filter: TableFilter,
    /// The `data` of ad-hoc snapshot signals read from the stream, not yet applied.
    signals: Vec<String>,
    mode: SnapshotMode,
    signal: TableId,
    io: ChunkIo,
    window: Option<OpenWindow>,
    status: Status,
    stats: Stats,
}

impl Forwarder {
    async fn forward(
        &mut self,
        from: &Checkpoint,
        irx: &mut mpsc::Receiver<SourceMessage>,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
    ) -> Result<Flow, SourceError> {
        if self.snap.as_ref().is_some_and(IncrementalSnapshot::is_done) {
            // Nothing to read (no tables, or resumed after the last window closed): the start is
            // already a consistent point without a snapshot.
            self.finish();
            if !send_or_cancel(tx, SourceMessage::Commit(Checkpoint { snapshot: None, ..from.clone() }), cancel).await {
                return Ok(Flow::Stopped);
            }
            if self.mode == SnapshotMode::InitialOnly {
                return Ok(Flow::Finished);
            }
        }
        loop {
            if let Some(snap) = self.snap.as_mut() {
                if !snap.in_window() && !snap.is_done() {
                    let Some(window) = self.io.open_window(snap, cancel).await? else { return Ok(Flow::Stopped) };
                    if !self.stats.estimates.contains_key(&window.table) {
                        let n = self.io.estimated_rows(&window.table).await;
                        self.stats.estimates.insert(window.table.clone(), n);
                    }
                    self.window = Some(window);
                }
            }
            let msg = tokio::select! {
                _ = cancel.cancelled() => return Ok(Flow::Stopped),
                m = irx.recv() => m,
                _ = tokio::time::sleep(WATERMARK_WARN_AFTER), if self.window.is_some() => {
                    self.warn_if_slow();
                    continue;
                }
            };
            let Some(msg) = msg else { return Ok(Flow::Stopped) };
            let out = match msg {
                SourceMessage::Events(events) => {
                    let events = self.on_events(events)?;
                    if !self.signals.is_empty() {
                        self.apply_signals().await?;
                    }
                    if events.is_empty() {
                        continue;
                    }
                    // A closed window's rows join the stream's: in messages of the usual bounds.
                    let mut parts = split_events(events);
                    let last = parts.pop().expect("not empty");
                    for part in parts {
                        if !send_or_cancel(tx, SourceMessage::Events(part), cancel).await {
                            return Ok(Flow::Stopped);
                        }
                    }
                    SourceMessage::Events(last)
                }
                SourceMessage::Commit(mut cp) => match self.snap.as_ref() {
                    Some(snap) if !snap.is_done() => {
                        cp.snapshot = Some(snap.progress().clone());
                        SourceMessage::Commit(cp)
                    }
                    Some(_) => {
                        // Every chunk row is before this commit: once it is stored, a restart
                        // streams without a snapshot.
                        self.finish();
                        cp.snapshot = None;
                        if !send_or_cancel(tx, SourceMessage::Commit(cp), cancel).await {
                            return Ok(Flow::Stopped);
                        }
                        if self.mode == SnapshotMode::InitialOnly {
                            return Ok(Flow::Finished);
                        }
                        continue;
                    }
                    None => SourceMessage::Commit(cp),
                },
                SourceMessage::SchemaChange(change) => {
                    // A DDL may change a table's columns: layouts are read again.
                    self.io.layouts.clear();
                    SourceMessage::SchemaChange(change)
                }
                other => other,
            };
            if !send_or_cancel(tx, out, cancel).await {
                return Ok(Flow::Stopped);
            }
        }
    }

    /// The events to forward: the stream's own (each seen by the state machine), without the
    /// signal table's rows, with a closed window's chunk rows where its high watermark was.
    fn on_events(&mut self, events: Vec<ChangeEvent>) -> Result<Vec<ChangeEvent>, SourceError> {
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            if *ev.source.db != *self.signal.db || *ev.source.table != *self.signal.table {
                if let Some(snap) = self.snap.as_mut() {
                    snap.on_stream_event(&ev);
                }
                out.push(ev);
                continue;
            }
            if let Some(data) = snapshot_signal_of(&ev) {
                self.signals.push(data);
                continue;
            }
            let (Some((mark, id)), Some(window), Some(snap)) =
                (watermark_of(&ev), self.window.as_mut(), self.snap.as_mut())
            else {
                continue; // a signal row of no open window (an earlier run, another collector)
            };
            if id != window.id {
                continue;
            }
            match mark {
                Mark::Low if !window.low_seen => {
                    window.low_seen = true;
                    snap.on_low_watermark(id).map_err(snapshot_err)?;
                }
                Mark::Low => {} // a retried INSERT: the first one opened the window
                Mark::High if !window.low_seen => {
                    return Err(snapshot_err(SnapshotError::Protocol(format!(
                        "high watermark {id} in the stream before its low watermark (binlog not in commit order?)"
                    ))));
                }
                Mark::High => {
                    let window = self.window.take().expect("matched above");
                    let rows = snap.on_high_watermark(id).map_err(snapshot_err)?;
                    let emitted = rows.len() as u64;
                    out.extend(restamp(rows, &ev, &self.io.name));
                    self.stats.on_window(&window, emitted, snap, &self.status);
                }
            }
        }
        Ok(out)
    }

    /// Starts (or extends) a watermark snapshot with the tables the pending signals name: each
    /// must be captured and exist; a table already pending or being read is left as it is, a
    /// table done is read again. A signal naming no such table is logged and dropped (it never
    /// stops the stream).
    ///
    /// Errors: [`SourceError::Connection`] when `information_schema` cannot be read.
    async fn apply_signals(&mut self) -> Result<(), SourceError> {
        for data in std::mem::take(&mut self.signals) {
            let tables = match parse_signal_tables(&data) {
                Ok(t) => t,
                Err(e) => {
                    warn!(signal = %self.signal, data = %data, error = %e, "Ad-hoc snapshot signal ignored.");
                    continue;
                }
            };
            let mut accepted = Vec::new();
            for t in tables {
                if t == self.signal || !self.filter.matches(&t.db, &t.table) {
                    warn!(table = %t, "Ad-hoc snapshot signal: the table is not captured; ignored.");
                } else if !self.io.table_exists(&t).await? {
                    warn!(table = %t, "Ad-hoc snapshot signal: no such base table; ignored.");
                } else {
                    accepted.push(t);
                }
            }
            if accepted.is_empty() {
                continue;
            }
            let snap = match self.snap.as_mut() {
                Some(snap) => snap,
                None => {
                    let mut progress = SnapshotProgress::new([]);
                    progress.method = SnapshotMethod::Watermark;
                    self.stats = Stats::new();
                    let id = self.next_id;
                    self.next_id = self.next_id.saturating_add(1 << 32);
                    self.snap.insert(IncrementalSnapshot::new(progress, self.chunk_rows, id))
                }
            };
            let added = snap.add_tables(&accepted);
            let names: Vec<String> = added.iter().map(ToString::to_string).collect();
            info!(tables = %names.join(", "), signal = %self.signal, "Ad-hoc snapshot signal: these tables are read in watermark windows while streaming.");
        }
        Ok(())
    }

    fn warn_if_slow(&mut self) {
        if let Some(w) = self.window.as_mut() {
            if w.warned.elapsed() >= WATERMARK_WARN_AFTER {
                w.warned = Instant::now();
                warn!(window = w.id, table = %w.table, waiting_s = w.opened.elapsed().as_secs(), low_seen = w.low_seen, signal = %self.signal, "A watermark written to the signal table has not reached the stream yet: is the binlog lagging, or is the signal table left out of the binlog (OceanBase binlog service table list)?");
            }
        }
    }

    /// Marks the snapshot done (logs, `/health`, metrics) and drops the state machine.
    fn finish(&mut self) {
        if let Some(snap) = self.snap.take() {
            self.stats.finish(&snap, &self.status);
        }
    }
}

fn snapshot_err(e: SnapshotError) -> SourceError {
    SourceError::Snapshot(Box::new(e))
}

/// The watermark a signal-table event carries: `(kind, win)` of an inserted row whose `kind`
/// is `low` or `high`.
fn watermark_of(ev: &ChangeEvent) -> Option<(Mark, u64)> {
    if ev.before.is_some() {
        return None;
    }
    let row = ev.after.as_ref()?;
    let mark = match row.get("kind")? {
        Value::String(s) if s.as_str() == "low" => Mark::Low,
        Value::String(s) if s.as_str() == "high" => Mark::High,
        _ => return None,
    };
    let id = match row.get("win")? {
        Value::Int(i) => u64::try_from(*i).ok()?,
        Value::UInt(u) => *u,
        _ => return None,
    };
    Some((mark, id))
}

/// The `data` of an ad-hoc snapshot signal: an inserted signal-table row whose `kind` is
/// [`SNAPSHOT_SIGNAL`] (an empty string when `data` is NULL or missing).
fn snapshot_signal_of(ev: &ChangeEvent) -> Option<String> {
    if ev.before.is_some() {
        return None;
    }
    let row = ev.after.as_ref()?;
    match row.get("kind")? {
        Value::String(s) if s.as_str().eq_ignore_ascii_case(SNAPSHOT_SIGNAL) => {}
        _ => return None,
    }
    Some(match row.get("data") {
        Some(Value::String(s)) => s.to_string(),
        Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    })
}

/// The chunk rows as emitted at the high watermark `at`: its binlog file, position, server_id
/// and timestamp, `source.snapshot = "incremental"`, `row` = the index in the chunk.
fn restamp(rows: Vec<ChangeEvent>, at: &ChangeEvent, name: &str) -> impl Iterator<Item = ChangeEvent> {
    let hw = &at.source.event;
    let mut infos: HashMap<(Arc<str>, Arc<str>), Arc<RowsEventInfo>> = HashMap::new();
    let (file, pos, server_id, ts_ms) = (hw.file.clone(), hw.pos, hw.server_id, hw.ts_ms);
    let name: Arc<str> = name.into();
    rows.into_iter().enumerate().map(move |(i, mut ev)| {
        let key = (ev.source.event.db.clone(), ev.source.event.table.clone());
        let info = infos
            .entry(key)
            .or_insert_with(|| {
                Arc::new(RowsEventInfo {
                    name: name.clone(),
                    server_id,
                    db: ev.source.event.db.clone(),
                    table: ev.source.event.table.clone(),
                    file: file.clone(),
                    pos,
                    gtid: None,
                    ts_ms,
                    origin: Origin::Incremental,
                })
            })
            .clone();
        ev.source.event = info;
        ev.source.row = u32::try_from(i).unwrap_or(u32::MAX);
        ev
    })
}

/// The chunk side: the watermark writes and the chunk reads, each on its own connection
/// (opened again after a loss), with the table layouts read once per table.
struct ChunkIo {
    opts: mysql_async::Opts,
    signal: TableId,
    name: String,
    write: Option<mysql_async::Conn>,
    read: Option<mysql_async::Conn>,
    layouts: HashMap<TableId, TableLayout>,
    backoff: Backoff,
}

impl ChunkIo {
    fn new(opts: mysql_async::Opts, signal: TableId, name: String) -> Self {
        Self {
            opts,
            signal,
            name,
            write: None,
            read: None,
            layouts: HashMap::new(),
            backoff: Backoff::from_millis(200, 10_000),
        }
    }

    async fn close(&mut self) {
        for conn in [self.write.take(), self.read.take()].into_iter().flatten() {
            let _ = conn.disconnect().await;
        }
    }

    /// Opens the next window of `snap`: low watermark written, chunk read and handed to the
    /// state machine, high watermark written. Transient failures are retried with backoff, a
    /// step at a time (a step already done is not repeated: a second low watermark would only
    /// widen the window, a second chunk read is the same read later inside it). None when
    /// cancelled.
    ///
    /// Errors: [`SourceError::Snapshot`] for a definite failure (missing table, unsupported
    /// type, a refused INSERT).
    async fn open_window(
        &mut self,
        snap: &mut IncrementalSnapshot,
        cancel: &CancellationToken,
    ) -> Result<Option<OpenWindow>, SourceError> {
        let Some(req) = snap.next_chunk().map_err(snapshot_err)? else { return Ok(None) };
        let mut delays = self.backoff.jittered();
        let mut step = 0;
        loop {
            let attempt = match step {
                0 => self.watermark(Mark::Low, req.id).await.map(|()| None),
                1 => self.chunk(&req).await.map(Some),
                _ => self.watermark(Mark::High, req.id).await.map(|()| None),
            };
            match attempt {
                Ok(rows) => {
                    if let Some(rows) = rows {
                        snap.on_chunk_read(req.id, rows).map_err(snapshot_err)?;
                    }
                    step += 1;
                    if step == 3 {
                        let now = Instant::now();
                        return Ok(Some(OpenWindow {
                            id: req.id,
                            table: req.table,
                            low_seen: false,
                            opened: now,
                            warned: now,
                        }));
                    }
                }
                Err(e) if is_transient(&e) => {
                    warn!(error = %e, window = req.id, table = %req.table, "Watermark snapshot: connection lost; retrying.");
                    self.write = None;
                    self.read = None;
                    if wait_or_cancel(delays.next().unwrap_or(self.backoff.max), cancel).await {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(snapshot_err(e)),
            }
        }
    }

    /// `information_schema.TABLES.TABLE_ROWS` of `table` (the server's estimate), on the write
    /// connection; 0 when unknown or unreadable (progress only: never an error).
    async fn estimated_rows(&mut self, table: &TableId) -> u64 {
        let Ok(conn) = self.write_conn().await else { return 0 };
        conn.exec_first::<Option<u64>, _, _>(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&table.db, &table.table),
        )
        .await
        .ok()
        .flatten()
        .flatten()
        .unwrap_or(0)
    }

    /// True when `table` is a base table (`information_schema.TABLES`), on the write connection.
    ///
    /// Errors: [`SourceError::Connection`].
    async fn table_exists(&mut self, table: &TableId) -> Result<bool, SourceError> {
        let err = |e| SourceError::connection("looking up a table named by a snapshot signal", e);
        let conn = self.write_conn().await.map_err(err)?;
        let n: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA = ? \
                 AND TABLE_NAME = ?",
                (&table.db, &table.table),
            )
            .await
            .map_err(err)?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// The write connection, opened when there is none (or it was dropped after a loss).
    async fn write_conn(&mut self) -> Result<&mut mysql_async::Conn, mysql_async::Error> {
        match self.write {
            Some(ref mut c) => Ok(c),
            None => Ok(self.write.insert(mysql_async::Conn::new(self.opts.clone()).await?)),
        }
    }

    /// Writes a watermark (autocommit: committed when this returns).
    async fn watermark(&mut self, mark: Mark, id: u64) -> Result<(), SnapshotError> {
        let insert =
            format!("INSERT INTO {}.{} (kind, win) VALUES (?, ?)", ident(&self.signal.db), ident(&self.signal.table));
        self.write_conn().await?.exec_drop(insert, (mark.as_str(), id)).await?;
        Ok(())
    }

    /// Reads the chunk `req` asks for, outside any transaction.
    async fn chunk(&mut self, req: &ChunkRequest) -> Result<ChunkRows, SnapshotError> {
        let conn = match self.read.as_mut() {
            Some(c) => c,
            None => {
                let mut c = mysql_async::Conn::new(self.opts.clone()).await?;
                prepare_session(&mut c).await?;
                self.read.insert(c)
            }
        };
        if !self.layouts.contains_key(&req.table) {
            let layout = TableLayout::load(conn, &req.table).await?;
            self.layouts.insert(req.table.clone(), layout);
        }
        let layout = &self.layouts[&req.table];
        // Placed at the high watermark when emitted (`restamp`).
        let nowhere =
            SnapshotPoint { position: BinlogPosition::new("", 0), gtid_set: None, server_id: 0, ts_ms: now_ms() };
        let events = ReadEvents::new(&self.name, &nowhere, layout);
        read_chunk(conn, layout, req.after.as_deref(), req.limit, &events, 0).await
    }
}

/// True for errors a new connection may fix (the connection broke, the server went away).
fn is_transient(e: &SnapshotError) -> bool {
    matches!(e, SnapshotError::Sql(mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)))
}

/// Creates the signal table when missing (`CREATE TABLE IF NOT EXISTS`; the table is looked up
/// first, so a user without CREATE may use one created for it).
///
/// Errors: [`SourceError::Connection`] for a lost connection, [`SourceError::Snapshot`] when
/// the server refuses (the message says what to create and grant).
async fn create_signal_table(conn: &mut mysql_async::Conn, signal: &TableId) -> Result<(), SourceError> {
    if signal_columns(conn, signal).await?.is_some() {
        return Ok(());
    }
    let ddl = create_statement(signal);
    match conn.query_drop(&ddl).await {
        Ok(()) => {
            info!(%signal, "Signal table created for the watermark snapshot.");
            Ok(())
        }
        Err(mysql_async::Error::Server(e)) => Err(SourceError::Snapshot(
            format!(
                "cannot create the watermark snapshot's signal table {signal}: {e}; create it (`{ddl}`) and grant \
                 INSERT on it to the collector's user, or set CDC_SNAPSHOT_SIGNAL_TABLE"
            )
            .into(),
        )),
        Err(e) => Err(SourceError::connection("creating the signal table", e)),
    }
}

fn create_statement(signal: &TableId) -> String {
    format!("CREATE TABLE IF NOT EXISTS {}.{} {SIGNAL_TABLE_DDL}", ident(&signal.db), ident(&signal.table))
}

/// The signal table's column names, None when it does not exist.
async fn signal_columns(conn: &mut mysql_async::Conn, signal: &TableId) -> Result<Option<Vec<String>>, SourceError> {
    let cols: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&signal.db, &signal.table),
        )
        .await
        .map_err(|e| SourceError::connection("reading the signal table's columns", e))?;
    Ok((!cols.is_empty()).then_some(cols))
}

/// The precheck of the signal table (see [`WatermarkSnapshot::precheck`]).
async fn check_signal_table(
    conn: &mut mysql_async::Conn,
    signal: &TableId,
    user: &str,
    signals: bool,
) -> Vec<PrecheckProblem> {
    let setting = format!("watermark snapshot signal table {signal}");
    let ddl = create_statement(signal);
    if let Err(e) = create_signal_table(conn, signal).await {
        return vec![PrecheckProblem::new(
            setting,
            format!("missing and not creatable: {e}"),
            "exists, INSERT granted",
            format!("run `{ddl}` and `GRANT INSERT ON {signal} TO {user}` (or set CDC_SNAPSHOT_SIGNAL_TABLE)"),
        )];
    }
    match signal_columns(conn, signal).await {
        Ok(Some(cols)) if !["kind", "win"].iter().all(|c| cols.iter().any(|x| x.eq_ignore_ascii_case(c))) => {
            return vec![PrecheckProblem::new(
                setting,
                format!("columns {cols:?}, without kind and win"),
                format!("the columns of {SIGNAL_TABLE_DDL}"),
                format!("drop it and let the collector create it, or create it as `{ddl}`"),
            )];
        }
        Ok(Some(cols)) if signals && !cols.iter().any(|x| x.eq_ignore_ascii_case("data")) => {
            // A signal table created before ad-hoc snapshot signals: add the column.
            let alter =
                format!("ALTER TABLE {}.{} ADD COLUMN {SIGNAL_DATA_COLUMN}", ident(&signal.db), ident(&signal.table));
            if let Err(e) = conn.query_drop(&alter).await {
                return vec![PrecheckProblem::new(
                    setting,
                    format!("no `data` column, and adding it failed: {e}"),
                    "a `data` column for the tables of ad-hoc snapshot signals",
                    format!("run `{alter}`"),
                )];
            }
            info!(%signal, "Signal table: `data` column added for ad-hoc snapshot signals.");
        }
        Ok(_) => {}
        Err(e) => return vec![PrecheckProblem::new(setting, e.to_string(), "readable", "check the connection")],
    }
    // The INSERT privilege, by an INSERT that is rolled back (nothing reaches the binlog).
    let insert = format!("INSERT INTO {}.{} (kind, win) VALUES ('check', 0)", ident(&signal.db), ident(&signal.table));
    let tried = async {
        conn.query_drop("START TRANSACTION").await?;
        let r = conn.query_drop(&insert).await;
        conn.query_drop("ROLLBACK").await?;
        r
    }
    .await;
    match tried {
        Ok(()) => Vec::new(),
        Err(e) => vec![PrecheckProblem::new(
            setting,
            format!("not writable: {e}"),
            "INSERT granted",
            format!("GRANT INSERT ON {signal} TO {user} (the watermark snapshot writes its low/high watermarks there)"),
        )],
    }
}

/// Progress bookkeeping for `/health`, `/metrics` and the log.
struct Stats {
    started: Instant,
    rows: u64,
    windows: u64,
    last_log: Instant,
    /// `information_schema.TABLES.TABLE_ROWS` of each table, read at its first window (an
    /// estimate; 0 when unknown).
    estimates: HashMap<TableId, u64>,
    /// The table of the last window, rows emitted for it in this run, since when.
    table: Option<TableId>,
    table_rows: u64,
    table_started: Instant,
}

impl Stats {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            rows: 0,
            windows: 0,
            last_log: now,
            estimates: HashMap::new(),
            table: None,
            table_rows: 0,
            table_started: now,
        }
    }

    fn on_window(&mut self, window: &OpenWindow, emitted: u64, snap: &IncrementalSnapshot, status: &Status) {
        self.rows += emitted;
        self.windows += 1;
        if self.table.as_ref() != Some(&window.table) {
            self.table = Some(window.table.clone());
            self.table_rows = 0;
            self.table_started = window.opened;
        }
        self.table_rows += emitted;
        let progress = snap.progress();
        metrics::counter!(m::SNAPSHOT_ROWS_TOTAL, "table" => window.table.to_string()).increment(emitted);
        metrics::gauge!(m::SNAPSHOT_TABLES_REMAINING).set(progress.remaining() as f64);
        metrics::gauge!(m::SNAPSHOT_DURATION_SECONDS).set(self.started.elapsed().as_secs_f64());
        let table_rows = match progress.state(&window.table) {
            Some(TableState::InProgress { rows, .. } | TableState::Done { rows }) => *rows,
            _ => 0,
        };
        let estimated = self.estimates.get(&window.table).copied().unwrap_or(0);
        let secs = self.table_started.elapsed().as_secs_f64();
        // At this run's rate for the table (rows emitted per second, window waits included).
        let eta = (self.table_rows > 0 && estimated > table_rows && secs > 0.0)
            .then(|| ((estimated - table_rows) as f64 / (self.table_rows as f64 / secs)) as u64);
        status.set_snapshot(SnapshotStatus {
            phase: SnapshotPhase::Reading,
            table: Some(window.table.to_string()),
            table_rows_done: table_rows,
            table_rows_estimated: estimated,
            tables_remaining: progress.remaining(),
            tables_total: progress.tables.len(),
            rows_done: self.rows,
            table_eta_s: eta,
            elapsed_s: self.started.elapsed().as_secs(),
        });
        if self.last_log.elapsed() >= Duration::from_secs(10) || progress.is_done() {
            self.last_log = Instant::now();
            info!(table = %window.table, table_rows, estimated_rows = estimated, eta_s = eta, window_ms = window.opened.elapsed().as_millis() as u64, windows = self.windows, rows = self.rows, dropped = snap.dropped_rows(), tables_remaining = progress.remaining(), "Watermark snapshot progress.");
        }
    }

    fn finish(&self, snap: &IncrementalSnapshot, status: &Status) {
        let progress = snap.progress();
        metrics::gauge!(m::SNAPSHOT_TABLES_REMAINING).set(0.0);
        metrics::gauge!(m::SNAPSHOT_DURATION_SECONDS).set(self.started.elapsed().as_secs_f64());
        status.set_snapshot(SnapshotStatus::done(progress.tables.len(), self.rows, self.started.elapsed().as_secs()));
        info!(
            rows = self.rows,
            windows = self.windows,
            dropped = snap.dropped_rows(),
            total_rows = progress.rows(),
            seconds = self.started.elapsed().as_secs(),
            "Watermark snapshot done; streaming goes on."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Op, Row, SourceInfo};

    #[test]
    fn snapshot_signal_data_parses_as_a_list_or_as_debeziums_json() {
        let two = vec![TableId::new("shop", "orders"), TableId::new("shop", "items")];
        assert_eq!(parse_signal_tables("shop.orders, `shop`.`items`,shop.orders").unwrap(), two);
        assert_eq!(
            parse_signal_tables(r#"{"data-collections": ["shop.orders", "shop.items"], "type": "incremental"}"#)
                .unwrap(),
            two
        );
        assert!(parse_signal_tables("").unwrap_err().contains("no table"));
        assert!(parse_signal_tables("orders").unwrap_err().contains("`orders` is not `db.table`"));
        assert!(parse_signal_tables(r#"{"type": "incremental"}"#).unwrap_err().contains("data-collections"));
        assert!(parse_signal_tables(r#"{"data-collections": [1]}"#).is_err());
    }

    #[test]
    fn a_snapshot_signal_row_is_recognised_by_its_kind_and_carries_its_data() {
        let ev = signal_event("snapshot", 0, false);
        assert_eq!(snapshot_signal_of(&ev), Some(String::new()), "no data column: an empty list");
        assert_eq!(snapshot_signal_of(&signal_event("low", 7, false)), None);
        assert_eq!(snapshot_signal_of(&signal_event("snapshot", 0, true)), None, "an update is no signal");
    }

    #[test]
    fn signal_table_names_parse_and_default_to_the_first_schema() {
        assert_eq!(parse_signal_table("ops.cdc_signal").unwrap(), TableId::new("ops", "cdc_signal"));
        assert_eq!(parse_signal_table(" `ops`.`sig` ").unwrap(), TableId::new("ops", "sig"));
        assert!(parse_signal_table("cdc_signal").is_err());
        assert!(parse_signal_table("ops.").is_err());
        let mut source = SourceConfig::new("h", 1, "u", "p");
        let mut config = SnapshotConfig::new("n");
        assert_eq!(signal_table_of(&config, &source), None);
        source.schemas = vec!["shop".into(), "b".into()];
        assert_eq!(signal_table_of(&config, &source), Some(TableId::new("shop", DEFAULT_SIGNAL_TABLE)));
        config.signal_table = Some(TableId::new("ops", "s"));
        assert_eq!(signal_table_of(&config, &source), Some(TableId::new("ops", "s")));
    }

    fn signal_event(kind: &str, win: i64, before: bool) -> ChangeEvent {
        let row = Row {
            columns: vec![Arc::from("id"), Arc::from("kind"), Arc::from("win")].into(),
            values: vec![Value::Int(1), Value::String(kind.into()), Value::Int(win)],
        };
        ChangeEvent {
            op: if before { Op::Update } else { Op::Create },
            before: before.then(|| row.clone()),
            after: Some(row),
            source: SourceInfo {
                event: Arc::new(RowsEventInfo {
                    name: "n".into(),
                    server_id: 7,
                    db: "ops".into(),
                    table: "cdc_signal".into(),
                    file: "binlog.000003".into(),
                    pos: 900,
                    gtid: None,
                    ts_ms: 5,
                    origin: Origin::Binlog,
                }),
                row: 0,
            },
            ts_ms: 5,
            transaction: None,
            key_columns: vec![0].into(),
        }
    }

    #[test]
    fn watermarks_are_inserted_low_or_high_rows() {
        assert_eq!(watermark_of(&signal_event("low", 42, false)), Some((Mark::Low, 42)));
        assert_eq!(watermark_of(&signal_event("high", 42, false)), Some((Mark::High, 42)));
        assert_eq!(watermark_of(&signal_event("check", 0, false)), None);
        assert_eq!(watermark_of(&signal_event("low", 42, true)), None, "an update is no watermark");
        assert_eq!(watermark_of(&signal_event("low", -1, false)), None);
    }

    #[test]
    fn chunk_rows_are_placed_at_the_high_watermark_as_incremental() {
        let hw = signal_event("high", 1, false);
        let mut row = signal_event("x", 0, false);
        let mut info = (*row.source.event).clone();
        info.table = "t".into();
        info.db = "shop".into();
        info.origin = Origin::Snapshot { last: false };
        row.source.event = Arc::new(info);
        row.op = Op::Read;
        let out: Vec<ChangeEvent> = restamp(vec![row.clone(), row], &hw, "name").collect();
        assert_eq!(out.len(), 2);
        for (i, ev) in out.iter().enumerate() {
            assert_eq!(ev.source.event.origin, Origin::Incremental);
            assert_eq!((&*ev.source.event.file, ev.source.event.pos, ev.source.row), ("binlog.000003", 900, i as u32));
            assert_eq!((&*ev.source.event.db, &*ev.source.event.table), ("shop", "t"));
            assert_eq!(ev.source.event.server_id, 7);
        }
    }
}
