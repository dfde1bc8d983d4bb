//! The initial snapshot through the whole pipeline (issue 13): tables filled before the
//! collector starts reach the DataHub emulator as `op: "r"` rows, then the stream goes on from
//! the snapshot's consistent point, and the verifier rebuilds every table exactly — with a
//! concurrent workload during the snapshot, with crash-like kills in the middle of it (resumed
//! after the last acknowledged chunk, not from the start), with a DDL on a table being read,
//! and in `initial_only` mode (the pipeline ends by itself with every row delivered).

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::snapshot::{SnapshotConfig, SnapshotMode, SnapshotThenStream, TableState};
use cdc_core::source::BinlogSource;
use cdc_core::status::{SnapshotPhase, Status};
use cdc_tests::mariadb::{exec, server, TestServer};
use cdc_tests::pipeline::{binlog_end, order, Hub, Running};
use cdc_tests::verify::{verify_workload, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::EmulatorHandle;

const PROJECT: &str = "snap_project";
const TOPIC: &str = "snap_events";
const ID: &str = "snap_id";
const KEY: &str = "snap_secret_key";

const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

async fn start(
    db: &TestServer,
    schema: &str,
    emu: &EmulatorHandle,
    offsets: &FileOffsetStore,
    mode: SnapshotMode,
    chunk_rows: usize,
) -> Running {
    let mut scfg = db.source_config("snap");
    scfg.schemas = vec![schema.to_owned()];
    let status = Status::new();
    let binlog = BinlogSource::new(scfg, status.clone());
    let mut snap = SnapshotConfig::new("snap");
    snap.chunk_rows = chunk_rows;
    let source = SnapshotThenStream::new(binlog, mode, snap, status.clone());
    let sink = HUB.sink(emu).await;
    let pcfg = PipelineConfig {
        checkpoint_interval_ms: 20,
        sink_retry_initial_ms: 20,
        sink_retry_max_ms: 200,
        ..PipelineConfig::default()
    };
    Running::spawn(source, sink, offsets, pcfg, status)
}

/// Fills the workload's tables: `txns` fast transactions of the seeded generator (inserts,
/// updates, deletes over `keys` keys per table) plus `bulk` rows in `w_bulk`.
async fn prefill(db: &TestServer, schema: &str, seed: u64, txns: u64, keys: i64, bulk: usize) {
    let mut cfg = WorkloadConfig::burst(seed, schema, txns);
    cfg.key_space = keys;
    cfg.big_txn_rows = (bulk > 0).then_some(bulk);
    cfg.rollback_fraction = 0.0;
    workload::start(db, &cfg).join().await;
}

/// Waits until the checkpoint is past the server's current binlog end with no snapshot under
/// way (everything written so far is acknowledged).
async fn wait_caught_up(db: &TestServer, offsets: &FileOffsetStore, secs: u64) {
    let target = binlog_end(db).await;
    for _ in 0..secs * 20 {
        if let Some(cp) = offsets.load().unwrap() {
            if cp.snapshot.is_none() && cp.position().is_some_and(|p| order(p) >= order(&target)) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("checkpoint {:?} never reached {target}", offsets.load().unwrap());
}

async fn wait_snapshot_done(status: &Status, secs: u64) {
    for _ in 0..secs * 20 {
        if status.snapshot().snapshot.is_some_and(|s| s.phase == SnapshotPhase::Done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("snapshot not done: {:?}", status.snapshot());
}

fn count_reads(events: &[TopicEvent]) -> usize {
    events.iter().filter(|e| e.event["op"] == "r").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_under_a_concurrent_workload_then_the_stream_rebuild_every_table() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("snap_conc").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    prefill(&db, &schema, seed, 300, 2_000, 20_000).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    // Inserts, updates (primary-key changes too) and deletes on the rows being snapshotted.
    let mut wcfg = WorkloadConfig::new(seed ^ 0x5eed, schema.clone());
    wcfg.key_space = 2_000;
    wcfg.txn_per_sec = 40.0;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    let col = start(&db, &schema, &emu, &offsets, SnapshotMode::Initial, 500).await;
    wait_snapshot_done(&col.status, 120).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = writers.stop().await;
    eprintln!("workload during and after the snapshot: {stats:?}");
    wait_caught_up(&db, &offsets, 60).await;
    col.stop(Duration::from_secs(60)).await;

    let events = HUB.events_of(&emu, &schema);
    let reads = count_reads(&events);
    assert!(reads >= 20_000, "the pre-filled rows arrive as snapshot reads ({reads})");
    let lasts = events.iter().filter(|e| e.event["source"]["snapshot"] == "last").count();
    assert_eq!(lasts, 1, "exactly one event is the snapshot's last");
    assert!(events.iter().any(|e| e.event["op"] != "r"), "the stream follows the snapshot");
    // No change precedes the snapshot row of its key: the verifier's order check compares
    // binlog coordinates per key, and every snapshot row sits at the consistent point.
    let report = verify_workload(&mut db.admin_conn().await, &events, &schema).await;
    assert!(report.is_clean(), "{report:#?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kills_inside_the_snapshot_resume_after_the_last_acknowledged_chunk() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("snap_kill").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let bulk = 60_000;
    prefill(&db, &schema, seed, 200, 1_000, bulk).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let mut kills = 0;
    let mut resumed_after: Vec<u64> = Vec::new();
    loop {
        let col = start(&db, &schema, &emu, &offsets, SnapshotMode::Initial, 200).await;
        if kills == 3 {
            wait_snapshot_done(&col.status, 180).await;
            // The stream after the snapshot: a workload, then everything acknowledged.
            let mut wcfg = WorkloadConfig::burst(seed ^ 0xbeef, schema.clone(), 60);
            wcfg.key_space = 1_000;
            workload::start(&db, &wcfg).join().await;
            wait_caught_up(&db, &offsets, 60).await;
            col.stop(Duration::from_secs(60)).await;
            break;
        }
        // Kill once the stored checkpoint is inside w_bulk (a chunk acknowledged, more to come),
        // further in each round; sometimes between chunks, sometimes while one is in flight.
        let want = (kills as u64 + 1) * (bulk as u64) / 5;
        let mut at = None;
        for _ in 0..3_000 {
            if let Some(cp) = offsets.load().unwrap() {
                if let Some(p) = &cp.snapshot {
                    let bulk_state = p.tables.iter().find(|t| t.table.table == "w_bulk").map(|t| t.state.clone());
                    if let Some(TableState::InProgress { rows, .. }) = bulk_state {
                        if rows >= want {
                            at = Some(rows);
                            break;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5 + kills as u64 * 3)).await;
        }
        let rows = at.unwrap_or_else(|| panic!("round {kills}: never inside w_bulk: {:?}", offsets.load()));
        col.kill().await;
        eprintln!("kill {kills}: checkpoint inside w_bulk after {rows} rows");
        resumed_after.push(rows);
        kills += 1;
    }
    let events = HUB.events_of(&emu, &schema);
    let bulk_reads = events.iter().filter(|e| e.event["op"] == "r" && e.table().ends_with(".w_bulk")).count();
    // Each restart re-reads at most what was read but not acknowledged before its kill (the
    // batches in flight), never the table from its start.
    assert!(bulk_reads < bulk + bulk / 2, "w_bulk read {bulk_reads} times for {bulk} rows: a restart began again");
    assert!(resumed_after.windows(2).all(|w| w[0] < w[1]), "each kill was further in: {resumed_after:?}");
    let report = verify_workload(&mut db.admin_conn().await, &events, &schema).await;
    assert!(report.is_clean(), "{report:#?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn initial_only_delivers_every_row_then_stops_by_itself() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("snap_only").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    prefill(&db, &schema, seed, 200, 500, 5_000).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let col = start(&db, &schema, &emu, &offsets, SnapshotMode::InitialOnly, 700).await;
    let ended = tokio::time::timeout(Duration::from_secs(120), col.task).await.expect("ends by itself");
    ended.expect("task").expect("ends cleanly");
    let events = HUB.events_of(&emu, &schema);
    assert!(events.iter().all(|e| e.event["op"] == "r"), "nothing but the snapshot");
    let report = verify_workload(&mut db.admin_conn().await, &events, &schema).await;
    assert!(report.is_clean(), "{report:#?}");
    let cp = offsets.load().unwrap().expect("a checkpoint");
    assert!(cp.snapshot.is_none(), "the snapshot is recorded as done: {cp:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ddl_on_a_table_during_its_snapshot_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("snap_ddl").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    prefill(&db, &schema, seed, 100, 500, 40_000).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let col = start(&db, &schema, &emu, &offsets, SnapshotMode::Initial, 300).await;
    // Once w_bulk is being read, alter it and write rows of the new shape. The snapshot's
    // transaction holds w_bulk's metadata lock, so the ALTER waits for the snapshot to commit;
    // it must not fail the snapshot nor lose a row.
    for _ in 0..2_000 {
        let reading =
            col.status.snapshot().snapshot.is_some_and(|s| s.table.as_deref() == Some(&format!("{schema}.w_bulk")));
        if reading {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ddl = {
        let db = db.clone();
        let schema = schema.clone();
        tokio::spawn(async move {
            let mut c = db.admin_conn().await;
            exec(
                &mut c,
                &[
                    &format!("ALTER TABLE `{schema}`.w_bulk ADD COLUMN extra VARCHAR(10) NULL"),
                    &format!("INSERT INTO `{schema}`.w_bulk VALUES (-1, 7, 'after ddl', 'x')"),
                    &format!("UPDATE `{schema}`.w_bulk SET extra = 'y' WHERE id = -1"),
                ],
            )
            .await;
        })
    };
    wait_snapshot_done(&col.status, 180).await;
    tokio::time::timeout(Duration::from_secs(60), ddl).await.expect("the ALTER ran after the snapshot").unwrap();
    wait_caught_up(&db, &offsets, 60).await;
    col.stop(Duration::from_secs(60)).await;
    let events = HUB.events_of(&emu, &schema);
    let report = verify_workload(&mut db.admin_conn().await, &events, &schema).await;
    assert!(report.is_clean(), "{report:#?}");
    // The row written after the DDL: its events are on one shard, in order.
    let last = events
        .iter()
        .rev()
        .find(|e| e.table().ends_with(".w_bulk") && e.image()["id"] == -1)
        .expect("events of the row written after the DDL");
    assert_eq!(last.event["after"]["extra"], "y", "rows after the DDL carry the new column: {}", last.event);
    emu.shutdown().await;
}
