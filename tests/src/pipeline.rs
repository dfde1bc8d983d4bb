//! Shared setup of the in-process pipeline tests (`tests/tests/e2e`, `tests/tests/snapshot`,
//! `tests/tests/reliability`): a DataHub emulator with one project and topic ([`Hub`]), a sink
//! to it with fast retries, the pipeline spawned as a task ([`Running`]: graceful stop,
//! crash-like kill, readiness), the events of one schema as the verifier reads them, the
//! server's binlog end, the replication user's grant for the watermark snapshot's signal table,
//! and the OceanBase binlog service's stand-in in front of the suite's MariaDB ([`oceanbase`]).
//!
//! Each test file keeps its own project, topic and credentials (a `const` [`Hub`]), so the
//! topics of tests that share a server and run in parallel never mix.

use std::time::Duration;

use cdc_core::checkpoint::FileOffsetStore;
use cdc_core::datahub::{Credentials, DataHubConfig, DataHubSink, RetryPolicy};
use cdc_core::pipeline::{self, PipelineConfig, PipelineError};
use cdc_core::position::{BinlogPosition, StartPosition};
use cdc_core::sink::Sink;
use cdc_core::source::ChangeSource;
use cdc_core::status::Status;
use datahub_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use mysql_async::prelude::Queryable;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::mariadb::{exec, TestServer, REPL_PASSWORD, REPL_USER};
use crate::verify::{decode, verify_workload, Report, TopicEvent};

/// One DataHub project with one topic and the credentials a test's emulator accepts.
#[derive(Debug, Clone, Copy)]
pub struct Hub {
    /// Project name.
    pub project: &'static str,
    /// Topic name.
    pub topic: &'static str,
    /// Access id.
    pub id: &'static str,
    /// Access key.
    pub key: &'static str,
}

impl Hub {
    /// Starts an in-process DataHub emulator on a free local port holding this project and a
    /// BLOB topic of `shards` shards.
    pub async fn start(&self, shards: u32) -> EmulatorHandle {
        let cfg = EmulatorConfig::single(self.project, self.topic, shards, self.id, self.key);
        Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("DataHub emulator starts")
    }

    /// The sink's configuration for this topic on `emu`, with fast retries (2 attempts,
    /// 10-100 ms backoff) so the tests see failures and recovery within seconds.
    pub fn sink_config(&self, emu: &EmulatorHandle) -> DataHubConfig {
        let mut dcfg =
            DataHubConfig::new(emu.endpoint(), self.project, self.topic, Credentials::new(self.id, self.key));
        dcfg.retry = RetryPolicy { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 100 };
        dcfg
    }

    /// A connected sink with [`Hub::sink_config`].
    pub async fn sink(&self, emu: &EmulatorHandle) -> DataHubSink {
        DataHubSink::connect(self.sink_config(emu)).await.expect("DataHub sink connects")
    }

    /// The verifier's report of the workload's tables of `schema` against this topic on `emu`,
    /// taken again every 200 ms until it is clean or `secs` have passed (the pipeline may still
    /// be delivering the last changes): the last report.
    pub async fn verify_settled(
        &self,
        conn: &mut mysql_async::Conn,
        emu: &EmulatorHandle,
        schema: &str,
        secs: u64,
    ) -> Report {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let report = verify_workload(conn, &self.events_of(emu, schema), schema).await;
            if report.is_clean() || tokio::time::Instant::now() > deadline {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every event the emulator holds in this topic whose `source.db` is `schema`, decoded, in
    /// the verifier's order ([`decode`]).
    pub fn events_of(&self, emu: &EmulatorHandle, schema: &str) -> Vec<TopicEvent> {
        decode(emu.all_records(self.project, self.topic))
            .into_iter()
            .filter(|e| e.event["source"]["db"] == schema)
            .collect()
    }
}

/// A pipeline running as a task: its status, the token that stops it and the task.
#[derive(Debug)]
pub struct Running {
    /// The pipeline's status (readiness, snapshot progress, positions).
    pub status: Status,
    /// Cancelled by [`Running::stop`]: drain, final checkpoint, end.
    pub cancel: CancellationToken,
    /// The `pipeline::run` task.
    pub task: JoinHandle<Result<(), PipelineError>>,
}

impl Running {
    /// Spawns `pipeline::run(source, sink, offsets, pcfg, status)`; returns at once.
    pub fn spawn<C, S>(source: C, sink: S, offsets: &FileOffsetStore, pcfg: PipelineConfig, status: Status) -> Self
    where
        C: ChangeSource + Send + 'static,
        S: Sink + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(pipeline::run(source, sink, offsets.clone(), pcfg, status.clone(), cancel.clone()));
        Self { status, cancel, task }
    }

    /// Graceful stop: cancel, then wait (at most `within`) for the drain and the final
    /// checkpoint; panics unless the pipeline ends cleanly.
    pub async fn stop(self, within: Duration) {
        self.cancel.cancel();
        tokio::time::timeout(within, self.task)
            .await
            .unwrap_or_else(|_| panic!("pipeline drains within {within:?}"))
            .expect("pipeline task")
            .expect("pipeline ends cleanly");
    }

    /// Crash-like stop: the task is aborted mid-flight; no drain, no final checkpoint.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits (polling every 20 ms, at most `tries` times) until the status says ready; panics
    /// if the pipeline ends first or is not ready by then.
    pub async fn wait_ready(&self, tries: u32) {
        for _ in 0..tries {
            if self.status.snapshot().readiness().is_ok() {
                return;
            }
            assert!(!self.task.is_finished(), "the pipeline stopped at start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("pipeline not ready: {:?}", self.status.snapshot());
    }
}

/// The pipeline settings of the streaming tests: from the end of the binlog, a checkpoint every
/// 50 ms, sink re-sends after 20 ms growing to 200 ms.
pub fn streaming_config() -> PipelineConfig {
    PipelineConfig {
        start: StartPosition::Latest,
        checkpoint_interval_ms: 50,
        sink_retry_initial_ms: 20,
        sink_retry_max_ms: 200,
        ..PipelineConfig::default()
    }
}

/// The server's current binlog end (`SHOW MASTER STATUS`).
pub async fn binlog_end(db: &TestServer) -> BinlogPosition {
    let mut c = db.admin_conn().await;
    let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().expect("binlog on");
    BinlogPosition::new(row.get::<String, _>(0).unwrap(), row.get::<u64, _>(1).unwrap())
}

/// Binlog order of a position: (file index, offset).
pub fn order(p: &BinlogPosition) -> (u64, u64) {
    (p.file_index().expect("binlog file names end in a number"), p.pos)
}

/// Grants the replication user what the watermark snapshot needs in `schema`: CREATE (the
/// signal table) and INSERT (the watermarks), from both local host names.
pub async fn grant_signal_table(admin: &mut mysql_async::Conn, schema: &str) {
    for host in ["127.0.0.1", "localhost"] {
        exec(admin, &[&format!("GRANT CREATE, INSERT ON `{schema}`.* TO '{REPL_USER}'@'{host}'")]).await;
    }
}

/// Starts `oceanbase-emulator` (the OceanBase binlog service behind ODP) in front of `db`,
/// with heartbeats every `heartbeat`; returns it and the address the collector connects to.
pub async fn oceanbase(db: &TestServer, heartbeat: Duration) -> (oceanbase_emulator::Emulator, TestServer) {
    let mut cfg = oceanbase_emulator::Config::new(db.host.clone(), db.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = heartbeat;
    let emu = oceanbase_emulator::Emulator::start(cfg).await.expect("OceanBase emulator starts");
    let ob = TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    (emu, ob)
}
