//! The watermark (incremental) snapshot wired into the collector's source
//! (`SnapshotThenStream`), through `oceanbase-emulator` (the OceanBase binlog service has no
//! consistent snapshot point, so `CDC_SNAPSHOT_MODE=initial` takes the watermark path): tables
//! filled before the start, the seeded all-types workload (inserts, updates, primary-key moves,
//! deletes on the rows being snapshotted) running during the snapshot and after it, the whole
//! pipeline shipping to the DataHub emulator. The verifier must rebuild every table exactly with
//! 0 per-key reorders; the snapshot rows are `source.snapshot = "incremental"`; no row of the
//! signal table reaches DataHub; every checkpoint stored during the snapshot carries its
//! progress, the ones after it none.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::snapshot::{SnapshotConfig, SnapshotMethod, SnapshotMode, SnapshotThenStream, DEFAULT_SIGNAL_TABLE};
use cdc_core::source::{BinlogSource, ChangeSource, SourceError};
use cdc_core::status::{SnapshotPhase, Status};
use cdc_tests::mariadb::{server, TestServer};
use cdc_tests::pipeline::{grant_signal_table, oceanbase, Hub, Running};
use cdc_tests::verify::{decode, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig, TABLES};
use datahub_emulator::EmulatorHandle;

const PROJECT: &str = "wm_project";
const TOPIC: &str = "wm_events";
const ID: &str = "wm_id";
const KEY: &str = "wm_secret_key";

const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

/// The collector's source on the emulator: schema history, snapshot `mode`, 40-row chunks.
fn source(
    ob: &TestServer,
    schema: &str,
    history: &std::path::Path,
    mode: SnapshotMode,
    status: &Status,
) -> SnapshotThenStream {
    let scfg = ob.source_config_with_history("wm", schema, history);
    let mut snapshot = SnapshotConfig::new("wm");
    // Small chunks: many windows, so the workload's writes fall into them.
    snapshot.chunk_rows = 40;
    SnapshotThenStream::new(BinlogSource::new(scfg, status.clone()), mode, snapshot, status.clone())
}

async fn start(
    ob: &TestServer,
    schema: &str,
    dh: &EmulatorHandle,
    offsets: &FileOffsetStore,
    history: &std::path::Path,
) -> Running {
    let status = Status::new();
    let source = source(ob, schema, history, SnapshotMode::Initial, &status);
    let sink = HUB.sink(dh).await;
    let pcfg = PipelineConfig { checkpoint_interval_ms: 50, ..PipelineConfig::default() };
    Running::spawn(source, sink, offsets, pcfg, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watermark_snapshot_through_the_oceanbase_emulator_rebuilds_every_table_under_concurrent_writes() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let (ob_emu, ob) = oceanbase(&db, Duration::from_millis(200)).await;
    let schema = db.fresh_schema("wm_ob").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;

    // Filled before the start: a burst of the workload, and 3,000 rows in w_bulk.
    let fill = WorkloadConfig::burst(seed ^ 0x5eed, schema.clone(), 60);
    let filled = workload::start(&db, &fill).join().await;
    workload::big_transaction(&mut admin, &schema, 3000).await.expect("bulk rows");
    eprintln!("filled before the start: {filled:?}");

    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("offsets.json.schema_history.jsonl");

    // The precheck: no longer a refusal, but what the watermark snapshot needs. The replication
    // user may neither create the signal table nor insert into it yet: the problem says what to
    // run and grant.
    let err = ChangeSource::precheck(&source(&ob, &schema, &history, SnapshotMode::Initial, &Status::new()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Precheck(_)), "{err}");
    assert!(text.contains("CREATE TABLE IF NOT EXISTS") && text.contains("GRANT INSERT"), "{text}");
    assert!(text.contains(&format!("{schema}.{DEFAULT_SIGNAL_TABLE}")), "{text}");
    grant_signal_table(&mut db.admin_conn().await, &schema).await;
    ChangeSource::precheck(&source(&ob, &schema, &history, SnapshotMode::Initial, &Status::new()))
        .await
        .expect("the precheck passes once the signal table can be created and written");

    let dh = HUB.start(3).await;
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let col = start(&ob, &schema, &dh, &offsets, &history).await;

    // The workload runs during the whole snapshot, then a little longer.
    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    // As fast as it goes: many changes fall between a chunk's SELECT and its high watermark.
    wcfg.txn_per_sec = 0.0;
    // Keys spread over w_bulk's 3,000 rows: a key is rarely changed twice, so a chunk row emitted
    // with a state older than a change in its window would stay the final state the verifier
    // sees (the row is placed at its high watermark, so no position check could catch it).
    wcfg.key_space = 3000;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    let mut with_progress = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(cp) = offsets.load().unwrap() {
            if let Some(p) = &cp.snapshot {
                assert_eq!(p.method, SnapshotMethod::Watermark, "the watermark path on the binlog service");
                if p.rows() > 0 {
                    with_progress += 1;
                }
            }
        }
        if col.status.snapshot().snapshot.is_some_and(|s| s.phase == SnapshotPhase::Done) {
            break;
        }
        assert!(!col.task.is_finished(), "the pipeline stopped during the snapshot");
        assert!(tokio::time::Instant::now() < deadline, "snapshot not done in time: {:?}", col.status.snapshot());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(with_progress > 0, "no checkpoint with the snapshot's progress was stored while it ran");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = writers.stop().await;
    eprintln!("workload during and after the snapshot: {stats:?}");
    assert!(stats.committed > 20, "too little written: {stats:?}");

    // Caught up and exact.
    let mut c = db.admin_conn().await;
    let report = HUB.verify_settled(&mut c, &dh, &schema, 60).await;
    assert!(report.is_clean(), "{report:#?}");
    col.cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), col.task).await;
    let last = offsets.load().unwrap().expect("a checkpoint");
    assert!(last.snapshot.is_none(), "checkpoints after the snapshot carry no progress: {last:?}");

    let events = HUB.events_of(&dh, &schema);
    let marks = |m: &str| events.iter().filter(|e| e.event["source"]["snapshot"] == m).count();
    let incremental = marks("incremental");
    eprintln!("{} events, {incremental} snapshot rows; {report}", events.len());
    assert_eq!(marks("true") + marks("last"), 0, "no consistent-snapshot rows on the binlog service");
    for t in TABLES {
        let name = format!("{schema}.{}", t.name);
        let reads: Vec<&TopicEvent> = events.iter().filter(|e| e.table() == name && e.event["op"] == "r").collect();
        assert!(!reads.is_empty(), "no snapshot row of {name}");
        assert!(reads.iter().all(|e| e.event["source"]["snapshot"] == "incremental"), "{name}: reads not incremental");
    }
    assert!(
        events.iter().all(|e| e.event["source"]["table"] != DEFAULT_SIGNAL_TABLE),
        "a signal table row reached DataHub"
    );
    let all = decode(dh.all_records(PROJECT, TOPIC));
    assert!(
        all.iter().all(|e| e.event["source"]["table"] != DEFAULT_SIGNAL_TABLE),
        "a signal table row reached DataHub"
    );
    // The signal table did carry the watermarks (two per window).
    let windows: Option<i64> = mysql_async::prelude::Queryable::query_first(
        &mut c,
        format!("SELECT COUNT(*) FROM `{schema}`.`{DEFAULT_SIGNAL_TABLE}` WHERE kind = 'high'"),
    )
    .await
    .unwrap();
    assert!(windows.unwrap_or(0) > 20, "{windows:?} windows");
    ob_emu.shutdown();
    dh.shutdown().await;
}
