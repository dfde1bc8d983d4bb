//! The sink stage: batcher + sink + checkpoint (see [`sink_stage`]).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::PipelineConfig;
use super::error::PipelineError;
use crate::batch::{estimate_size, Batch};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::OffsetStore;
use crate::event::ChangeEvent;
use crate::metrics as m;
use crate::retry::wait_or_cancel;
use crate::sink::{AckProgress, Sink};
use crate::source::SourceMessage;
use crate::status::{StageState, Status};

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
    /// Queueing sinks only: batches taken by the sink and not yet acknowledged, oldest first —
    /// (batch number, the commit it covers, when it was sent).
    unacked: VecDeque<(u64, Option<Checkpoint>, Instant)>,
    /// Queueing sinks only: batches the sink took so far (its batch numbers are 1..=sent).
    sent: u64,
    /// Queueing sinks only: the last progress applied.
    progress: AckProgress,
}

/// Outcome of sending one batch.
enum Flush {
    /// Acknowledged.
    Done,
    /// Shutdown came while the batch was failing: it was not acknowledged, and no checkpoint
    /// covers it, so it is read again after a restart.
    Abandoned,
}

/// Sends `events` until the sink acknowledges them (a queueing sink: takes them), re-sending
/// after transient errors with backoff. Takes the sink and gives it back, so that the stage can
/// keep receiving while this runs (one batch in flight, the next one filling). `queued`: the
/// sink acknowledges later ([`Sink::acknowledgements`]), so success here says nothing of the
/// destination's health and counts nothing as acknowledged. Such a sink's `send` may wait for
/// room behind a failing destination: once shutdown came and `acks` shows a destination
/// retrying, that wait is abandoned (the batch is read again after a restart).
async fn send_until_acked<'s, S: Sink>(
    sink: &'s mut S,
    events: Vec<ChangeEvent>,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
    acks: Option<watch::Receiver<AckProgress>>,
) -> (&'s mut S, Result<Flush, PipelineError>) {
    let queued = acks.is_some();
    let mut attempt = 0u32;
    let mut delays = cfg.sink_backoff().jittered();
    let started = Instant::now();
    loop {
        let sent = match acks.clone() {
            None => sink.send(&events).await,
            Some(acks) => tokio::select! {
                r = sink.send(&events) => r,
                () = stuck_at_shutdown(cancel, acks) => {
                    warn!(records = events.len(), "Shutdown while the sink waits for room behind a failing destination; the batch will be read again on restart.");
                    return (sink, Ok(Flush::Abandoned));
                }
            },
        };
        match sent {
            Ok(ack) if queued => {
                debug!(records = ack.records, bytes = ack.bytes, "Batch queued.");
                if attempt > 0 {
                    info!(records = events.len(), attempts = attempt + 1, "Sink recovered; batch queued.");
                    status.set_sink(StageState::Running);
                }
                return (sink, Ok(Flush::Done));
            }
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
                let wait = delays.next().unwrap_or(cfg.sink_backoff().max);
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

/// Resolves once `cancel` fired and the queueing sink's progress shows a destination retrying
/// (never, if the receiver closes first).
async fn stuck_at_shutdown(cancel: &CancellationToken, mut acks: watch::Receiver<AckProgress>) {
    cancel.cancelled().await;
    if acks.wait_for(|p| !p.retrying.is_empty()).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl<O: OffsetStore> SinkStage<'_, O> {
    /// Applies a queueing sink's progress: batches it now counts as acknowledged make their
    /// commits safe to checkpoint; its per-destination retries show as the sink's state.
    ///
    /// Errors: the sink's fatal error, once nothing more will be acknowledged.
    fn apply_progress(&mut self, p: AckProgress) -> Result<(), PipelineError> {
        while let Some((n, covers, sent_at)) = self.unacked.front() {
            if *n > p.batches {
                break;
            }
            metrics::histogram!(m::PIPELINE_BATCH_SECONDS).record(sent_at.elapsed().as_secs_f64());
            if covers.is_some() {
                self.acked.clone_from(covers);
            }
            self.unacked.pop_front();
        }
        self.status.on_acked(p.records.saturating_sub(self.progress.records));
        if p.retrying.is_empty() {
            if !self.progress.retrying.is_empty() {
                info!("Every destination acknowledges again.");
                self.status.set_sink(StageState::Running);
            }
        } else if p.retrying != self.progress.retrying {
            metrics::counter!(m::PIPELINE_BATCH_RETRIES_TOTAL).increment(1);
            self.status.set_sink(StageState::Retrying(p.retrying.join("; ")));
        }
        let fatal = p.fatal.clone().filter(|_| p.batches < self.sent);
        self.progress = p;
        if let Some(e) = fatal {
            error!(error = %e, "Sink failed with a non-retryable error; stopping.");
            self.status.set_sink(StageState::Failed(e.to_string()));
            return Err(e.into());
        }
        Ok(())
    }

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
    /// `force`). `in_flight`: a send is under way; batches a queueing sink has not acknowledged
    /// yet (`unacked`) count as in flight too.
    fn checkpoint(&mut self, in_flight: bool, force: bool) -> Result<(), PipelineError> {
        let in_flight = in_flight || !self.unacked.is_empty();
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
        if let Some(p) = cp.position() {
            if let Some(i) = p.file_index() {
                metrics::gauge!(m::CHECKPOINT_FILE_INDEX).set(i as f64);
            }
            metrics::gauge!(m::CHECKPOINT_POSITION_BYTES).set(p.pos as f64);
        }
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
/// fills and the source waits (backpressure). A *queueing* sink ([`Sink::acknowledgements`])
/// keeps per-key order across batches itself: its `send` returns once the batch is queued, the
/// next batch follows at once, and a batch's commit becomes safe to checkpoint only when the
/// sink's [`AckProgress`] counts that batch (and so every earlier one); at most
/// [`PipelineConfig::max_unacked_batches`] wait for it. Such a sink failing for good
/// ([`AckProgress::fatal`]) ends the stage with its error. Checkpoints are stored as described in the module
/// docs. On return (`Ok`), everything received was acknowledged and the final checkpoint is
/// stored — unless shutdown interrupted a failing batch, in which case the checkpoint stays
/// before it.
///
/// Errors: fatal [`SinkError`](crate::sink::SinkError)s and [`OffsetStoreError`](crate::checkpoint::OffsetStoreError)s.
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
        unacked: VecDeque::new(),
        sent: 0,
        progress: AckProgress::default(),
    };
    // A queueing sink acknowledges through this; `None`: `send` returning `Ok` is the ack.
    let mut acks: Option<watch::Receiver<AckProgress>> = sink.acknowledgements();
    if let Some(rx) = acks.as_mut() {
        st.progress = rx.borrow_and_update().clone();
    }
    let queued = acks.is_some();
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
        let room = st.unacked.len() < cfg.max_unacked_batches.max(1);
        if let Some(sink) =
            idle_sink.take_if(|_| room && !st.batch.is_empty() && (send_soon || closed || st.batch.is_full(&cfg.batch)))
        {
            let events = st.batch.take();
            linger_deadline = None;
            send_soon = false;
            metrics::histogram!(m::PIPELINE_BATCH_ROWS).record(events.len() as f64);
            let covers = st.pending.clone();
            let acks_for_send = acks.clone();
            in_flight = Some((Box::pin(send_until_acked(sink, events, cfg, status, cancel, acks_for_send)), covers));
            st.absorb();
        }
        // The linger starts when the filling batch gets its first event (it only ever sets
        // `send_soon`, so it is not armed while that is already set).
        if !st.batch.is_empty() && linger_deadline.is_none() && !send_soon {
            linger_deadline = Some(Instant::now() + cfg.batch.linger);
        }
        if closed && in_flight.is_none() && st.batch.is_empty() && st.unacked.is_empty() {
            // The source stopped and everything received is acknowledged: final checkpoint.
            st.checkpoint(false, true)?;
            return Ok(());
        }
        if cancel.is_cancelled() && in_flight.is_none() && !st.unacked.is_empty() && !st.progress.retrying.is_empty() {
            // Shutdown while a destination of a queueing sink fails: what it has not
            // acknowledged (and what was not sent yet) stays after the checkpoint and is read
            // again on restart.
            warn!(
                batches = st.unacked.len(),
                "Shutdown while the sink was failing; the unacknowledged batches will be read again on restart."
            );
            st.checkpoint(true, true)?;
            return Ok(());
        }
        tokio::select! {
            biased;
            (sink, result) = async { (&mut in_flight.as_mut().expect("guarded").0).await }, if in_flight.is_some() => {
                let (_, covers) = in_flight.take().expect("guarded");
                idle_sink = Some(sink);
                match result? {
                    Flush::Done if queued => {
                        st.sent += 1;
                        st.unacked.push_back((st.sent, covers, Instant::now()));
                        // The sink may have counted it already (published before `changed`).
                        let p = acks.as_mut().expect("queued").borrow_and_update().clone();
                        st.apply_progress(p)?;
                        if st.progress.retrying.is_empty() {
                            status.set_sink(StageState::Running);
                        }
                        st.checkpoint(false, false)?;
                    }
                    Flush::Done => {
                        if covers.is_some() {
                            st.acked = covers;
                        }
                        st.checkpoint(false, false)?;
                    }
                    Flush::Abandoned => {
                        // What is acknowledged is stored; the abandoned batch stays after it.
                        st.checkpoint(true, true)?;
                        return Ok(());
                    }
                }
            }
            changed = async { acks.as_mut().expect("guarded").changed().await }, if acks.is_some() => {
                if changed.is_err() {
                    // The sink is gone with its acknowledgements: nothing more will come.
                    acks = None;
                    if !st.unacked.is_empty() {
                        return Err(crate::sink::SinkError::fatal(None, "the sink stopped acknowledging").into());
                    }
                    continue;
                }
                let p = acks.as_mut().expect("guarded").borrow_and_update().clone();
                st.apply_progress(p)?;
                st.checkpoint(in_flight.is_some(), false)?;
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
                Some(SourceMessage::SchemaChange(change)) => {
                    // Rows before it are in earlier messages, rows after it in later ones: the
                    // sink sees both in order. Counted and logged here; a sink that maps
                    // schemas (TUPLE topics) learns the new shape from the events themselves.
                    metrics::counter!(m::SCHEMA_CHANGES_TOTAL).increment(1);
                    info!(db = %change.db, position = %change.position, sql = %change.sql.chars().take(200).collect::<String>(), "Schema change read.");
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
