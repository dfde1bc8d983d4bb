//! Pipeline tests: adversarial fake sinks, checked stores, paused time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::batch::BatchLimits;
use crate::checkpoint::Checkpoint;
use crate::checkpoint::{MemoryOffsetStore, OffsetStore, OffsetStoreError};
use crate::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use crate::position::BinlogPosition;
use crate::sink::SinkAck;
use crate::sink::{Sink, SinkError};
use crate::source::SourceMessage;
use crate::status::{StageState, Status};

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
    async fn check(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

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
                origin: crate::event::Origin::Binlog,
            },
            row,
        ),
        ts_ms: 0,
        transaction: None,
        key_columns: Arc::from(vec![0usize]),
    }
}

fn commit(pos: u64) -> SourceMessage {
    SourceMessage::Commit(Checkpoint::at(BinlogPosition::new("binlog.000001", pos), None, 1, 0))
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
        for ev in self.all_events.iter().filter(|(p, _)| *p < cp.position().unwrap().pos) {
            assert!(acked.contains(ev), "checkpoint {} stored before event {ev:?} was acknowledged", cp.resume);
        }
        if let Some(prev) = self.inner.load()? {
            assert!(
                prev.position().unwrap().pos <= cp.position().unwrap().pos,
                "checkpoint moved back from {} to {}",
                prev.resume,
                cp.resume
            );
        }
        *self.stores.lock().unwrap() += 1;
        self.inner.store(cp)
    }
}

/// A channel already holding the whole [`workload`] (capacity 256: nothing waits).
async fn workload_channel() -> (mpsc::Sender<SourceMessage>, mpsc::Receiver<SourceMessage>) {
    let (tx, rx) = mpsc::channel(256);
    for m in workload() {
        tx.send(m).await.unwrap();
    }
    (tx, rx)
}

/// After `after`, cancels `cancel` and closes the source side `tx` (a shutdown).
fn shut_down_after(after: Duration, cancel: &CancellationToken, tx: mpsc::Sender<SourceMessage>) {
    let cancel = cancel.clone();
    tokio::spawn(async move {
        sleep(after).await;
        cancel.cancel();
        drop(tx);
    });
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
    assert_eq!(store.load().unwrap().unwrap().position().unwrap().pos, 100 + 50 * 100);
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
    assert_eq!(store.load().unwrap().unwrap().position().unwrap().pos, 5100);
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
    assert!(cp.position().unwrap().pos <= 100 + 4 * 100, "checkpoint {} ahead of acknowledged data", cp.resume);
}

#[tokio::test]
async fn shutdown_during_outage_leaves_the_checkpoint_before_the_unacked_batch() {
    // The sink fails forever after the first batch; cancel while it is failing.
    let mut sink = FlakySink { fail_after: 1, failures: u32::MAX - 1, ..FlakySink::default() };
    let store = checked_store(&sink);
    let (_tx, rx) = workload_channel().await; // kept open: only the cancel ends the stage
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
    assert!(cp.is_none_or(|c| c.position().unwrap().pos <= 100 + 3 * 100), "checkpoint passed the unacked batch");
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
    let (tx, rx) = workload_channel().await;
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
    assert_eq!(store.load().unwrap().unwrap().position().unwrap().pos, 200);
}

/// A sink whose sends each wait for a permit, recording how many were in flight at once.
#[derive(Clone)]
struct GatedSink {
    gate: Arc<tokio::sync::Semaphore>,
    acked: Arc<Mutex<Vec<ChangeEvent>>>,
    sends: Arc<Mutex<Vec<usize>>>,
}

impl Sink for GatedSink {
    async fn check(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

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
    async fn check(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

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
        assert_eq!(store.load().unwrap().unwrap().position().unwrap().pos, 5100, "seed {seed}: final checkpoint");
    }
}

/// A queueing sink ([`Sink::acknowledgements`]): `send` only queues the batch; a task started
/// by [`QueueingSink::start`] acknowledges queued batches in order, one every `delay` (virtual
/// time), appending their events to `acked` *before* publishing the progress, stops
/// acknowledging (publishing a retrying destination) after `stall_after` batches, and publishes
/// a fatal error instead of batch `fatal_at`.
struct QueueingSink {
    queue: Arc<Mutex<std::collections::VecDeque<Vec<ChangeEvent>>>>,
    acked: Arc<Mutex<Vec<ChangeEvent>>>,
    tx: Arc<tokio::sync::watch::Sender<crate::sink::AckProgress>>,
    queued: Arc<Mutex<u64>>,
    /// Most batches queued and not acknowledged at once.
    most_waiting: Arc<Mutex<u64>>,
    /// `send` waits while this many batches are queued and not acknowledged (room, as the
    /// DataHub lanes' byte budget); None: never.
    room: Option<u64>,
}

impl QueueingSink {
    fn start(delay: Duration, stall_after: Option<u64>, fatal_at: Option<u64>) -> Self {
        let (tx, _) = tokio::sync::watch::channel(crate::sink::AckProgress::default());
        let sink = Self {
            queue: Arc::default(),
            acked: Arc::default(),
            tx: Arc::new(tx),
            queued: Arc::default(),
            most_waiting: Arc::default(),
            room: None,
        };
        let (queue, acked, tx) = (sink.queue.clone(), sink.acked.clone(), sink.tx.clone());
        tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                sleep(delay).await;
                if stall_after.is_some_and(|s| done >= s) {
                    tx.send_modify(|p| p.retrying = vec!["topic t: ServiceUnavailable".into()]);
                    continue;
                }
                let Some(batch) = queue.lock().unwrap().pop_front() else { continue };
                if fatal_at == Some(done + 1) {
                    tx.send_modify(|p| p.fatal = Some(SinkError::fatal(Some("NoSuchTopic".into()), "topic deleted")));
                    return;
                }
                done += 1;
                let n = batch.len() as u64;
                acked.lock().unwrap().extend(batch);
                tx.send_modify(|p| {
                    p.batches = done;
                    p.records += n;
                });
            }
        });
        sink
    }
}

impl Sink for QueueingSink {
    async fn check(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        if let Some(room) = self.room {
            let queued = *self.queued.lock().unwrap();
            let mut rx = self.tx.subscribe();
            let _ = rx.wait_for(|p| queued - p.batches < room).await;
        }
        self.queue.lock().unwrap().push_back(batch.to_vec());
        let mut q = self.queued.lock().unwrap();
        *q += 1;
        let waiting = *q - self.tx.borrow().batches;
        let mut most = self.most_waiting.lock().unwrap();
        *most = (*most).max(waiting);
        Ok(SinkAck { records: batch.len(), bytes: 0, requests: 0 })
    }

    fn acknowledgements(&self) -> Option<tokio::sync::watch::Receiver<crate::sink::AckProgress>> {
        Some(self.tx.subscribe())
    }
}

fn queueing_store(sink: &QueueingSink) -> CheckedStore {
    checked_store(&FlakySink { acked: sink.acked.clone(), ..FlakySink::default() })
}

#[tokio::test(start_paused = true)]
async fn a_queueing_sink_gets_batch_after_batch_and_only_acknowledged_batches_are_checkpointed() {
    let mut sink = QueueingSink::start(Duration::from_millis(3), None, None);
    let store = queueing_store(&sink);
    let (tx, rx) = mpsc::channel(16);
    let feeder = tokio::spawn(async move {
        for m in workload() {
            tx.send(m).await.unwrap();
        }
    });
    let (status, cancel) = (Status::new(), CancellationToken::new());
    // CheckedStore proves at every store that no checkpoint passes an unacknowledged event.
    sink_stage(rx, &mut sink, &store, &cfg(4), &status, &cancel).await.unwrap();
    feeder.await.unwrap();
    let acked = sink.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 150, "every event acknowledged once");
    assert_per_key_order(&acked);
    assert!(*sink.most_waiting.lock().unwrap() > 1, "batches were sent before the previous one was acknowledged");
    assert_eq!(store.load().unwrap().unwrap().position().unwrap().pos, 5100, "final checkpoint after the last ack");
    assert_eq!(status.snapshot().sink, StageState::Running);
}

#[tokio::test(start_paused = true)]
async fn a_queueing_sink_that_stops_acknowledging_holds_the_checkpoint_and_bounds_what_waits() {
    let mut sink = QueueingSink::start(Duration::from_millis(2), Some(3), None);
    let store = queueing_store(&sink);
    let (tx, rx) = workload_channel().await;
    let mut cfg = cfg(5);
    cfg.max_unacked_batches = 4;
    let (status, cancel) = (Status::new(), CancellationToken::new());
    shut_down_after(Duration::from_secs(5), &cancel, tx);
    // Shutdown while the destination retries: returns, the checkpoint before what it lacks.
    sink_stage(rx, &mut sink, &store, &cfg, &status, &cancel).await.unwrap();
    assert_eq!(sink.acked.lock().unwrap().len(), 15, "three batches of 5 acknowledged");
    assert_eq!(*sink.queued.lock().unwrap(), 3 + 4, "at most max_unacked_batches wait behind the stall");
    assert!(matches!(status.snapshot().sink, StageState::Retrying(_)), "{:?}", status.snapshot().sink);
    let cp = store.load().unwrap().expect("a checkpoint");
    assert!(cp.position().unwrap().pos <= 100 + 5 * 100, "checkpoint {} passed an unacknowledged batch", cp.resume);
}

#[tokio::test(start_paused = true)]
async fn a_queueing_sink_failing_for_good_stops_the_stage_with_its_error() {
    let mut sink = QueueingSink::start(Duration::from_millis(2), None, Some(3));
    let store = queueing_store(&sink);
    let (tx, rx) = workload_channel().await;
    drop(tx);
    let (status, cancel) = (Status::new(), CancellationToken::new());
    let err = sink_stage(rx, &mut sink, &store, &cfg(5), &status, &cancel).await.unwrap_err();
    assert!(matches!(err, PipelineError::Sink(_)) && err.to_string().contains("topic deleted"), "{err}");
    assert_eq!(sink.acked.lock().unwrap().len(), 10);
    assert!(matches!(status.snapshot().sink, StageState::Failed(_)));
    let cp = store.load().unwrap().expect("a checkpoint");
    assert!(cp.position().unwrap().pos <= 100 + 4 * 100, "checkpoint {} ahead of acknowledged data", cp.resume);
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_a_queueing_sink_waits_for_room_behind_a_failing_destination_returns() {
    // The sink takes at most 2 unacknowledged batches, then its `send` waits for room; the
    // destination stops acknowledging after 3 batches, so the fifth send waits for good.
    let mut sink = QueueingSink::start(Duration::from_millis(2), Some(3), None);
    sink.room = Some(2);
    let store = queueing_store(&sink);
    let (tx, rx) = workload_channel().await;
    let (status, cancel) = (Status::new(), CancellationToken::new());
    shut_down_after(Duration::from_secs(5), &cancel, tx);
    let done =
        tokio::time::timeout(Duration::from_secs(60), sink_stage(rx, &mut sink, &store, &cfg(5), &status, &cancel))
            .await;
    done.expect("the stage returns after shutdown instead of waiting for room").unwrap();
    assert_eq!(sink.acked.lock().unwrap().len(), 15);
    assert_eq!(*sink.queued.lock().unwrap(), 3 + 2, "the sink's room bounded what was queued");
    let cp = store.load().unwrap().expect("a checkpoint");
    assert!(cp.position().unwrap().pos <= 100 + 5 * 100, "checkpoint {} passed an unacknowledged batch", cp.resume);
}
