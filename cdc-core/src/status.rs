//! Live state of a running pipeline, shared between the pipeline (writer) and the HTTP
//! service (reader of `/health`, `/health/ready`, `/health/live`).
//!
//! The pipeline's stages update one [`Status`]; [`Status::snapshot`] returns a serializable
//! [`StatusSnapshot`] that never contains secrets.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::position::BinlogPosition;

/// State of one stage (source or sink).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum StageState {
    /// Not started yet.
    Starting,
    /// Connecting (or reconnecting, with the reason of the last failure).
    Connecting(Option<String>),
    /// Working normally: the source is streaming, the sink is accepting.
    Running,
    /// Failing transiently and retrying with backoff; the reason is the last error.
    Retrying(String),
    /// Stopped on purpose (shutdown).
    Stopped,
    /// Stopped on a fatal error; the reason says what to do.
    Failed(String),
}

/// A point-in-time copy of the pipeline's state, as shown on `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// Binlog source state.
    pub source: StageState,
    /// DataHub sink state.
    pub sink: StageState,
    /// Position of the last event read from the binlog.
    pub current_position: Option<BinlogPosition>,
    /// Last checkpoint stored (everything before it is acknowledged).
    pub committed: Option<Checkpoint>,
    /// Replication lag: now minus the binlog timestamp of the last event read, ms; 0 after a
    /// heartbeat (the server had nothing newer).
    pub lag_ms: Option<i64>,
    /// Row events read since start.
    pub events_total: u64,
    /// Row events acknowledged by the sink since start.
    pub events_acked_total: u64,
    /// The most recent error of any stage, if any.
    pub last_error: Option<String>,
    /// True once shutdown began (readiness is then false).
    pub shutting_down: bool,
    /// The initial snapshot's progress while one runs (and its summary once done); None
    /// when the collector did not snapshot.
    pub snapshot: Option<SnapshotStatus>,
}

/// Phase of the initial snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotPhase {
    /// A resumed snapshot delivers the binlog changes between its stored point and the
    /// point its remaining rows are read at, before reading them.
    CatchingUp,
    /// Reading tables.
    Reading,
    /// Every table read and acknowledged; streaming from the snapshot's point.
    Done,
}

/// The initial snapshot as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotStatus {
    /// Reading or done.
    pub phase: SnapshotPhase,
    /// The table being read (`db.table`), None when done.
    pub table: Option<String>,
    /// Rows of `table` read so far.
    pub table_rows_done: u64,
    /// Rows `table` holds according to `information_schema.TABLES.TABLE_ROWS` (an estimate
    /// for InnoDB), 0 when unknown.
    pub table_rows_estimated: u64,
    /// Tables not finished yet (the one being read included).
    pub tables_remaining: usize,
    /// Tables of the snapshot.
    pub tables_total: usize,
    /// Rows read in all tables since this run started.
    pub rows_done: u64,
    /// Estimated seconds until `table` is read, from this run's rate; None when unknown.
    pub table_eta_s: Option<u64>,
    /// Seconds since this run's snapshot started.
    pub elapsed_s: u64,
}

impl SnapshotStatus {
    /// A finished snapshot of `tables_total` tables: `rows_done` rows in `elapsed_s` seconds,
    /// nothing in progress.
    pub fn done(tables_total: usize, rows_done: u64, elapsed_s: u64) -> Self {
        Self {
            phase: SnapshotPhase::Done,
            table: None,
            table_rows_done: 0,
            table_rows_estimated: 0,
            tables_remaining: 0,
            tables_total,
            rows_done,
            table_eta_s: None,
            elapsed_s,
        }
    }
}

impl StatusSnapshot {
    /// Ready = streaming, the sink accepting, and not shutting down. Returns the reason when
    /// not ready, naming every stage that is not running.
    pub fn readiness(&self) -> Result<(), String> {
        if self.shutting_down {
            return Err("shutting down".into());
        }
        let mut reasons = Vec::new();
        if self.source != StageState::Running {
            reasons.push(format!("source not streaming: {}", describe(&self.source)));
        }
        if self.sink != StageState::Running {
            reasons.push(format!("sink not accepting: {}", describe(&self.sink)));
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }
}

fn describe(s: &StageState) -> String {
    match s {
        StageState::Starting => "starting".into(),
        StageState::Connecting(None) => "connecting".into(),
        StageState::Connecting(Some(r)) => format!("connecting ({r})"),
        StageState::Running => "running".into(),
        StageState::Retrying(r) => format!("retrying ({r})"),
        StageState::Stopped => "stopped".into(),
        StageState::Failed(r) => format!("failed ({r})"),
    }
}

#[derive(Debug)]
struct Inner {
    snap: StatusSnapshot,
}

/// Shared, cheap-to-clone handle on the pipeline state.
#[derive(Debug, Clone)]
pub struct Status {
    inner: Arc<Mutex<Inner>>,
    /// Last time (ms since epoch) the pipeline's loop reported itself alive.
    heartbeat_ms: Arc<AtomicI64>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Status {
    /// A fresh status: both stages `Starting`.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                snap: StatusSnapshot {
                    source: StageState::Starting,
                    sink: StageState::Starting,
                    current_position: None,
                    committed: None,
                    lag_ms: None,
                    events_total: 0,
                    events_acked_total: 0,
                    last_error: None,
                    shutting_down: false,
                    snapshot: None,
                },
            })),
            heartbeat_ms: Arc::new(AtomicI64::new(now_ms())),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        f(&mut self.inner.lock().expect("status lock").snap)
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.with(|s| s.clone())
    }

    /// Sets the source stage's state (a `Retrying`/`Failed` reason also becomes `last_error`).
    pub fn set_source(&self, state: StageState) {
        self.with(|s| {
            if let StageState::Retrying(r) | StageState::Failed(r) | StageState::Connecting(Some(r)) = &state {
                s.last_error = Some(format!("source: {r}"));
            }
            s.source = state;
        });
        self.beat();
    }

    /// Sets the sink stage's state (a `Retrying`/`Failed` reason also becomes `last_error`).
    pub fn set_sink(&self, state: StageState) {
        self.with(|s| {
            if let StageState::Retrying(r) | StageState::Failed(r) = &state {
                s.last_error = Some(format!("sink: {r}"));
            }
            s.sink = state;
        });
        self.beat();
    }

    /// Records events read up to `position`, the last of which carries binlog timestamp
    /// `event_ts_ms` (0 = unknown).
    pub fn on_read(&self, events: u64, position: Option<BinlogPosition>, event_ts_ms: i64) {
        self.with(|s| {
            s.events_total += events;
            if position.is_some() {
                s.current_position = position;
            }
            if event_ts_ms > 0 {
                s.lag_ms = Some((now_ms() - event_ts_ms).max(0));
            }
        });
        self.beat();
    }

    /// Records a replication heartbeat outside a transaction: the server had nothing newer to
    /// send, so the reader is caught up and the lag is 0 (MariaDB's heartbeats carry no
    /// timestamp, and an idle server writes no events, so the last event's age would otherwise
    /// grow while nothing is behind).
    pub fn on_caught_up(&self) {
        self.with(|s| s.lag_ms = Some(0));
        self.beat();
    }

    /// Records `events` acknowledged by the sink.
    pub fn on_acked(&self, events: u64) {
        self.with(|s| s.events_acked_total += events);
        self.beat();
    }

    /// Records a stored checkpoint.
    pub fn on_checkpoint(&self, cp: &Checkpoint) {
        self.with(|s| s.committed = Some(cp.clone()));
    }

    /// Records the initial snapshot's progress.
    pub fn set_snapshot(&self, snapshot: SnapshotStatus) {
        self.with(|s| s.snapshot = Some(snapshot));
        self.beat();
    }

    /// Sets the phase of the snapshot shown on `/health` (a snapshot with no status yet
    /// gets one with only the phase).
    pub fn set_snapshot_phase(&self, phase: SnapshotPhase) {
        self.with(|s| match &mut s.snapshot {
            Some(snap) => snap.phase = phase,
            None => s.snapshot = Some(SnapshotStatus { phase, ..SnapshotStatus::done(0, 0, 0) }),
        });
        self.beat();
    }

    /// Marks shutdown begun: readiness turns false before draining.
    pub fn begin_shutdown(&self) {
        self.with(|s| s.shutting_down = true);
    }

    /// The pipeline loop calls this while it is alive (also done by every update above).
    pub fn beat(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Milliseconds since the last heartbeat of the pipeline loop.
    pub fn since_heartbeat_ms(&self) -> i64 {
        now_ms() - self.heartbeat_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_both_stages_run() {
        let st = Status::new();
        assert!(st.snapshot().readiness().is_err());
        st.set_sink(StageState::Retrying("LimitExceeded".into()));
        let why = st.snapshot().readiness().unwrap_err();
        assert!(why.contains("source not streaming: starting") && why.contains("LimitExceeded"), "{why}");
        st.set_source(StageState::Running);
        let why = st.snapshot().readiness().unwrap_err();
        assert!(why.contains("LimitExceeded"), "{why}");
        st.set_sink(StageState::Running);
        assert!(st.snapshot().readiness().is_ok());
        st.begin_shutdown();
        assert_eq!(st.snapshot().readiness().unwrap_err(), "shutting down");
    }

    #[test]
    fn lag_is_the_last_event_age_until_a_heartbeat_says_caught_up() {
        let st = Status::new();
        st.on_read(1, None, now_ms() - 60_000);
        assert!(st.snapshot().lag_ms.unwrap() >= 60_000);
        st.on_caught_up();
        assert_eq!(st.snapshot().lag_ms, Some(0));
    }
}
