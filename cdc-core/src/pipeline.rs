//! The pipeline: source → bounded channel → batcher → sink → checkpoint.
//!
//! [`run`] owns the order of operations that makes delivery at-least-once:
//!
//! 1. **Resume point.** The stored checkpoint if there is one; otherwise the configured
//!    [`StartPosition`] is resolved to a concrete position and *stored before the first event is
//!    read*, so a crash before the first acknowledgement resumes there instead of skipping to a
//!    newer end of the binlog.
//! 2. **Source task.** [`BinlogSource::run`] streams into a bounded channel; when the channel is
//!    full the reader waits (backpressure: a slow DataHub slows the binlog reader, memory stays
//!    bounded by `channel_capacity` messages — the rows of one or more rows events each — plus
//!    two batches: one in flight, one filling).
//! 3. **Sink stage** ([`sink_stage`]). Events are batched (rows, bytes, linger); a batch is sent
//!    and re-sent on transient errors until the sink acknowledges all of it. A checkpoint is taken
//!    only from a `Commit` message (a transaction boundary) whose preceding events have all been
//!    acknowledged. Nothing else advances it.
//! 4. **Shutdown.** Cancelling the token stops the reader; the sink stage drains what was read,
//!    flushes, stores the final checkpoint and returns.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::batch::{estimate_size, Batch, BatchLimits};
use crate::checkpoint::{OffsetStore, OffsetStoreError};
use crate::event::ChangeEvent;
use crate::metrics as m;
use crate::position::{Checkpoint, StartPosition};
use crate::sink::{Sink, SinkError};
use crate::source::{BinlogSource, SourceError, SourceMessage};
use crate::status::{StageState, Status};

/// Settings of the pipeline itself (source and sink have their own).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Where to start when no checkpoint is stored.
    pub start: StartPosition,
    /// Batch bounds (rows, bytes, linger).
    pub batch: BatchLimits,
    /// Capacity of the source → batcher channel, in messages: rows of one or more rows events
    /// of one transaction (up to about 8,192 column values or 256 KiB of binlog row data, plus
    /// one rows event, which holds at most `binlog_row_event_max_size` bytes of row images,
    /// 8 KiB by default on MySQL and MariaDB, unless a single row is larger), a transaction
    /// commit, or a heartbeat. The default of 16 buffers ≈ 12,000 narrow rows (≈ 2,000 wide
    /// ones, ≈ 4,000 rows of 1 KB) — enough to keep the reader busy while the sink stage works
    /// on two batches (docs/benchmarks.md).
    pub channel_capacity: usize,
    /// Shortest interval between two checkpoint writes, ms (the final one is always written).
    /// Larger values mean fewer fsyncs and more duplicates after a crash. Default 1000.
    pub checkpoint_interval_ms: u64,
    /// First pause before re-sending a batch the sink failed transiently, ms. Default 500.
    pub sink_retry_initial_ms: u64,
    /// Longest pause between re-sends of a failing batch, ms. Default 30000.
    pub sink_retry_max_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            start: StartPosition::Latest,
            batch: BatchLimits::default(),
            channel_capacity: 16,
            checkpoint_interval_ms: 1000,
            sink_retry_initial_ms: 500,
            sink_retry_max_ms: 30_000,
        }
    }
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed for good (precheck, purged position, undecodable event).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The sink failed for good (bad credentials, missing topic, malformed records).
    #[error("DataHub sink failed: {0}")]
    Sink(#[from] SinkError),
    /// A checkpoint could not be read or written: the pipeline stops reading rather than run
    /// without checkpoints.
    #[error("checkpoint store failed, stopped reading: {0}")]
    Offsets(#[from] OffsetStoreError),
    /// The source task ended abnormally (panicked).
    #[error("source task ended abnormally: {0}")]
    SourceTask(String),
}

/// Exponential backoff without jitter for pipeline-level waits, capped.
fn backoff(attempt: u32, initial_ms: u64, max_ms: u64) -> Duration {
    let ms = initial_ms.saturating_mul(1u64 << attempt.min(20)).min(max_ms);
    Duration::from_millis(ms)
}

/// Runs the pipeline until `cancel` fires (returns `Ok` after draining and the final checkpoint)
/// or a stage fails for good.
///
/// Transient failures never end it: an unreachable database is retried by the source, an
/// unavailable DataHub by the sink stage, both visible in `status` (and so on `/health/ready`).
///
/// Errors: [`PipelineError`] for fatal source/sink errors and checkpoint I/O failures.
pub async fn run<S, O>(
    source: BinlogSource,
    mut sink: S,
    offsets: O,
    cfg: PipelineConfig,
    status: Status,
    cancel: CancellationToken,
) -> Result<(), PipelineError>
where
    S: Sink,
    O: OffsetStore,
{
    // Sink reachable and topic usable? Retried while transient so the service stays up.
    let (initial, max) = (cfg.sink_retry_initial_ms, cfg.sink_retry_max_ms);
    let checked = until_ok(
        &cancel,
        (initial, max),
        SinkError::is_transient,
        &mut sink,
        |s| Box::pin(s.check()),
        |e| {
            warn!(error = %e, "DataHub not reachable yet; retrying.");
            status.set_sink(StageState::Retrying(e.to_string()));
        },
    )
    .await;
    match checked {
        Ok(Some(())) => {}
        Ok(None) => {
            status.set_sink(StageState::Stopped);
            return Ok(());
        }
        Err(e) => {
            status.set_sink(StageState::Failed(e.to_string()));
            return Err(e.into());
        }
    }
    status.set_sink(StageState::Running);

    let Some(from) = resume_point(&source, &offsets, &cfg, &status, &cancel).await? else {
        status.set_source(StageState::Stopped);
        return Ok(());
    };
    info!(position = %from.position, gtid = from.gtid_set.as_deref().unwrap_or(""), "Starting binlog stream.");

    let (tx, rx) = mpsc::channel(cfg.channel_capacity.max(1));
    let source_cancel = cancel.child_token();
    let source_status = status.clone();
    let source_task = tokio::spawn(
        {
            let token = source_cancel.clone();
            async move {
                let res = source.run(from, tx, token).await;
                match &res {
                    Ok(()) => source_status.set_source(StageState::Stopped),
                    Err(e) => source_status.set_source(StageState::Failed(e.to_string())),
                }
                res
            }
        }
        .instrument(info_span!("source")),
    );

    let sink_result = sink_stage(rx, &mut sink, &offsets, &cfg, &status, &cancel).instrument(info_span!("sink")).await;
    // Whatever ended the sink stage, the reader must stop too.
    source_cancel.cancel();
    let source_result = source_task.await;

    sink_result?;
    match source_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            error!(error = %e, "Binlog source failed.");
            Err(e.into())
        }
        Err(join) => Err(PipelineError::SourceTask(join.to_string())),
    }
}

/// Sleeps `d` unless `cancel` fires first; returns true when cancelled.
async fn wait_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = sleep(d) => false,
        _ = cancel.cancelled() => true,
    }
}

/// The stored checkpoint, or the resolved start position stored now. None when cancelled.
async fn resume_point<O: OffsetStore>(
    mut source: &BinlogSource,
    offsets: &O,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
) -> Result<Option<Checkpoint>, PipelineError> {
    let on_retry = |e: &SourceError| {
        warn!(error = %e, "Database not reachable yet; retrying.");
        status.set_source(StageState::Connecting(Some(e.to_string())));
    };
    let fatal = |e: SourceError| {
        status.set_source(StageState::Failed(e.to_string()));
        PipelineError::from(e)
    };
    // Server reachable and configured for CDC?
    status.set_source(StageState::Connecting(None));
    let checked =
        until_ok(cancel, SOURCE_RETRY_MS, SourceError::is_transient, &mut source, |s| Box::pin(s.precheck()), on_retry);
    if checked.await.map_err(fatal)?.is_none() {
        return Ok(None);
    }
    if let Some(cp) = offsets.load()? {
        info!(position = %cp.position, "Resuming from the stored checkpoint.");
        status.on_checkpoint(&cp);
        return Ok(Some(cp));
    }
    let mut with_start = (source, &cfg.start);
    let resolved = until_ok(
        cancel,
        SOURCE_RETRY_MS,
        SourceError::is_transient,
        &mut with_start,
        |(s, start)| Box::pin(s.resolve_start(start)),
        on_retry,
    );
    let Some(cp) = resolved.await.map_err(fatal)? else { return Ok(None) };
    // Stored before the first event is read: a crash before the first ack resumes here, not at a
    // newer end of the binlog.
    offsets.store(&cp)?;
    status.on_checkpoint(&cp);
    info!(start = ?cfg.start, position = %cp.position, "No checkpoint stored; starting position resolved and stored.");
    Ok(Some(cp))
}

/// Backoff bounds (first, largest pause; ms) while the database cannot be reached at start.
const SOURCE_RETRY_MS: (u64, u64) = (500, 30_000);

/// Calls `op(state)` until it succeeds (`Ok(Some)`), fails with an error `is_transient` rejects
/// (`Err`), or `cancel` fires during a pause (`Ok(None)`). Transient errors are passed to
/// `on_retry`, then followed by an exponential pause bounded by `bounds` (first, largest; ms).
/// Start-up path only: the boxed future costs one allocation per attempt.
async fn until_ok<St, T, E>(
    cancel: &CancellationToken,
    bounds: (u64, u64),
    is_transient: impl Fn(&E) -> bool,
    state: &mut St,
    mut op: impl for<'a> FnMut(&'a mut St) -> BoxFuture<'a, Result<T, E>>,
    on_retry: impl Fn(&E),
) -> Result<Option<T>, E> {
    let mut attempt = 0;
    loop {
        match op(state).await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if is_transient(&e) => {
                on_retry(&e);
                if wait_or_cancel(backoff(attempt, bounds.0, bounds.1), cancel).await {
                    return Ok(None);
                }
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// State of the sink stage between messages.
struct SinkStage<'a, O> {
    offsets: &'a O,
    cfg: &'a PipelineConfig,
    status: &'a Status,
    /// The batch being filled.
    batch: Batch,
    /// Events of the last received message that did not fit in `batch` (it is full); no message
    /// is received until they are all in a batch, so `pending` never runs ahead of them.
    carry: std::vec::IntoIter<ChangeEvent>,
    /// The newest `Commit` received. Every event received before it is in `batch`, in the batch
    /// in flight, or already acknowledged.
    pending: Option<Checkpoint>,
    /// The newest `Commit` whose events are all acknowledged (the `pending` of the last
    /// acknowledged batch when it was sealed).
    acked: Option<Checkpoint>,
    /// The last checkpoint written.
    stored: Option<Checkpoint>,
    last_store: Instant,
}

/// Outcome of sending one batch.
enum Flush {
    /// Acknowledged.
    Done,
    /// Shutdown came while the batch was failing: it was not acknowledged, and no checkpoint
    /// covers it, so it is read again after a restart.
    Abandoned,
}

/// Sends `events` until the sink acknowledges them, re-sending after transient errors with
/// backoff. Takes the sink and gives it back, so that the stage can keep receiving while this
/// runs (one batch in flight, the next one filling).
async fn send_until_acked<'s, S: Sink>(
    sink: &'s mut S,
    events: Vec<ChangeEvent>,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
) -> (&'s mut S, Result<Flush, PipelineError>) {
    let mut attempt = 0u32;
    let started = Instant::now();
    loop {
        match sink.send(&events).await {
            Ok(ack) => {
                metrics::histogram!(m::PIPELINE_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
                debug!(records = ack.records, bytes = ack.bytes, "Batch acknowledged.");
                if attempt > 0 {
                    info!(records = events.len(), attempts = attempt + 1, "Sink recovered; batch acknowledged.");
                }
                status.set_sink(StageState::Running);
                status.on_acked(events.len() as u64);
                return (sink, Ok(Flush::Done));
            }
            Err(e) if e.is_transient() => {
                metrics::counter!(m::PIPELINE_BATCH_RETRIES_TOTAL).increment(1);
                status.set_sink(StageState::Retrying(e.to_string()));
                let wait = backoff(attempt, cfg.sink_retry_initial_ms, cfg.sink_retry_max_ms);
                warn!(error = %e, records = events.len(), wait_ms = wait.as_millis() as u64, "Batch not acknowledged; pausing before re-sending it.");
                if wait_or_cancel(wait, cancel).await {
                    warn!(
                        records = events.len(),
                        "Shutdown while the sink was failing; the unacknowledged batch will be read again on restart."
                    );
                    return (sink, Ok(Flush::Abandoned));
                }
                attempt = attempt.saturating_add(1);
            }
            Err(e) => {
                error!(error = %e, "Sink failed with a non-retryable error; stopping.");
                status.set_sink(StageState::Failed(e.to_string()));
                return (sink, Err(e.into()));
            }
        }
    }
}

impl<O: OffsetStore> SinkStage<'_, O> {
    /// Moves events from `carry` into the batch until it is full.
    fn absorb(&mut self) {
        while !self.batch.is_full(&self.cfg.batch) {
            let Some(ev) = self.carry.next() else { break };
            let size = estimate_size(&ev);
            self.batch.push(ev, size);
        }
    }

    /// True when a received message could be taken in now.
    fn can_receive(&self) -> bool {
        self.carry.len() == 0 && !self.batch.is_full(&self.cfg.batch)
    }

    /// Writes the newest checkpoint that is safe — `pending` when nothing is unacknowledged,
    /// else the commit covered by the last acknowledged batch — if the interval passed (or
    /// `force`).
    fn checkpoint(&mut self, in_flight: bool, force: bool) -> Result<(), PipelineError> {
        if !in_flight && self.batch.is_empty() && self.carry.len() == 0 {
            // Everything received is acknowledged, so is the newest commit: `acked` must not
            // stay behind a checkpoint stored from `pending`, or the next store (with a batch in
            // flight) would move the checkpoint backwards.
            self.acked.clone_from(&self.pending);
        }
        let Some(cp) = self.acked.as_ref() else { return Ok(()) };
        let due = force || self.last_store.elapsed() >= Duration::from_millis(self.cfg.checkpoint_interval_ms);
        if !due || self.stored.as_ref() == Some(cp) {
            return Ok(());
        }
        let cp = cp.clone();
        if let Err(e) = self.offsets.store(&cp) {
            error!(error = %e, "Cannot store checkpoint; stopping the reader rather than run without checkpoints.");
            self.status.set_source(StageState::Failed(e.to_string()));
            return Err(e.into());
        }
        metrics::counter!(m::CHECKPOINTS_TOTAL).increment(1);
        if let Some(i) = cp.position.file_index() {
            metrics::gauge!(m::CHECKPOINT_FILE_INDEX).set(i as f64);
        }
        metrics::gauge!(m::CHECKPOINT_POSITION_BYTES).set(cp.position.pos as f64);
        metrics::gauge!(m::CHECKPOINT_TIMESTAMP_SECONDS).set(cp.ts_ms as f64 / 1000.0);
        self.status.on_checkpoint(&cp);
        self.last_store = Instant::now();
        self.stored = Some(cp);
        Ok(())
    }
}

/// A batch in flight: the send future (it owns the sink until it completes) and the commit that
/// becomes safe to checkpoint when it is acknowledged.
type InFlight<'a, S> = (BoxFuture<'a, (&'a mut S, Result<Flush, PipelineError>)>, Option<Checkpoint>);

/// The batcher + sink + checkpoint stage, on its own so tests can drive it with a channel.
///
/// Reads `rx` until it closes (the source stopped), batching events and sending a batch when it
/// reaches a bound (rows, bytes), when its linger time has passed, or when a transaction ended
/// with nothing more queued. **One batch is in flight at a time** while the next one fills; the
/// next is sent only after the previous one was acknowledged, so per-key order is the binlog
/// order. When the filling batch is full and one is in flight, nothing is received: the channel
/// fills and the source waits (backpressure). Checkpoints are stored as described in the module
/// docs. On return (`Ok`), everything received was acknowledged and the final checkpoint is
/// stored — unless shutdown interrupted a failing batch, in which case the checkpoint stays
/// before it.
///
/// Errors: fatal [`SinkError`]s and [`OffsetStoreError`]s.
pub async fn sink_stage<S: Sink, O: OffsetStore>(
    mut rx: mpsc::Receiver<SourceMessage>,
    sink: &mut S,
    offsets: &O,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
) -> Result<(), PipelineError> {
    let mut st = SinkStage {
        offsets,
        cfg,
        status,
        batch: Batch::default(),
        carry: Vec::new().into_iter(),
        pending: None,
        acked: None,
        stored: None,
        last_store: Instant::now(),
    };
    // The sink is either here (idle) or inside the in-flight future.
    let mut idle_sink: Option<&mut S> = Some(sink);
    let mut in_flight: Option<InFlight<'_, S>> = None;
    // The filling batch should go as soon as the sink is free (linger passed, transaction ended
    // with the source idle, or the source stopped).
    let mut send_soon = false;
    let mut closed = false;
    let mut linger_deadline: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.checkpoint_interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Start the next send when the sink is free and the batch is due.
        if let Some(sink) =
            idle_sink.take_if(|_| !st.batch.is_empty() && (send_soon || closed || st.batch.is_full(&cfg.batch)))
        {
            let events = st.batch.take();
            linger_deadline = None;
            send_soon = false;
            metrics::histogram!(m::PIPELINE_BATCH_ROWS).record(events.len() as f64);
            let covers = st.pending.clone();
            in_flight = Some((Box::pin(send_until_acked(sink, events, cfg, status, cancel)), covers));
            st.absorb();
        }
        // The linger starts when the filling batch gets its first event (it only ever sets
        // `send_soon`, so it is not armed while that is already set).
        if !st.batch.is_empty() && linger_deadline.is_none() && !send_soon {
            linger_deadline = Some(Instant::now() + cfg.batch.linger);
        }
        if closed && in_flight.is_none() && st.batch.is_empty() {
            // The source stopped and everything received is acknowledged: final checkpoint.
            st.checkpoint(false, true)?;
            return Ok(());
        }
        tokio::select! {
            biased;
            (sink, result) = async { (&mut in_flight.as_mut().expect("guarded").0).await }, if in_flight.is_some() => {
                let (_, covers) = in_flight.take().expect("guarded");
                idle_sink = Some(sink);
                match result? {
                    Flush::Done => {
                        if covers.is_some() {
                            st.acked = covers;
                        }
                        st.checkpoint(false, false)?;
                    }
                    Flush::Abandoned => return Ok(()),
                }
            }
            msg = rx.recv(), if !closed && st.can_receive() => match msg {
                // The source stopped (shutdown or failure): drain, final checkpoint.
                None => closed = true,
                Some(SourceMessage::Events(events)) => {
                    // The source counts events and updates the read position; this stage owns
                    // acknowledgement and checkpoints.
                    st.carry = events.into_iter();
                    st.absorb();
                }
                Some(SourceMessage::Commit(cp)) => {
                    st.pending = Some(cp);
                    // A transaction ended and the source has nothing more queued: waiting out the
                    // linger would only add latency. Send as soon as the sink is free; rows that
                    // arrive meanwhile go together in the next batch (batches still grow with the
                    // rate; the linger bounds the wait inside a burst). docs/benchmarks.md.
                    if !st.batch.is_empty() && rx.is_empty() {
                        send_soon = true;
                    }
                    st.checkpoint(in_flight.is_some(), false)?;
                }
                Some(SourceMessage::Heartbeat { .. }) => status.beat(),
            },
            _ = sleep_until_opt(linger_deadline), if linger_deadline.is_some() => {
                linger_deadline = None;
                send_soon = true;
            }
            _ = tick.tick() => {
                // Also keeps the liveness heartbeat beating while a send waits for DataHub.
                status.beat();
                metrics::gauge!(m::QUEUE_DEPTH).set(rx.len() as f64);
                if let Some(lag) = status.snapshot().lag_ms {
                    metrics::gauge!(m::REPLICATION_LAG_SECONDS).set(lag as f64 / 1000.0);
                }
                st.checkpoint(in_flight.is_some(), false)?;
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::checkpoint::MemoryOffsetStore;
    use crate::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
    use crate::position::BinlogPosition;
    use crate::sink::SinkAck;

    /// A sink that records what it acknowledged and fails on command: after `fail_after`
    /// successful batches, the next `failures` sends fail (transiently or fatally).
    #[derive(Clone, Default)]
    struct FlakySink {
        acked: Arc<Mutex<Vec<ChangeEvent>>>,
        sends: Arc<Mutex<u32>>,
        fail_after: u32,
        failures: u32,
        fatal: bool,
    }

    impl Sink for FlakySink {
        async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
            let n = {
                let mut s = self.sends.lock().unwrap();
                *s += 1;
                *s
            };
            if n > self.fail_after && n <= self.fail_after + self.failures {
                return Err(if self.fatal {
                    SinkError::fatal(Some("Unauthorized".into()), "bad key")
                } else {
                    SinkError::transient(Some("LimitExceeded".into()), "throttled")
                });
            }
            self.acked.lock().unwrap().extend_from_slice(batch);
            Ok(SinkAck { records: batch.len(), bytes: 0, requests: 1 })
        }
    }

    fn event(key: i64, pos: u64, row: u32) -> ChangeEvent {
        ChangeEvent {
            op: Op::Create,
            before: None,
            after: Some(Row { columns: Arc::from(vec![Arc::from("id")]), values: vec![Value::Int(key)] }),
            source: SourceInfo::new(
                RowsEventInfo {
                    name: "t".into(),
                    server_id: 1,
                    db: "d".into(),
                    table: "t".into(),
                    file: "binlog.000001".into(),
                    pos,
                    gtid: None,
                    ts_ms: 0,
                },
                row,
            ),
            ts_ms: 0,
            transaction: None,
            key_columns: Arc::from(vec![0usize]),
        }
    }

    fn commit(pos: u64) -> SourceMessage {
        SourceMessage::Commit(Checkpoint {
            position: BinlogPosition::new("binlog.000001", pos),
            gtid_set: None,
            server_id: 1,
            ts_ms: 0,
        })
    }

    /// 50 transactions of 3 events on 5 keys; returns messages and the commit position of each.
    fn workload() -> Vec<SourceMessage> {
        let mut msgs = Vec::new();
        let mut pos = 100;
        for t in 0..50u64 {
            let evs: Vec<_> = (0..3u32).map(|r| event(((t * 3 + r as u64) % 5) as i64, pos, r)).collect();
            // Even transactions: one rows event of 3 rows; odd: three rows events of 1 row.
            if t % 2 == 0 {
                msgs.push(SourceMessage::Events(evs));
            } else {
                msgs.extend(evs.into_iter().map(|e| SourceMessage::Events(vec![e])));
            }
            pos += 100;
            msgs.push(commit(pos));
        }
        msgs
    }

    fn cfg(max_records: usize) -> PipelineConfig {
        PipelineConfig {
            batch: BatchLimits { max_records, max_bytes: usize::MAX, linger: Duration::from_millis(5) },
            checkpoint_interval_ms: 0,
            sink_retry_initial_ms: 1,
            sink_retry_max_ms: 5,
            ..PipelineConfig::default()
        }
    }

    /// Per key, the acknowledged events' (pos, row) must never go backwards.
    fn assert_per_key_order(acked: &[ChangeEvent]) {
        let mut last: HashMap<String, (u64, u32)> = HashMap::new();
        for ev in acked {
            let k = ev.partition_key();
            let here = (ev.source.pos, ev.source.row);
            if let Some(prev) = last.insert(k.clone(), here) {
                assert!(prev <= here, "key {k:?} went from {prev:?} back to {here:?}");
            }
        }
    }

    /// A checkpoint recorder that proves, at every store, that every event before the stored
    /// position was already acknowledged by the sink.
    #[derive(Clone)]
    struct CheckedStore {
        inner: MemoryOffsetStore,
        acked: Arc<Mutex<Vec<ChangeEvent>>>,
        all_events: Arc<Vec<(u64, u32)>>,
        stores: Arc<Mutex<u32>>,
    }

    impl OffsetStore for CheckedStore {
        fn load(&self) -> Result<Option<Checkpoint>, OffsetStoreError> {
            self.inner.load()
        }
        fn store(&self, cp: &Checkpoint) -> Result<(), OffsetStoreError> {
            let acked: std::collections::HashSet<(u64, u32)> =
                self.acked.lock().unwrap().iter().map(|e| (e.source.pos, e.source.row)).collect();
            for ev in self.all_events.iter().filter(|(p, _)| *p < cp.position.pos) {
                assert!(acked.contains(ev), "checkpoint {} stored before event {ev:?} was acknowledged", cp.position);
            }
            if let Some(prev) = self.inner.load()? {
                assert!(
                    prev.position.pos <= cp.position.pos,
                    "checkpoint moved back from {} to {}",
                    prev.position,
                    cp.position
                );
            }
            *self.stores.lock().unwrap() += 1;
            self.inner.store(cp)
        }
    }

    async fn drive(sink: &mut FlakySink, store: &CheckedStore, cfg: &PipelineConfig) -> Result<(), PipelineError> {
        let (tx, rx) = mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            for m in workload() {
                tx.send(m).await.unwrap();
            }
        });
        let status = Status::new();
        let cancel = CancellationToken::new();
        let res = sink_stage(rx, sink, store, cfg, &status, &cancel).await;
        feeder.abort();
        res
    }

    fn checked_store(sink: &FlakySink) -> CheckedStore {
        let all: Vec<(u64, u32)> = workload()
            .into_iter()
            .flat_map(|m| m.events().iter().map(|e| (e.source.pos, e.source.row)).collect::<Vec<_>>())
            .collect();
        CheckedStore {
            inner: MemoryOffsetStore::new(),
            acked: sink.acked.clone(),
            all_events: Arc::new(all),
            stores: Arc::default(),
        }
    }

    #[tokio::test]
    async fn everything_is_acknowledged_in_order_and_checkpointed_at_the_end() {
        let mut sink = FlakySink::default();
        let store = checked_store(&sink);
        drive(&mut sink, &store, &cfg(7)).await.unwrap();
        let acked = sink.acked.lock().unwrap().clone();
        assert_eq!(acked.len(), 150);
        assert_per_key_order(&acked);
        assert_eq!(store.load().unwrap().unwrap().position.pos, 100 + 50 * 100);
        assert!(*store.stores.lock().unwrap() > 1, "checkpoints advance during the run, not only at the end");
    }

    #[tokio::test]
    async fn transient_failures_are_resent_and_checkpoint_never_passes_an_unacked_event() {
        // After 3 good batches, 4 sends fail: the stage must pause, re-send, lose nothing.
        let mut sink = FlakySink { fail_after: 3, failures: 4, ..FlakySink::default() };
        let store = checked_store(&sink);
        drive(&mut sink, &store, &cfg(5)).await.unwrap();
        let acked = sink.acked.lock().unwrap().clone();
        assert_eq!(acked.len(), 150, "nothing lost, nothing duplicated by a clean retry");
        assert_per_key_order(&acked);
        assert_eq!(store.load().unwrap().unwrap().position.pos, 5100);
    }

    #[tokio::test]
    async fn fatal_sink_error_stops_with_checkpoint_behind_the_failed_batch() {
        let mut sink = FlakySink { fail_after: 2, failures: 1, fatal: true, ..FlakySink::default() };
        let store = checked_store(&sink);
        let err = drive(&mut sink, &store, &cfg(6)).await.unwrap_err();
        assert!(matches!(err, PipelineError::Sink(_)), "{err}");
        let acked = sink.acked.lock().unwrap().len();
        assert_eq!(acked, 12, "two batches of 6 acknowledged before the failure");
        // The stored checkpoint covers at most the acknowledged events (checked at every store
        // by CheckedStore) and is a transaction boundary: 12 events = 4 transactions.
        let cp = store.load().unwrap().expect("a checkpoint was stored");
        assert!(cp.position.pos <= 100 + 4 * 100, "checkpoint {} ahead of acknowledged data", cp.position);
    }

    #[tokio::test]
    async fn shutdown_during_outage_leaves_the_checkpoint_before_the_unacked_batch() {
        // The sink fails forever after the first batch; cancel while it is failing.
        let mut sink = FlakySink { fail_after: 1, failures: u32::MAX - 1, ..FlakySink::default() };
        let store = checked_store(&sink);
        let (tx, rx) = mpsc::channel(256);
        for m in workload() {
            tx.send(m).await.unwrap();
        }
        let status = Status::new();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(100)).await;
            c2.cancel();
        });
        sink_stage(rx, &mut sink, &store, &cfg(10), &status, &cancel).await.unwrap();
        assert_eq!(sink.acked.lock().unwrap().len(), 10);
        let snap = status.snapshot();
        assert!(matches!(snap.sink, StageState::Retrying(_)), "{:?}", snap.sink);
        let cp = store.load().unwrap();
        assert!(cp.is_none_or(|c| c.position.pos <= 100 + 3 * 100), "checkpoint passed the unacked batch");
    }

    #[tokio::test]
    async fn unwritable_checkpoint_stops_the_stage() {
        #[derive(Clone)]
        struct Broken;
        impl OffsetStore for Broken {
            fn load(&self) -> Result<Option<Checkpoint>, OffsetStoreError> {
                Ok(None)
            }
            fn store(&self, _: &Checkpoint) -> Result<(), OffsetStoreError> {
                Err(OffsetStoreError::Io {
                    path: "/full/disk".into(),
                    source: std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
                })
            }
        }
        let mut sink = FlakySink::default();
        let (tx, rx) = mpsc::channel(256);
        for m in workload() {
            tx.send(m).await.unwrap();
        }
        drop(tx);
        let status = Status::new();
        let err = sink_stage(rx, &mut sink, &Broken, &cfg(5), &status, &CancellationToken::new()).await.unwrap_err();
        assert!(matches!(err, PipelineError::Offsets(_)), "{err}");
        assert!(sink.acked.lock().unwrap().len() < 150, "it stopped instead of running on without checkpoints");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transaction_ending_with_the_source_idle_is_sent_without_waiting_for_the_linger() {
        // Virtual time: without the early send the batch would go only when the 1-hour linger
        // fires, and `waited` would be an hour.
        let mut sink = FlakySink::default();
        let acked = sink.acked.clone();
        let store = MemoryOffsetStore::new();
        let cfg = PipelineConfig {
            batch: BatchLimits { max_records: 1000, max_bytes: usize::MAX, linger: Duration::from_secs(3600) },
            checkpoint_interval_ms: 0,
            ..PipelineConfig::default()
        };
        let (tx, rx) = mpsc::channel(16);
        let (status, cancel) = (Status::new(), CancellationToken::new());
        let start = Instant::now();
        let feed = async move {
            for r in 0..3u32 {
                tx.send(SourceMessage::Events(vec![event(r as i64, 100, r)])).await.unwrap();
            }
            tx.send(commit(200)).await.unwrap();
            while acked.lock().unwrap().len() < 3 {
                sleep(Duration::from_millis(1)).await;
            }
            start.elapsed()
        };
        let (res, waited) = tokio::join!(sink_stage(rx, &mut sink, &store, &cfg, &status, &cancel), feed);
        res.unwrap();
        assert!(waited < Duration::from_secs(1), "the batch waited {waited:?}");
        assert_eq!(store.load().unwrap().unwrap().position.pos, 200);
    }

    /// A sink whose sends each wait for a permit, recording how many were in flight at once.
    #[derive(Clone)]
    struct GatedSink {
        gate: Arc<tokio::sync::Semaphore>,
        acked: Arc<Mutex<Vec<ChangeEvent>>>,
        sends: Arc<Mutex<Vec<usize>>>,
    }

    impl Sink for GatedSink {
        async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
            self.sends.lock().unwrap().push(batch.len());
            self.gate.acquire().await.unwrap().forget();
            self.acked.lock().unwrap().extend_from_slice(batch);
            Ok(SinkAck { records: batch.len(), bytes: 0, requests: 1 })
        }
    }

    #[tokio::test]
    async fn the_next_batch_fills_while_one_is_in_flight_and_waits_for_its_ack() {
        let sink =
            GatedSink { gate: Arc::new(tokio::sync::Semaphore::new(0)), acked: Arc::default(), sends: Arc::default() };
        let as_flaky = FlakySink { acked: sink.acked.clone(), ..FlakySink::default() };
        let store = checked_store(&as_flaky);
        let (tx, rx) = mpsc::channel(2);
        let fed = Arc::new(Mutex::new(0usize));
        let fed2 = fed.clone();
        let feeder = tokio::spawn(async move {
            for m in workload() {
                tx.send(m).await.unwrap();
                *fed2.lock().unwrap() += 1;
            }
        });
        let (status, cancel) = (Status::new(), CancellationToken::new());
        let cfg = cfg(12);
        let mut s2 = sink.clone();
        let stage = tokio::spawn(async move { sink_stage(rx, &mut s2, &store, &cfg, &status, &cancel).await });
        // The first batch is stuck in flight; the stage keeps receiving until the next batch is
        // full (12 rows), then stops (backpressure) and the feeder blocks: at most the channel
        // (2 messages, ≤ 6 rows) and the rest of one rows event (≤ 2 rows) beyond it.
        sleep(Duration::from_millis(200)).await;
        let sends = sink.sends.lock().unwrap().clone();
        assert_eq!(sends.len(), 1, "one batch in flight, the next one not sent before its ack: {sends:?}");
        let first = sends[0];
        let fed_rows: usize = workload().iter().take(*fed.lock().unwrap()).map(|m| m.events().len()).sum();
        assert!(fed_rows >= first + 12, "the next batch filled while one was in flight ({fed_rows} rows fed)");
        assert!(fed_rows <= first + 12 + 6 + 2, "the stage stopped receiving once it was full ({fed_rows} rows fed)");
        assert!(sink.acked.lock().unwrap().is_empty());
        // Release every send: all 150 rows arrive, in order per key, each exactly once.
        sink.gate.add_permits(1000);
        feeder.await.unwrap();
        stage.await.unwrap().unwrap();
        let acked = sink.acked.lock().unwrap().clone();
        assert_eq!(acked.len(), 150);
        assert_per_key_order(&acked);
        let sends = sink.sends.lock().unwrap().clone();
        assert!(sends.iter().all(|&n| n <= 12), "batches of at most 12 rows: {sends:?}");
    }

    /// A sink that fails transiently on a pseudo-random subset of sends and takes a
    /// pseudo-random time (virtual) to answer.
    struct ChaosSink {
        acked: Arc<Mutex<Vec<ChangeEvent>>>,
        rng: u64,
    }

    impl ChaosSink {
        fn next(&mut self) -> u64 {
            // xorshift64*: deterministic per seed.
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
        }
    }

    impl Sink for ChaosSink {
        async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
            let delay = self.next() % 20;
            let fail = self.next() % 3 == 0;
            sleep(Duration::from_millis(delay)).await;
            if fail {
                return Err(SinkError::transient(Some("LimitExceeded".into()), "throttled"));
            }
            self.acked.lock().unwrap().extend_from_slice(batch);
            Ok(SinkAck { records: batch.len(), bytes: 0, requests: 1 })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn random_failures_and_delays_lose_and_reorder_nothing() {
        for seed in 1..=40u64 {
            let acked = Arc::new(Mutex::new(Vec::new()));
            let mut sink = ChaosSink { acked: acked.clone(), rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 };
            let store = checked_store(&FlakySink { acked: acked.clone(), ..FlakySink::default() });
            let (tx, rx) = mpsc::channel(1 + (seed as usize % 5));
            let feeder = tokio::spawn(async move {
                for (i, m) in workload().into_iter().enumerate() {
                    if (i as u64 + seed) % 7 == 0 {
                        sleep(Duration::from_millis(seed % 11)).await;
                    }
                    tx.send(m).await.unwrap();
                }
            });
            let mut cfg = cfg(1 + (seed as usize % 9));
            cfg.batch.linger = Duration::from_millis(seed % 13);
            cfg.checkpoint_interval_ms = seed % 4;
            let (status, cancel) = (Status::new(), CancellationToken::new());
            sink_stage(rx, &mut sink, &store, &cfg, &status, &cancel).await.unwrap();
            feeder.await.unwrap();
            let acked = acked.lock().unwrap().clone();
            let mut seen: Vec<_> = acked.iter().map(|e| (e.source.pos, e.source.row)).collect();
            assert_eq!(seen.len(), 150, "seed {seed}: every row acknowledged exactly once");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 150, "seed {seed}: no row twice");
            assert_per_key_order(&acked);
            // CheckedStore proved at every store that no checkpoint passed an unacked row.
            assert_eq!(store.load().unwrap().unwrap().position.pos, 5100, "seed {seed}: final checkpoint");
        }
    }
}
