//! Topic lanes: one task per DataHub topic of a [`super::MultiTopicSink`], so that a topic that
//! fails does not stop the others.
//!
//! [`Lanes::submit`] takes one batch, already encoded and split by topic (its *parts*), gives
//! it the next batch number and queues each part on its topic's lane. A lane writes its parts
//! one after the other ([`DataHubSink::write_encoded`]: per shard, in order), re-sending a part
//! after a transient error — pausing by a jittered backoff between attempts, without end —
//! until it is acknowledged, then takes the next. Every acknowledged part is reported to the
//! tracker, which publishes ([`AckProgress`]) how many whole batches are acknowledged.
//!
//! Guarantees:
//!
//! * **Per-key order across batches.** A key belongs to one table, a table to one topic, a
//!   topic to one lane, and a lane writes part `k + 1` only after part `k` is acknowledged; a
//!   re-sent part may duplicate records already acknowledged, never put a later record of a
//!   key before an earlier one.
//! * **Acknowledged = every part, and everything before.** Batch `n` counts in
//!   [`AckProgress::batches`] only when every topic it touched acknowledged its part *and*
//!   batches `1..n` are counted; the pipeline checkpoints only those, so after a crash nothing
//!   that a failing topic had not taken is behind the checkpoint.
//! * **Bounded memory.** Parts waiting in (or being written by) lanes hold at most
//!   `max_queued_bytes` of encoded records in all (a part larger than that holds the whole
//!   budget alone); `submit` waits for room, and so does the pipeline (backpressure). A topic
//!   that keeps failing keeps its parts and their bytes; the other topics go on until that
//!   budget is used up, or the pipeline's bound on unacknowledged batches is reached
//!   ([`crate::pipeline::PipelineConfig::max_unacked_batches`]).
//! * **Failures are visible.** A lane re-sending after a transient error is listed in
//!   [`AckProgress::retrying`] and in its topic's `/health` entry ([`super::multi::TopicState`])
//!   until its part is acknowledged; a fatal error ends the lane and is published in
//!   [`AckProgress::fatal`] (the pipeline stops; nothing after the acknowledged prefix is
//!   checkpointed).
//! * Dropping the [`Lanes`] cancels every lane: parts not acknowledged are abandoned (and read
//!   again after a restart, the checkpoint being before them).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::retry::{wait_or_cancel, Backoff};
use crate::sink::{AckProgress, SinkError};

use super::error::{DataHubError, ErrorClass};
use super::multi::TopicRegistry;
use super::producer::DataHubSink;
use super::record::EncodedRecord;

/// Default budget of encoded bytes queued on all lanes: 32 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 32 << 20;

/// Gauge: encoded record bytes queued on a topic's lane and not yet acknowledged (`{topic}`);
/// it grows while the topic fails and the others go on.
pub const TOPIC_QUEUED_BYTES: &str = "cdc_sink_topic_queued_bytes";

/// One batch's records for one topic.
struct Part {
    /// The batch number (1-based, in `submit` order).
    batch: u64,
    records: Vec<EncodedRecord>,
    /// Encoded bytes of `records`.
    bytes: usize,
    /// Bytes of the budget this part holds until it is acknowledged.
    _permit: OwnedSemaphorePermit,
}

/// Batches not yet wholly acknowledged, and what is published.
#[derive(Debug, Default)]
struct TrackerState {
    /// Batch number of `pending[0]`.
    first: u64,
    /// For each batch from `first` on: (parts not yet acknowledged, events of the batch).
    pending: VecDeque<(usize, u64)>,
    /// Topics re-sending, with their last error.
    retrying: BTreeMap<String, String>,
    progress: AckProgress,
}

/// Shared by the lanes and [`Lanes`]: counts acknowledged parts into whole batches.
#[derive(Debug)]
struct Tracker {
    state: Mutex<TrackerState>,
    tx: watch::Sender<AckProgress>,
}

impl Tracker {
    /// Registers the next batch with `parts` parts and `events` events; returns its number.
    fn add_batch(&self, parts: usize, events: u64) -> u64 {
        let mut st = self.state.lock().expect("tracker lock");
        let n = st.first + st.pending.len() as u64;
        st.pending.push_back((parts, events));
        self.advance(&mut st);
        n
    }

    /// Moves the acknowledged prefix forward over batches with no part left, and publishes.
    fn advance(&self, st: &mut TrackerState) {
        while let Some(&(0, events)) = st.pending.front() {
            st.pending.pop_front();
            st.first += 1;
            st.progress.batches += 1;
            st.progress.records += events;
        }
        st.progress.retrying = st.retrying.iter().map(|(t, e)| format!("topic {t}: {e}")).collect();
        self.tx.send_replace(st.progress.clone());
    }

    fn part_done(&self, batch: u64, topic: &str) {
        let mut st = self.state.lock().expect("tracker lock");
        let i = usize::try_from(batch - st.first).expect("batch index fits");
        st.pending[i].0 -= 1;
        st.retrying.remove(topic);
        self.advance(&mut st);
    }

    fn retrying(&self, topic: &str, error: String) {
        let mut st = self.state.lock().expect("tracker lock");
        st.retrying.insert(topic.to_owned(), error);
        self.advance(&mut st);
    }

    fn fatal(&self, error: SinkError) {
        let mut st = self.state.lock().expect("tracker lock");
        st.progress.fatal.get_or_insert(error);
        self.advance(&mut st);
    }

    fn fatal_error(&self) -> Option<SinkError> {
        self.state.lock().expect("tracker lock").progress.fatal.clone()
    }
}

/// A lane's end of the queue.
#[derive(Debug)]
struct Lane {
    /// The topic's name as configured (for messages).
    topic: String,
    tx: mpsc::UnboundedSender<Part>,
    /// Parts queued so far.
    queued: u64,
    /// Parts acknowledged so far (closed when the lane ended).
    done: watch::Receiver<u64>,
}

/// The lanes of one [`super::MultiTopicSink`]; see the module docs.
#[derive(Debug)]
pub(super) struct Lanes {
    lanes: HashMap<String, Lane>,
    tracker: Arc<Tracker>,
    budget: Arc<Semaphore>,
    max_queued_bytes: usize,
    cancel: CancellationToken,
}

impl Lanes {
    /// No lanes yet; parts may hold `max_queued_bytes` (≥ 1) of encoded records in all.
    pub(super) fn new(max_queued_bytes: usize) -> Self {
        let max = max_queued_bytes.clamp(1, Semaphore::MAX_PERMITS);
        let (tx, _) = watch::channel(AckProgress::default());
        Self {
            lanes: HashMap::new(),
            tracker: Arc::new(Tracker { state: Mutex::new(TrackerState { first: 1, ..Default::default() }), tx }),
            budget: Arc::new(Semaphore::new(max)),
            max_queued_bytes: max,
            cancel: CancellationToken::new(),
        }
    }

    /// A receiver of the published progress (the current value first).
    pub(super) fn progress(&self) -> watch::Receiver<AckProgress> {
        self.tracker.tx.subscribe()
    }

    /// Starts the lane of `key` (the topic `sink` writes; a copy of the sink the caller keeps
    /// for encoding), unless it runs already. Transient failures are re-sent after pauses of
    /// `backoff`; `registry` gets the topic's `retrying` state.
    pub(super) fn open(&mut self, key: &str, sink: DataHubSink, backoff: Backoff, registry: TopicRegistry) {
        if self.lanes.contains_key(key) {
            return;
        }
        let topic = sink.config().topic.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = watch::channel(0);
        let task = LaneTask {
            topic: topic.clone(),
            sink,
            tracker: self.tracker.clone(),
            backoff,
            registry,
            cancel: self.cancel.clone(),
            done: done_tx,
        };
        tokio::spawn(task.run(rx));
        self.lanes.insert(key.to_owned(), Lane { topic, tx, queued: 0, done });
    }

    /// Queues one batch: `parts` (lane key → that topic's records, in batch order; empty parts
    /// are left out) of a batch of `events` events. Waits for room in the byte budget.
    ///
    /// Errors: [`DataHubError::Topic`] when a lane has ended (after a fatal error, which is
    /// also published) or does not exist.
    pub(super) async fn submit(
        &mut self,
        parts: Vec<(String, Vec<EncodedRecord>)>,
        events: u64,
    ) -> Result<(), DataHubError> {
        if let Some(e) = self.tracker.fatal_error() {
            return Err(DataHubError::Topic { topic: String::new(), message: e.to_string() });
        }
        let parts: Vec<_> = parts.into_iter().filter(|(_, r)| !r.is_empty()).collect();
        for (key, _) in &parts {
            if !self.lanes.contains_key(key) {
                return Err(DataHubError::Topic { topic: key.clone(), message: "no lane for this topic".into() });
            }
        }
        let batch = self.tracker.add_batch(parts.len(), events);
        for (key, records) in parts {
            let bytes: usize = records.iter().map(|r| r.wire.len()).sum();
            let want = u32::try_from(bytes.clamp(1, self.max_queued_bytes)).unwrap_or(u32::MAX);
            let permit = self.budget.clone().acquire_many_owned(want).await.expect("the budget is never closed");
            let lane = self.lanes.get_mut(&key).expect("checked above");
            metrics::gauge!(TOPIC_QUEUED_BYTES, "topic" => lane.topic.clone()).increment(bytes as f64);
            lane.tx.send(Part { batch, records, bytes, _permit: permit }).map_err(|_| DataHubError::Topic {
                topic: lane.topic.clone(),
                message: "the topic's writer stopped after a fatal error".into(),
            })?;
            lane.queued += 1;
        }
        Ok(())
    }

    /// Waits until every part queued on `key`'s lane is acknowledged (before changing the
    /// topic's schema, say). Returns at once for a key without a lane.
    ///
    /// Errors: [`DataHubError::Topic`] when the lane ended first (a fatal error).
    pub(super) async fn drain(&mut self, key: &str) -> Result<(), DataHubError> {
        let Some(lane) = self.lanes.get_mut(key) else { return Ok(()) };
        let queued = lane.queued;
        lane.done.wait_for(|d| *d >= queued).await.map(|_| ()).map_err(|_| DataHubError::Topic {
            topic: lane.topic.clone(),
            message: "the topic's writer stopped after a fatal error".into(),
        })
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What a lane's task owns.
struct LaneTask {
    topic: String,
    sink: DataHubSink,
    tracker: Arc<Tracker>,
    backoff: Backoff,
    registry: TopicRegistry,
    cancel: CancellationToken,
    done: watch::Sender<u64>,
}

impl LaneTask {
    fn set_retrying(&self, error: Option<String>) {
        if let Some(t) = self.registry.write().expect("registry lock").get_mut(&self.topic) {
            t.retrying = error;
        }
    }

    /// Writes parts until the queue closes, `cancel` fires or a fatal error.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Part>) {
        let cancel = self.cancel.clone();
        let mut done = 0u64;
        loop {
            let part = tokio::select! {
                _ = cancel.cancelled() => return,
                p = rx.recv() => match p { Some(p) => p, None => return },
            };
            let mut delays = self.backoff.jittered();
            let mut failed = false;
            loop {
                let result = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = self.sink.write_encoded(part.records.clone()) => r,
                };
                match result {
                    Ok(_) => {
                        if failed {
                            tracing::info!(topic = %self.topic, batch = part.batch, "topic recovered; part acknowledged");
                            self.set_retrying(None);
                        }
                        done += 1;
                        metrics::gauge!(TOPIC_QUEUED_BYTES, "topic" => self.topic.clone()).decrement(part.bytes as f64);
                        self.tracker.part_done(part.batch, &self.topic);
                        self.done.send_replace(done);
                        break;
                    }
                    Err(e) if e.class() != ErrorClass::Fatal => {
                        failed = true;
                        let wait = delays.next().unwrap_or(self.backoff.max);
                        tracing::warn!(topic = %self.topic, error = %e, batch = part.batch, records = part.records.len(), wait_ms = wait.as_millis() as u64, "topic did not acknowledge its part of a batch; pausing before re-sending it (the other topics go on)");
                        self.set_retrying(Some(e.to_string()));
                        self.tracker.retrying(&self.topic, e.to_string());
                        if wait_or_cancel(wait, &cancel).await {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!(topic = %self.topic, error = %e, "topic failed with a non-retryable error; its writer stops");
                        self.set_retrying(None);
                        self.tracker.fatal(e.to_sink_error());
                        return;
                    }
                }
            }
        }
    }
}
