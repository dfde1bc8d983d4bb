//! Tables added later, on the watermark path (issue 13; the MariaDB consistent-point case is
//! `cdc-service/tests/reliability_binary.rs`): a first run captures `w_nums` only and
//! snapshots it; the second run captures `w_nums` and `w_bulk` (filled before either run) with
//! writes going on, and reads `w_bulk` in watermark windows inside the stream while `w_nums`
//! keeps its position — `w_nums` is not read again, `w_bulk`'s reads are `incremental`, the
//! checkpoint records both as snapshotted, and the verifier rebuilds both tables exactly.
//! `CDC_SNAPSHOT_METHOD=watermark` makes MariaDB take the path the OceanBase binlog service and
//! MySQL take.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::snapshot::{SnapshotConfig, SnapshotMethod, SnapshotMode, SnapshotThenStream, TableId};
use cdc_core::source::BinlogSource;
use cdc_core::status::{SnapshotPhase, Status};
use cdc_tests::mariadb::{server, TestServer};
use cdc_tests::pipeline::{grant_signal_table, Hub, Running};
use cdc_tests::verify::{verify_table, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::EmulatorHandle;

const HUB: Hub = Hub { project: "addwm_project", topic: "addwm_events", id: "addwm_id", key: "addwm_secret_key" };

/// Mode `initial`, method watermark, 25-row windows, capturing `tables` of `schema`.
async fn start(
    db: &TestServer,
    schema: &str,
    tables: &[&str],
    emu: &EmulatorHandle,
    offsets: &FileOffsetStore,
) -> Running {
    let mut scfg = db.source_config("addwm");
    scfg.schemas = vec![schema.to_owned()];
    scfg.tables = tables.iter().map(|t| (*t).to_owned()).collect();
    let status = Status::new();
    let mut snap = SnapshotConfig::new("addwm");
    snap.chunk_rows = 25;
    snap.method = Some(SnapshotMethod::Watermark);
    snap.signal_table = Some(TableId::new(schema, "cdc_signal"));
    let source =
        SnapshotThenStream::new(BinlogSource::new(scfg, status.clone()), SnapshotMode::Initial, snap, status.clone());
    let pcfg = PipelineConfig { checkpoint_interval_ms: 20, ..PipelineConfig::default() };
    Running::spawn(source, HUB.sink(emu).await, offsets, pcfg, status)
}

async fn wait_snapshot_done(run: &Running, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !run.status.snapshot().snapshot.is_some_and(|s| s.phase == SnapshotPhase::Done) {
        assert!(!run.task.is_finished(), "the pipeline stopped during the snapshot");
        assert!(tokio::time::Instant::now() < deadline, "snapshot not done: {:?}", run.status.snapshot());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn events_of(emu: &EmulatorHandle, schema: &str, table: &str) -> Vec<TopicEvent> {
    let name = format!("{schema}.{table}");
    HUB.events_of(emu, schema).into_iter().filter(|e| e.table() == name).collect()
}

fn reads(events: &[TopicEvent]) -> usize {
    events.iter().filter(|e| e.event["op"] == "r").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_added_later_is_read_in_watermark_windows_while_the_others_keep_their_position() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("addwm").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    grant_signal_table(&mut admin, &schema).await;
    workload::start(&db, &WorkloadConfig::burst(seed ^ 0xadd, &schema, 60)).join().await;
    workload::big_transaction(&mut admin, &schema, 1500).await.expect("bulk rows");

    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));

    // Run 1: w_nums only.
    let first = start(&db, &schema, &["w_nums"], &emu, &offsets).await;
    wait_snapshot_done(&first, 120).await;
    first.stop(Duration::from_secs(60)).await;
    let nums_reads = reads(&events_of(&emu, &schema, "w_nums"));
    assert!(nums_reads > 0, "run 1 read w_nums");
    assert_eq!(reads(&events_of(&emu, &schema, "w_bulk")), 0, "w_bulk is not captured in run 1");
    let cp = offsets.load().unwrap().expect("a checkpoint");
    let recorded = cp.snapshotted.clone().expect("the snapshotted tables are recorded");
    assert!(recorded.contains(&TableId::new(schema.as_str(), "w_nums")), "{recorded:?}");

    // Run 2: w_bulk added, writes going on (to every table; both captured ones are verified).
    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    wcfg.txn_per_sec = 0.0;
    wcfg.key_space = 1500;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    let second = start(&db, &schema, &["w_nums", "w_bulk"], &emu, &offsets).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let progress = loop {
        if let Some(p) = offsets.load().unwrap().and_then(|cp| cp.snapshot) {
            break p;
        }
        assert!(!second.task.is_finished(), "the pipeline stopped");
        assert!(tokio::time::Instant::now() < deadline, "no snapshot of the added table");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(progress.method, SnapshotMethod::Watermark);
    let listed: Vec<String> = progress.tables.iter().map(|t| t.table.to_string()).collect();
    assert_eq!(listed, vec![format!("{schema}.w_bulk")], "only the added table is snapshotted");
    wait_snapshot_done(&second, 180).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stats = writers.stop().await;
    assert!(stats.committed > 20, "too little written: {stats:?}");

    let mut c = db.admin_conn().await;
    for (table, key) in [("w_nums", &["id"][..]), ("w_bulk", &["id"][..])] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let report = loop {
            let report = verify_table(&mut c, &events_of(&emu, &schema, table), &schema, table, key).await;
            if report.is_clean() || tokio::time::Instant::now() > deadline {
                break report;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(report.is_clean(), "{table}: {report:#?}");
    }
    second.stop(Duration::from_secs(60)).await;
    assert_eq!(reads(&events_of(&emu, &schema, "w_nums")), nums_reads, "w_nums was not read again");
    let bulk = events_of(&emu, &schema, "w_bulk");
    assert!(reads(&bulk) >= 500, "{} reads of w_bulk", reads(&bulk));
    assert!(bulk.iter().filter(|e| e.event["op"] == "r").all(|e| e.event["source"]["snapshot"] == "incremental"));
    let cp = offsets.load().unwrap().expect("a checkpoint");
    assert!(cp.snapshot.is_none(), "{cp:?}");
    let recorded = cp.snapshotted.clone().expect("recorded");
    assert!(recorded.contains(&TableId::new(schema.as_str(), "w_bulk")), "{recorded:?}");
    emu.shutdown().await;
}
