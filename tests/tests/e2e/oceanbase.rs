//! The whole pipeline through `oceanbase-emulator` (issue 15): the OceanBase binlog service's
//! stream shape (no TABLE_MAP metadata, one row per ROWS event, MySQL 5.7 events, heartbeats
//! inside transactions, a lagging SHOW MASTER STATUS, converter restarts) in front of the
//! suite's MariaDB, read by the collector with its schema history and snapshot mode `never`,
//! shipped to the DataHub emulator. The all-types workload is verified exactly, across a
//! crash-like kill of the collector and converter restarts in the middle of transactions.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::snapshot::{SnapshotConfig, SnapshotMode, SnapshotThenStream};
use cdc_core::source::{BinlogSource, ChangeSource, SourceError};
use cdc_core::status::Status;
use cdc_tests::mariadb::{server, TestServer};
use cdc_tests::pipeline::{oceanbase, Hub, Running};
use cdc_tests::verify::verify_workload;
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::EmulatorHandle;
use mysql_async::prelude::Queryable;
use oceanbase_emulator::convert::RestartAt;

pub(super) const PROJECT: &str = "ob_project";
pub(super) const TOPIC: &str = "ob_events";
pub(super) const ID: &str = "ob_id";
pub(super) const KEY: &str = "ob_secret_key";

pub(super) const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

pub(super) async fn start(
    ob: &TestServer,
    schema: &str,
    dh: &EmulatorHandle,
    offsets: &FileOffsetStore,
    history: &std::path::Path,
) -> Running {
    let scfg = ob.source_config_with_history("ob", schema, history);
    let status = Status::new();
    let binlog = BinlogSource::new(scfg, status.clone());
    let source = SnapshotThenStream::new(binlog, SnapshotMode::Never, SnapshotConfig::new("ob"), status.clone());
    let sink = HUB.sink(dh).await;
    let pcfg = PipelineConfig { checkpoint_interval_ms: 50, ..PipelineConfig::default() };
    Running::spawn(source, sink, offsets, pcfg, status)
}

/// Waits until the stored checkpoint reaches what the emulator's SHOW MASTER STATUS says (it
/// lags the stream, so this only ever under-waits; the verifier then waits a little more).
pub(super) async fn wait_caught_up(ob: &TestServer, db: &TestServer, schema: &str, dh: &EmulatorHandle) {
    let mut c = db.admin_conn().await;
    for _ in 0..600 {
        let events = HUB.events_of(dh, schema);
        let report = verify_workload(&mut c, &events, schema).await;
        if report.is_clean() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = HUB.events_of(dh, schema);
    let report = verify_workload(&mut c, &events, schema).await;
    let _ = ob;
    panic!("never caught up through the OceanBase emulator: {report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_all_types_workload_through_the_oceanbase_emulator_survives_kills_and_converter_restarts() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let (ob_emu, ob) = oceanbase(&db, Duration::from_millis(200)).await;
    let schema = db.fresh_schema("ob_e2e").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let dh = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let history = dir.path().join("offsets.json.schema_history.jsonl");

    // A snapshotting mode on the binlog service takes the watermark path, whose signal table the
    // replication user here may not create (tests/tests/snapshot/watermark_oceanbase.rs grants
    // it): the precheck says what to create and grant.
    {
        let mut scfg = ob.source_config("ob");
        scfg.schemas = vec![schema.clone()];
        let s = SnapshotThenStream::new(
            BinlogSource::new(scfg, Status::new()),
            SnapshotMode::Initial,
            SnapshotConfig::new("ob"),
            Status::new(),
        );
        let err = ChangeSource::precheck(&s).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Precheck(p) if p.to_string().contains("signal table") && p.to_string().contains("GRANT INSERT")),
            "{err}"
        );
    }

    let mut col = start(&ob, &schema, &dh, &offsets, &history).await;
    // Wait for the start position to be stored before writing.
    for _ in 0..200 {
        if offsets.load().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    wcfg.txn_per_sec = 30.0;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The converter restarts in the middle of a transaction (the last file is truncated to
        // its last whole transaction, table ids start again).
        ob_emu.restart_converter(RestartAt::InTransaction).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // A crash-like stop of the collector, then a restart from its checkpoint.
        col.kill().await;
        eprintln!(
            "round {round}: converter restarted, collector killed at {:?}",
            offsets.load().unwrap().map(|c| c.resume)
        );
        col = start(&ob, &schema, &dh, &offsets, &history).await;
    }
    let stats = writers.stop().await;
    eprintln!("workload: {stats:?}");
    wait_caught_up(&ob, &db, &schema, &dh).await;
    col.cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), col.task).await;
    let events = HUB.events_of(&dh, &schema);
    assert!(events.len() > 100, "the workload wrote through the emulator ({} events)", events.len());
    let mut c = db.admin_conn().await;
    let report = verify_workload(&mut c, &events, &schema).await;
    assert!(report.is_clean(), "{report:#?}");
    let _: Option<String> = c.query_first("SELECT 1").await.unwrap();
    ob_emu.shutdown();
    dh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_binlog_service_keeps_the_collector_ready_with_heartbeats_then_delivers() {
    let db = server().await;
    let (ob_emu, ob) = oceanbase(&db, Duration::from_millis(100)).await;
    let schema = db.fresh_schema("ob_idle").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let dh = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let history = dir.path().join("h.jsonl");
    let mut scfg = ob.source_config_with_history("ob", &schema, &history);
    scfg.heartbeat_ms = 100;
    let status = Status::new();
    let source = SnapshotThenStream::new(
        BinlogSource::new(scfg, status.clone()),
        SnapshotMode::Never,
        SnapshotConfig::new("ob"),
        status.clone(),
    );
    let sink = HUB.sink(&dh).await;
    let Running { status, cancel, task } = Running::spawn(source, sink, &offsets, PipelineConfig::default(), status);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status.snapshot().readiness().is_err() {
        assert!(tokio::time::Instant::now() < deadline, "never ready: {:?}", status.snapshot());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Idle (a short stand-in for the idle hour): heartbeats every 100 ms, nothing else. The
    // collector stays ready and caught up, and the position it reports stays a real one.
    let before = status.snapshot().current_position;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = status.snapshot();
        assert!(s.readiness().is_ok(), "not ready while idle: {s:?}");
        assert!(s.lag_ms.is_some_and(|l| l < 5_000), "lag while idle with heartbeats: {:?}", s.lag_ms);
    }
    let after = status.snapshot().current_position;
    if let (Some(b), Some(a)) = (&before, &after) {
        assert_eq!(a.file, b.file, "heartbeats do not move the position to another file");
    }
    // Then a row arrives.
    let mut c = db.admin_conn().await;
    c.query_drop(format!("INSERT INTO `{schema}`.w_bulk VALUES (1, 1, 'after the idle time')")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if HUB.events_of(&dh, &schema).iter().any(|e| e.event["after"]["s"] == "after the idle time") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the row after the idle time never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    ob_emu.shutdown();
    dh.shutdown().await;
}
