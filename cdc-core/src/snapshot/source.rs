//! [`SnapshotThenStream`]: the [`ChangeSource`] of a collector with an initial snapshot — the
//! captured tables' rows first (`op: "r"`), then the binlog from the snapshot's consistent
//! point.
//!
//! **Hand-off.** On MariaDB the snapshot reads every table in one `START TRANSACTION WITH
//! CONSISTENT SNAPSHOT` whose binlog point P is `binlog_snapshot_file/position` (no global
//! lock); streaming starts at P once every snapshot row is acknowledged. Every row is then in
//! the topic from the snapshot or from a later change, and no change precedes the snapshot row
//! of its key: the changes after P follow all snapshot rows in the channel, and the pipeline
//! keeps channel order per key.
//!
//! **Progress.** After every chunk a [`SourceMessage::Commit`] carries a checkpoint whose
//! `snapshot` is the progress (tables done, the one in progress after its last key, the
//! pending ones) and whose resume point is P; the pipeline stores it once the chunk is
//! acknowledged. A restart resumes after the last acknowledged chunk (see [`crate::snapshot`]
//! for what rows after it read at the restart's later point mean). A lost connection during
//! the snapshot is retried with backoff from the progress of what was already sent.
//!
//! **Modes** ([`SnapshotMode`]): the pipeline calls [`ChangeSource::resolve_start`] only when
//! no checkpoint is stored; a snapshotting mode then returns a checkpoint with every captured
//! table pending, which the pipeline stores before the first read. `when_needed` also
//! re-snapshots when the binlog source reports its resume position purged; `initial_only`
//! returns after the snapshot (the service then exits 0).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::error::SnapshotError;
use super::incremental::{signal_table_of, WatermarkSnapshot};
use super::mode::SnapshotMode;
use super::point::SnapshotPoint;
use super::progress::{SnapshotMethod, SnapshotProgress, TableId, TableState};
use super::reader::{SnapshotChunk, SnapshotConfig, SnapshotReader};
use super::tables;
use crate::checkpoint::Checkpoint;
use crate::event::Origin;
use crate::metrics as m;
use crate::position::{BinlogPosition, StartPosition};
use crate::retry::{wait_or_cancel, Backoff};
use crate::source::{
    is_oceanbase, send_or_cancel, split_events, BinlogSource, ChangeSource, PrecheckProblems, SourceError,
    SourceMessage, TableFilter,
};
use crate::status::{now_ms, SnapshotPhase, SnapshotStatus, StageState, Status};

/// How often the snapshot logs a progress line per table.
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The initial snapshot, then the binlog (see the module docs).
#[derive(Debug, Clone)]
pub struct SnapshotThenStream {
    binlog: BinlogSource,
    mode: SnapshotMode,
    config: SnapshotConfig,
    status: Status,
    /// The reader [`ChangeSource::resolve_start`] opened: its consistent point is the one in
    /// the checkpoint stored before the first read, so the first run reads exactly there.
    opened: Arc<tokio::sync::Mutex<Option<SnapshotReader>>>,
    /// The tables earlier snapshots delivered, written into every checkpoint of this one
    /// ([`Checkpoint::snapshotted`]); this snapshot's tables join them when it is done.
    prior: Arc<std::sync::Mutex<Option<Arc<BTreeSet<TableId>>>>>,
}

impl SnapshotThenStream {
    /// A source that snapshots per `mode` with `config` (rows per chunk; `config.name` should
    /// be the binlog source's logical name), then streams with `binlog`.
    pub fn new(binlog: BinlogSource, mode: SnapshotMode, config: SnapshotConfig, status: Status) -> Self {
        Self { binlog, mode, config, status, opened: Arc::default(), prior: Arc::default() }
    }

    /// The captured tables (base tables the source's schema and table selectors match), in
    /// `information_schema` order, with their estimated row counts.
    ///
    /// Errors: [`SourceError::Config`] for a bad selector, [`SourceError::Connection`].
    pub async fn captured_tables(&self) -> Result<Vec<(TableId, u64)>, SourceError> {
        let cfg = self.binlog.config();
        let filter = TableFilter::new(&cfg.schemas, &cfg.tables).map_err(SourceError::Config)?;
        let mut conn =
            mysql_async::Conn::new(cfg.opts()).await.map_err(|e| SourceError::connection("connecting", e))?;
        if is_oceanbase(cfg, &mut conn).await? {
            // The binlog service's positions are its own: no consistent snapshot point exists
            // in them (and a proxy may answer `binlog_snapshot_%` from elsewhere).
            return Err(SourceError::Snapshot(Box::new(SnapshotError::NoConsistentPoint)));
        }
        let tables = tables::captured_tables(&mut conn, &filter).await.map_err(|e| match e {
            SnapshotError::Sql(e) => SourceError::connection("listing the captured tables", e),
            other => SourceError::Snapshot(Box::new(other)),
        })?;
        let estimates: Vec<(String, String, Option<u64>)> = conn
            .query("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
            .await
            .map_err(|e| SourceError::connection("reading table row estimates", e))?;
        let _ = conn.disconnect().await;
        let estimates: HashMap<TableId, u64> =
            estimates.into_iter().map(|(db, t, n)| (TableId::new(db, t), n.unwrap_or(0))).collect();
        Ok(tables
            .into_iter()
            .map(|t| {
                let n = estimates.get(&t).copied().unwrap_or(0);
                (t, n)
            })
            .collect())
    }

    /// A checkpoint that snapshots every captured table, streaming from `resume`'s point once
    /// the snapshot is done (the snapshot's own point replaces it when the reader opens).
    ///
    /// The reader is opened here, so the checkpoint the pipeline stores before the first read
    /// already holds the point the rows are read at. Streaming must start no later than the
    /// point of any snapshot row already delivered: were the point only known once rows flow,
    /// a crash before the first checkpoint with it would restart at a later point and lose the
    /// changes (deletes) between the two to rows the first run had delivered.
    async fn fresh(&self) -> Result<Checkpoint, SourceError> {
        if self.config.forces_watermark() {
            return self.watermark().fresh().await;
        }
        match self.fresh_consistent().await {
            Err(SourceError::Snapshot(e)) if matches!(e.downcast_ref(), Some(SnapshotError::NoConsistentPoint)) => {
                self.watermark().fresh().await
            }
            other => other,
        }
    }

    /// True when ad-hoc snapshot signals are read while streaming: a signal table is configured
    /// ([`SnapshotConfig::signal_table`]). (On the watermark path they are read anyway, from the
    /// default signal table when none is configured.)
    fn signals(&self) -> bool {
        self.config.signal_table.is_some()
    }

    /// The watermark snapshot (servers without a consistent point; see [`super::incremental`]).
    fn watermark(&self) -> WatermarkSnapshot {
        WatermarkSnapshot::new(self.binlog.clone(), self.mode, self.config.clone(), self.status.clone())
    }

    async fn fresh_consistent(&self) -> Result<Checkpoint, SourceError> {
        let tables = self.captured_tables().await?;
        info!(tables = tables.len(), "No checkpoint stored: the captured tables will be snapshotted first.");
        let progress = SnapshotProgress::new(tables.into_iter().map(|(t, _)| t));
        let conn = mysql_async::Conn::new(self.binlog.config().opts())
            .await
            .map_err(|e| SourceError::connection("connecting", e))?;
        let reader = match SnapshotReader::open(conn, self.config.clone(), progress).await {
            Ok(r) => r,
            Err(SnapshotError::Sql(e)) => return Err(SourceError::connection("opening the snapshot", e)),
            Err(e) => return Err(SourceError::Snapshot(Box::new(e))),
        };
        let progress = reader.progress().clone();
        let point = progress.point.clone().expect("the reader records the point");
        *self.opened.lock().await = Some(reader);
        *self.prior.lock().expect("not poisoned") = None;
        Ok(self.at_point(&point, Some(progress)))
    }

    /// The checkpoint at `point`: streaming resumes there; `snapshot` is the progress while
    /// one runs; the tables earlier snapshots delivered travel with it.
    fn at_point(&self, point: &SnapshotPoint, snapshot: Option<SnapshotProgress>) -> Checkpoint {
        Checkpoint {
            resume: point.resume(),
            server_id: point.server_id,
            ts_ms: now_ms(),
            snapshot,
            snapshotted: self.prior.lock().expect("not poisoned").clone(),
        }
    }

    /// A stored checkpoint without a snapshot under way, checked for captured tables no
    /// snapshot has delivered (added to the table selectors since): when there are some, the
    /// checkpoint comes back with a snapshot of just those, whose point is the checkpoint's
    /// position — they are read at a later consistent point after the binlog up to it is
    /// delivered (`catch_up`), while every other table keeps its stream. A checkpoint that
    /// records no snapshotted tables (written by mode `never` or an earlier version) gets the
    /// tables captured now as its record, and nothing is snapshotted.
    ///
    /// Errors: [`SourceError::Config`], [`SourceError::Connection`] from listing the tables.
    async fn with_added_tables(&self, mut from: Checkpoint) -> Result<Checkpoint, SourceError> {
        let cfg = self.binlog.config();
        let filter = TableFilter::new(&cfg.schemas, &cfg.tables).map_err(SourceError::Config)?;
        let mut conn =
            mysql_async::Conn::new(cfg.opts()).await.map_err(|e| SourceError::connection("connecting", e))?;
        let listed = tables::captured_tables(&mut conn, &filter).await.map_err(|e| match e {
            SnapshotError::Sql(e) => SourceError::connection("listing the captured tables", e),
            other => SourceError::Snapshot(Box::new(other)),
        })?;
        let signal = signal_table_of(&self.config, cfg);
        let captured: BTreeSet<TableId> = listed.into_iter().filter(|t| Some(t) != signal.as_ref()).collect();
        let Some(done) = from.snapshotted.clone() else {
            let _ = conn.disconnect().await;
            info!(tables = captured.len(), "The checkpoint records no snapshotted tables: the tables captured now are recorded as such (a table added later will be snapshotted).");
            from.snapshotted = Some(Arc::new(captured));
            return Ok(from);
        };
        let added: Vec<TableId> = captured.difference(&done).cloned().collect();
        if added.is_empty() {
            let _ = conn.disconnect().await;
            return Ok(from);
        }
        let method = if self.config.forces_watermark() || WatermarkSnapshot::applies(cfg, &mut conn).await? {
            SnapshotMethod::Watermark
        } else {
            SnapshotMethod::Consistent
        };
        let _ = conn.disconnect().await;
        let names: Vec<String> = added.iter().map(ToString::to_string).collect();
        let Some(point) = point_of(&from) else {
            warn!(added = ?names, "Tables were added to the captured tables, but the checkpoint has no binlog file position to snapshot them from; they are streamed only.");
            return Ok(from);
        };
        info!(added = ?names, ?method, "Tables added to the captured tables since the last snapshot: snapshotting them.");
        let mut progress = SnapshotProgress::new(added.iter().cloned());
        progress.method = method;
        progress.point = Some(point);
        from.snapshot = Some(progress);
        // Recorded at once: until the snapshot is done its progress is what a restart follows,
        // and every checkpoint after it must count the added tables as delivered.
        let mut delivered = (*done).clone();
        delivered.extend(added);
        from.snapshotted = Some(Arc::new(delivered));
        Ok(from)
    }

    /// Runs the snapshot described by `progress` to its end. Returns the checkpoint to stream
    /// from (None when cancelled).
    async fn snapshot(
        &self,
        mut progress: SnapshotProgress,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
    ) -> Result<Option<Checkpoint>, SourceError> {
        let estimates: HashMap<TableId, u64> = self.captured_tables().await.unwrap_or_default().into_iter().collect();
        let started = Instant::now();
        let mut tracker = Tracker::new(&progress, estimates, started);
        let backoff = Backoff::from_millis(200, 10_000);
        let mut delays = backoff.jittered();
        loop {
            // The reader opened when the start was resolved, else a new one at a later point.
            let stashed = self.opened.lock().await.take();
            let reader = match stashed {
                Some(reader) => Some(reader),
                None => self.open_reader(&progress).await?,
            };
            let pass = match reader {
                Some(reader) => match self.catch_up(reader.point(), &mut progress, tx, cancel).await? {
                    Pass::Done(_) => self.read(reader, &mut progress, &mut tracker, tx, cancel).await?,
                    other => other,
                },
                None => Pass::Retry,
            };
            match pass {
                Pass::Done(cp) => return Ok(Some(cp)),
                Pass::Stopped => return Ok(None),
                Pass::Retry => {
                    if wait_or_cancel(delays.next().unwrap_or(backoff.max), cancel).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// A new reader continuing `progress`; None (logged, on `/health`) when connecting failed
    /// or opening failed transiently, to be retried after a pause.
    ///
    /// Errors: [`SourceError::Snapshot`] when opening failed for good.
    async fn open_reader(&self, progress: &SnapshotProgress) -> Result<Option<SnapshotReader>, SourceError> {
        let conn = match mysql_async::Conn::new(self.binlog.config().opts()).await {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("snapshot: connecting: {e}");
                warn!(%reason, "Retrying the snapshot connection.");
                self.status.set_source(StageState::Connecting(Some(reason)));
                return Ok(None);
            }
        };
        match SnapshotReader::open(conn, self.config.clone(), progress.clone()).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if is_transient(&e) => {
                warn!(error = %e, "Snapshot could not start; retrying.");
                Ok(None)
            }
            Err(e) => Err(SourceError::Snapshot(Box::new(e))),
        }
    }

    /// Delivers the binlog changes between the progress's point S (where streaming resumes:
    /// every change before it is delivered) and `target`, this reader's later point P, before
    /// any row is read at P; then records P as the progress's point. Returns `Pass::Done` when
    /// P is reached (at once when S = P: a fresh snapshot, or a resume without writes in
    /// between), `Pass::Stopped` when cancelled, `Pass::Retry` when the binlog connection broke
    /// (resume from the last commit delivered, which the progress's point now holds).
    ///
    /// Why: the rows still to read are read as of P. Were they delivered before the changes of
    /// (S, P] (which the stream from S must deliver for the rows already read at S), a key
    /// changed in between would show its state at P and then older states — a per-key
    /// reorder. Delivered in this order, a key's events are the changes up to P, then its row
    /// as of P (a duplicate of its last state, or its first appearance), then the changes
    /// after P. Every commit of the catch-up carries the progress with the commit's position
    /// as its point, so a crash in it resumes from the last acknowledged commit.
    ///
    /// Errors: those of the binlog source ([`SourceError::PositionPurged`] when S is gone).
    async fn catch_up(
        &self,
        target: &SnapshotPoint,
        progress: &mut SnapshotProgress,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
    ) -> Result<Pass, SourceError> {
        let from = progress.point.clone().unwrap_or_else(|| target.clone());
        if !from.position.is_before(&target.position) {
            progress.point = Some(target.clone());
            return Ok(Pass::Done(self.at_point(target, None)));
        }
        info!(from = %from.position, to = %target.position, "Snapshot resumes at a later point: delivering the binlog changes in between first.");
        self.status.set_snapshot_phase(SnapshotPhase::CatchingUp);
        let (btx, mut brx) = mpsc::channel::<SourceMessage>(16);
        let bcancel = cancel.child_token();
        let start = self.at_point(&from, Some(progress.clone()));
        let task = tokio::spawn(self.binlog.clone().run(start, btx, bcancel.clone()));
        let mut reached = false;
        let mut forwarded_all = true;
        while let Some(msg) = brx.recv().await {
            let (msg, last) = match msg {
                SourceMessage::Events(events) => {
                    // One message holds rows of one transaction: wholly before or after P.
                    let at = events.first().map(|e| BinlogPosition::new(&*e.source.file, e.source.pos));
                    if at.is_some_and(|at| !at.is_before(&target.position)) {
                        reached = true;
                        break;
                    }
                    (SourceMessage::Events(events), false)
                }
                SourceMessage::SchemaChange(change) => {
                    if target.position.is_before(&change.position) {
                        reached = true;
                        break;
                    }
                    (SourceMessage::SchemaChange(change), false)
                }
                SourceMessage::Commit(cp) => {
                    let Some(at) = cp.position().cloned() else {
                        // A resume by GTID set only has no file position to compare.
                        return Err(SourceError::Snapshot(Box::new(SnapshotError::NoResumePosition)));
                    };
                    if target.position.is_before(&at) {
                        reached = true;
                        break;
                    }
                    progress.point = point_of(&cp);
                    let last = at == target.position;
                    (SourceMessage::Commit(Checkpoint { snapshot: Some(progress.clone()), ..cp }), last)
                }
                SourceMessage::Heartbeat { position, ts_ms } => {
                    // No open transaction at `position`: at or past P, everything before P
                    // was delivered.
                    let last = !position.is_before(&target.position);
                    (SourceMessage::Heartbeat { position, ts_ms }, last)
                }
            };
            if !send_or_cancel(tx, msg, cancel).await {
                forwarded_all = false;
                break;
            }
            if last {
                reached = true;
                break;
            }
        }
        bcancel.cancel();
        drop(brx);
        let outcome = task.await;
        if !forwarded_all || cancel.is_cancelled() {
            return Ok(Pass::Stopped);
        }
        if reached {
            info!(point = %target.position, "Binlog delivered up to the snapshot's point; reading the remaining rows there.");
            progress.point = Some(target.clone());
            return Ok(Pass::Done(self.at_point(target, None)));
        }
        match outcome {
            Ok(Ok(())) => Ok(Pass::Stopped),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(SourceError::Snapshot(Box::new(join))),
        }
    }

    /// One reader's run: forwards its chunks, each with a checkpoint holding the progress.
    async fn read(
        &self,
        reader: SnapshotReader,
        progress: &mut SnapshotProgress,
        tracker: &mut Tracker,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
    ) -> Result<Pass, SourceError> {
        // After `catch_up`, the progress's point is this run's point: the rows read now and the
        // changes delivered so far meet there.
        let first_point = reader.point().clone();
        debug_assert_eq!(progress.point.as_ref(), Some(&first_point));
        progress.point = Some(first_point.clone());
        info!(point = %first_point.position, tables = progress.tables.len(), done = progress.tables.len() - progress.remaining(), "Snapshot started.");
        self.status.set_source(StageState::Running);
        let (ctx, mut crx) = mpsc::channel::<SnapshotChunk>(2);
        let reader_cancel = cancel.child_token();
        let task = tokio::spawn(reader.run(ctx, reader_cancel.clone()));
        let mut forwarded_all = true;
        while let Some(chunk) = crx.recv().await {
            let n = chunk.events.len() as u64;
            let table = chunk.table.clone();
            let state = chunk.state.clone();
            let mut events = chunk.events;
            if chunk.last {
                if let Some(ev) = events.last_mut() {
                    let mut info = (*ev.source.event).clone();
                    info.origin = Origin::Snapshot { last: true };
                    ev.source.event = Arc::new(info);
                }
            }
            progress.set(&table, state.clone());
            let cp = self.at_point(&first_point, Some(progress.clone()));
            // The chunk's rows in messages of the binlog source's bounds, then its checkpoint.
            let mut msgs: Vec<SourceMessage> = split_events(events).into_iter().map(SourceMessage::Events).collect();
            msgs.push(SourceMessage::Commit(cp));
            for msg in msgs {
                if !send_or_cancel(tx, msg, cancel).await {
                    forwarded_all = false;
                    break;
                }
            }
            if !forwarded_all {
                break;
            }
            tracker.on_chunk(&table, n, &state, progress, &self.status);
        }
        reader_cancel.cancel();
        drop(crx);
        let outcome = task.await;
        if !forwarded_all || cancel.is_cancelled() {
            return Ok(Pass::Stopped);
        }
        match outcome {
            Ok(Ok(_)) if progress.is_done() => {
                tracker.finish(progress, &self.status);
                info!(rows = tracker.rows, seconds = tracker.started.elapsed().as_secs(), point = %first_point.position, "Snapshot done; streaming from its point.");
                Ok(Pass::Done(self.at_point(&first_point, None)))
            }
            Ok(Ok(_)) => Ok(Pass::Stopped),
            Ok(Err(e)) if is_transient(&e) => {
                warn!(error = %e, "Snapshot connection lost; resuming after the last chunk sent.");
                self.status.set_source(StageState::Connecting(Some(format!("snapshot: {e}"))));
                Ok(Pass::Retry)
            }
            Ok(Err(e)) => Err(SourceError::Snapshot(Box::new(e))),
            Err(join) => Err(SourceError::Snapshot(Box::new(join))),
        }
    }
}

/// How one reader's run ended.
enum Pass {
    /// Every table read: stream from this checkpoint.
    Done(Checkpoint),
    /// Cancelled, or the receiver is gone.
    Stopped,
    /// A lost connection: open a new reader after a pause.
    Retry,
}

/// The point a checkpoint stands at, as a snapshot's point (where rows and delivered changes
/// meet); None for a resume by GTID set only (no file position).
fn point_of(cp: &Checkpoint) -> Option<SnapshotPoint> {
    Some(SnapshotPoint {
        position: cp.position()?.clone(),
        gtid_set: cp.gtid_set().cloned(),
        server_id: cp.server_id,
        ts_ms: cp.ts_ms,
    })
}

/// True for errors a new connection may fix (the connection broke, the server went away).
fn is_transient(e: &SnapshotError) -> bool {
    matches!(e, SnapshotError::Sql(mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)))
}

/// Progress bookkeeping for `/health`, `/metrics` and the log.
struct Tracker {
    estimates: HashMap<TableId, u64>,
    started: Instant,
    rows: u64,
    table: Option<TableId>,
    table_rows: u64,
    table_started: Instant,
    last_log: Instant,
    total: usize,
}

impl Tracker {
    fn new(progress: &SnapshotProgress, estimates: HashMap<TableId, u64>, started: Instant) -> Self {
        metrics::gauge!(m::SNAPSHOT_TABLES_REMAINING).set(progress.remaining() as f64);
        Self {
            estimates,
            started,
            rows: 0,
            table: None,
            table_rows: 0,
            table_started: started,
            last_log: started,
            total: progress.tables.len(),
        }
    }

    fn on_chunk(&mut self, table: &TableId, n: u64, state: &TableState, progress: &SnapshotProgress, status: &Status) {
        let name = table.to_string();
        if self.table.as_ref() != Some(table) {
            self.table = Some(table.clone());
            self.table_rows = 0;
            self.table_started = Instant::now();
            info!(table = %name, estimated_rows = self.estimates.get(table).copied().unwrap_or(0), "Snapshot of a table started.");
        }
        self.rows += n;
        self.table_rows += n;
        metrics::counter!(m::SNAPSHOT_ROWS_TOTAL, "table" => name.clone()).increment(n);
        metrics::gauge!(m::SNAPSHOT_TABLES_REMAINING).set(progress.remaining() as f64);
        metrics::gauge!(m::SNAPSHOT_DURATION_SECONDS).set(self.started.elapsed().as_secs_f64());
        let done_rows = match state {
            TableState::InProgress { rows, .. } | TableState::Done { rows } => *rows,
            TableState::Pending => 0,
        };
        let estimated = self.estimates.get(table).copied().unwrap_or(0);
        let secs = self.table_started.elapsed().as_secs_f64();
        let eta = (self.table_rows > 0 && estimated > done_rows && secs > 0.0)
            .then(|| ((estimated - done_rows) as f64 / (self.table_rows as f64 / secs)) as u64);
        let finished = matches!(state, TableState::Done { .. });
        status.set_snapshot(SnapshotStatus {
            phase: SnapshotPhase::Reading,
            table: Some(name.clone()),
            table_rows_done: done_rows,
            table_rows_estimated: estimated,
            tables_remaining: progress.remaining(),
            tables_total: self.total,
            rows_done: self.rows,
            table_eta_s: eta,
            elapsed_s: self.started.elapsed().as_secs(),
        });
        if finished || self.last_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            self.last_log = Instant::now();
            info!(table = %name, rows = done_rows, estimated_rows = estimated, eta_s = eta, tables_remaining = progress.remaining(), finished, "Snapshot progress.");
        }
    }

    fn finish(&self, progress: &SnapshotProgress, status: &Status) {
        metrics::gauge!(m::SNAPSHOT_TABLES_REMAINING).set(0.0);
        metrics::gauge!(m::SNAPSHOT_DURATION_SECONDS).set(self.started.elapsed().as_secs_f64());
        status.set_snapshot(SnapshotStatus::done(progress.tables.len(), self.rows, self.started.elapsed().as_secs()));
    }
}

impl ChangeSource for SnapshotThenStream {
    /// The binlog source's precheck, plus, for a snapshotting mode on a server without a
    /// consistent point (the OceanBase binlog service, MySQL): what the watermark snapshot
    /// needs (its signal table, writable), each problem with its fix.
    async fn precheck(&self) -> Result<(), SourceError> {
        let binlog = self.binlog.precheck().await;
        if !self.mode.snapshots() && !self.signals() {
            return binlog;
        }
        let needs_signal_table = self.signals() || (self.mode.snapshots() && self.config.forces_watermark());
        let problems = self.watermark().precheck(needs_signal_table).await?;
        match binlog {
            Err(SourceError::Precheck(mut list)) => {
                list.0.extend(problems);
                Err(SourceError::Precheck(list))
            }
            Err(other) => Err(other),
            Ok(()) if problems.is_empty() => Ok(()),
            Ok(()) => Err(SourceError::Precheck(PrecheckProblems(problems))),
        }
    }

    /// With a snapshotting mode: every captured table pending, streaming from the snapshot's
    /// point. With `never`: the binlog source's start.
    async fn resolve_start(&self, start: &StartPosition) -> Result<Checkpoint, SourceError> {
        if self.mode.snapshots() {
            self.fresh().await
        } else {
            self.binlog.resolve_start(start).await
        }
    }

    async fn run(
        self,
        from: Checkpoint,
        tx: mpsc::Sender<SourceMessage>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let mut from = from;
        if self.mode.snapshots() && from.snapshot.as_ref().is_none_or(|p| p.is_done()) {
            from = self.with_added_tables(from).await?;
        }
        loop {
            if from.snapshot.as_ref().is_some_and(|p| p.method == SnapshotMethod::Watermark && !p.is_done()) {
                return self.watermark().run(from, tx, cancel).await;
            }
            if let Some(progress) = from.snapshot.clone().filter(|p| !p.is_done()) {
                *self.prior.lock().expect("not poisoned") = from.snapshotted.clone();
                let mut delivered: BTreeSet<TableId> = from.snapshotted.as_deref().cloned().unwrap_or_default();
                delivered.extend(progress.tables.iter().map(|t| t.table.clone()));
                match self.snapshot(progress, &tx, &cancel).await {
                    Ok(Some(mut next)) => {
                        next.snapshotted = Some(Arc::new(delivered));
                        // Every snapshot row is before this commit: once it is stored, a restart
                        // streams from the point instead of snapshotting again.
                        if tx.send(SourceMessage::Commit(next.clone())).await.is_err() {
                            return Ok(());
                        }
                        from = next;
                    }
                    Ok(None) => return Ok(()),
                    // A resumed snapshot's catch-up found its point purged: the changes to the
                    // rows already delivered are gone, so everything is read again.
                    Err(SourceError::PositionPurged { position, oldest }) if self.mode == SnapshotMode::WhenNeeded => {
                        warn!(%position, %oldest, "The snapshot's resume position was purged from the server; snapshot mode when_needed: snapshotting the captured tables again.");
                        from = self.fresh().await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.mode == SnapshotMode::InitialOnly {
                info!("Snapshot mode initial_only: the snapshot is delivered; stopping.");
                return Ok(());
            }
            if self.signals() {
                // Streaming through the watermark forwarder, which reads the signal table: a
                // signal starts a watermark snapshot of the tables it names.
                return self.watermark().run(Checkpoint { snapshot: None, ..from }, tx, cancel).await;
            }
            match self.binlog.clone().run(from.clone(), tx.clone(), cancel.clone()).await {
                Err(SourceError::PositionPurged { position, oldest }) if self.mode == SnapshotMode::WhenNeeded => {
                    warn!(%position, %oldest, "The resume position was purged from the server; snapshot mode when_needed: snapshotting the captured tables again.");
                    from = self.fresh().await?;
                }
                other => return other,
            }
        }
    }
}
