//! The watermark snapshot on MariaDB (issue 13): `CDC_SNAPSHOT_METHOD=watermark` makes the
//! initial snapshot of a large table run inside the stream, so a change to another table reaches
//! DataHub while the snapshot is still reading (the consistent path would hold it until every
//! row is read); and an ad-hoc snapshot while running ("re-snapshot named tables while
//! running"): a collector streaming in mode `never` with a signal table configured reads the
//! tables a `snapshot` signal row names in watermark windows inside the stream, under a
//! concurrent workload, with a restart in the middle of it (resumed after the stored key). The
//! tables were filled before the collector started, so only the signalled snapshot can bring
//! their rows: the verifier must rebuild every table exactly, with 0 per-key reorders. Signals
//! naming tables that are not captured or do not exist are ignored without stopping the stream,
//! and no signal-table row reaches DataHub.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::snapshot::{SnapshotConfig, SnapshotMethod, SnapshotMode, SnapshotThenStream, TableId};
use cdc_core::source::BinlogSource;
use cdc_core::status::{SnapshotPhase, Status};
use cdc_tests::mariadb::{exec, server, TestServer};
use cdc_tests::pipeline::{grant_signal_table, Hub, Running};
use cdc_tests::verify::{decode, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig, TABLES};
use datahub_emulator::EmulatorHandle;

const PROJECT: &str = "sig_project";
const TOPIC: &str = "sig_events";
const ID: &str = "sig_id";
const KEY: &str = "sig_secret_key";
const SIGNAL: &str = "ops_signal";

const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

/// Mode `never`, signal table `<schema>.ops_signal`, 50-row chunks.
async fn start(db: &TestServer, schema: &str, emu: &EmulatorHandle, offsets: &FileOffsetStore) -> Running {
    let mut snap = SnapshotConfig::new("sig");
    snap.chunk_rows = 50;
    snap.signal_table = Some(TableId::new(schema, SIGNAL));
    start_with(db, schema, emu, offsets, SnapshotMode::Never, snap).await
}

/// The pipeline from `schema` to the emulator's topic, `mode` and `snap` as given; returns once
/// it is ready.
async fn start_with(
    db: &TestServer,
    schema: &str,
    emu: &EmulatorHandle,
    offsets: &FileOffsetStore,
    mode: SnapshotMode,
    snap: SnapshotConfig,
) -> Running {
    let mut scfg = db.source_config("sig");
    scfg.schemas = vec![schema.to_owned()];
    let status = Status::new();
    let source = SnapshotThenStream::new(BinlogSource::new(scfg, status.clone()), mode, snap, status.clone());
    let sink = HUB.sink(emu).await;
    let pcfg = PipelineConfig { checkpoint_interval_ms: 20, ..PipelineConfig::default() };
    let run = Running::spawn(source, sink, offsets, pcfg, status);
    run.wait_ready(500).await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_signal_while_streaming_reads_the_named_tables_in_key_order_across_a_restart() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("sig").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    grant_signal_table(&mut admin, &schema).await;
    // Filled before the start: none of these rows is in the stream the collector reads.
    let fill = WorkloadConfig::burst(seed ^ 0x5197, schema.clone(), 60);
    workload::start(&db, &fill).join().await;
    workload::big_transaction(&mut admin, &schema, 2000).await.expect("bulk rows");

    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let col = start(&db, &schema, &emu, &offsets).await;
    assert!(col.status.snapshot().snapshot.is_none(), "mode never: no snapshot at start");

    // Signals that name nothing readable: ignored, the stream goes on.
    exec(
        &mut admin,
        &[
            &format!("INSERT INTO `{schema}`.{SIGNAL} (kind, data) VALUES ('snapshot', 'mysql.user')"),
            &format!("INSERT INTO `{schema}`.{SIGNAL} (kind, data) VALUES ('snapshot', '{schema}.no_such_table')"),
            &format!("INSERT INTO `{schema}`.{SIGNAL} (kind, data) VALUES ('snapshot', 'not a table list')"),
        ],
    )
    .await;

    // The workload runs during the whole snapshot.
    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    wcfg.txn_per_sec = 0.0;
    wcfg.key_space = 2000;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);

    // Every workload table, in Debezium's execute-snapshot data shape.
    let names: Vec<String> = TABLES.iter().map(|t| format!("\"{schema}.{}\"", t.name)).collect();
    let data = format!("{{\"data-collections\": [{}], \"type\": \"incremental\"}}", names.join(", "));
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.{SIGNAL} (kind, data) VALUES ('snapshot', '{data}')")]).await;

    // Once a checkpoint records rows read, restart the collector in the middle of the snapshot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mid = loop {
        if let Some(p) = offsets.load().unwrap().and_then(|cp| cp.snapshot) {
            assert_eq!(p.method, SnapshotMethod::Watermark);
            if p.rows() > 100 && !p.is_done() {
                break p;
            }
        }
        assert!(!col.task.is_finished(), "the pipeline stopped during the snapshot");
        assert!(tokio::time::Instant::now() < deadline, "no snapshot progress: {:?}", col.status.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("restart after {} rows read, {} tables remaining", mid.rows(), mid.remaining());
    col.stop(Duration::from_secs(60)).await;
    let stored = offsets.load().unwrap().and_then(|cp| cp.snapshot).expect("the stop keeps the progress");
    assert!(!stored.is_done(), "the stop came in the middle of the snapshot: {stored:?}");

    let col = start(&db, &schema, &emu, &offsets).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if col.status.snapshot().snapshot.is_some_and(|s| s.phase == SnapshotPhase::Done) {
            break;
        }
        assert!(!col.task.is_finished(), "the pipeline stopped during the snapshot");
        assert!(tokio::time::Instant::now() < deadline, "snapshot not done in time: {:?}", col.status.snapshot());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stats = writers.stop().await;
    eprintln!("workload during the snapshot: {stats:?}");
    assert!(stats.committed > 20, "too little written: {stats:?}");

    let mut c = db.admin_conn().await;
    let report = HUB.verify_settled(&mut c, &emu, &schema, 60).await;
    assert!(report.is_clean(), "{report:#?}");
    col.stop(Duration::from_secs(60)).await;
    let last = offsets.load().unwrap().expect("a checkpoint");
    assert!(last.snapshot.is_none(), "checkpoints after the snapshot carry no progress: {last:?}");

    let events = HUB.events_of(&emu, &schema);
    for t in TABLES {
        let name = format!("{schema}.{}", t.name);
        let reads: Vec<&TopicEvent> = events.iter().filter(|e| e.table() == name && e.event["op"] == "r").collect();
        assert!(!reads.is_empty(), "no snapshot row of {name}");
        assert!(reads.iter().all(|e| e.event["source"]["snapshot"] == "incremental"), "{name}: reads not incremental");
    }
    let all = decode(emu.all_records(PROJECT, TOPIC));
    assert!(all.iter().all(|e| e.event["source"]["table"] != SIGNAL), "a signal table row reached DataHub");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watermark_method_on_mariadb_streams_other_tables_while_a_large_table_is_read() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("wmdb").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    grant_signal_table(&mut admin, &schema).await;
    let fill = WorkloadConfig::burst(seed ^ 0x3d17, schema.clone(), 40);
    workload::start(&db, &fill).join().await;
    workload::big_transaction(&mut admin, &schema, 6000).await.expect("bulk rows");
    // Fresh statistics: information_schema's TABLE_ROWS is what `/health` estimates from.
    exec(&mut admin, &[&format!("ANALYZE TABLE `{schema}`.w_bulk")]).await;

    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let mut snap = SnapshotConfig::new("sig");
    // Many small windows: the snapshot of w_bulk takes hundreds of them.
    snap.chunk_rows = 10;
    snap.method = Some(SnapshotMethod::Watermark);
    let col = start_with(&db, &schema, &emu, &offsets, SnapshotMode::Initial, snap).await;

    // A change to another table while the snapshot reads: in DataHub before the snapshot ends.
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.w_nums (id, i) VALUES (900001, 424242)")]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let arrived =
            HUB.events_of(&emu, &schema).iter().any(|e| e.event["op"] == "c" && e.event["after"]["id"] == 900001);
        if arrived {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the change never arrived: {:?}", col.status.snapshot());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = col.status.snapshot().snapshot.expect("a snapshot runs");
    assert_ne!(during.phase, SnapshotPhase::Done, "the change arrived while the snapshot was still reading");
    let p = offsets.load().unwrap().and_then(|cp| cp.snapshot).expect("progress in the checkpoint");
    assert_eq!(p.method, SnapshotMethod::Watermark, "the watermark path on MariaDB when asked for");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    // `/health` shows the table's estimated rows and an ETA while it is read.
    let mut estimated = None;
    loop {
        let s = col.status.snapshot().snapshot.expect("a snapshot runs");
        if s.phase == SnapshotPhase::Done {
            break;
        }
        if s.table.as_deref() == Some(&format!("{schema}.w_bulk")) && s.table_rows_estimated > 0 {
            if let Some(eta) = s.table_eta_s {
                estimated = Some((s.table_rows_estimated, eta));
            }
        }
        assert!(!col.task.is_finished(), "the pipeline stopped during the snapshot");
        assert!(tokio::time::Instant::now() < deadline, "snapshot not done in time: {:?}", col.status.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rows, eta) = estimated.expect("an estimate and an ETA for w_bulk while it was read");
    assert!((3000..=12000).contains(&rows), "w_bulk estimated at {rows} rows (6,000 and the workload's)");
    assert!(eta < 600, "eta {eta} s");
    let mut c = db.admin_conn().await;
    let report = HUB.verify_settled(&mut c, &emu, &schema, 60).await;
    assert!(report.is_clean(), "{report:#?}");
    let events = HUB.events_of(&emu, &schema);
    assert!(events.iter().filter(|e| e.event["op"] == "r").all(|e| e.event["source"]["snapshot"] == "incremental"));
    col.stop(Duration::from_secs(60)).await;
    emu.shutdown().await;
}
