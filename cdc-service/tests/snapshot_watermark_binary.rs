//! The watermark snapshot through the real `cdc-collector` binary, against `oceanbase-emulator`
//! (no consistent snapshot point: `CDC_SNAPSHOT_MODE=initial` takes the watermark path), with
//! the signal table in a schema that is not captured (`CDC_SNAPSHOT_SIGNAL_TABLE`): the
//! collector is SIGKILLed twice in the middle of the snapshot while the seeded all-types
//! workload writes, and restarted from its checkpoint each time. The restart continues the
//! chunks after the stored key (not from scratch), nothing is lost, per-key order is kept (the
//! verifier: 0 missing, extra, different, reorders), and no signal-table row reaches DataHub.

mod common;

use std::path::Path;
use std::time::Duration;

use cdc_core::checkpoint::Checkpoint;
use cdc_core::snapshot::SnapshotMethod;
use cdc_tests::mariadb::{self, TestServer, REPL_PASSWORD};
use cdc_tests::pipeline::{grant_signal_table, oceanbase, Hub};
use cdc_tests::verify::decode;
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use common::Collector;
use datahub_emulator::EmulatorHandle;

const PROJECT: &str = "wmb_project";
const TOPIC: &str = "wmb_topic";
const ID: &str = "wmb_access_id";
const KEY: &str = "wmb-access-key-Q71";
const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };
const CHUNK_ROWS: u64 = 20;

/// The collector against the OceanBase emulator at `ob`: snapshot mode `initial` (the
/// watermark path), `CHUNK_ROWS`-row chunks, `signal` as the signal table, JSON logs.
fn collector(ob: &TestServer, schema: &str, signal: &str, emu: &EmulatorHandle, dir: &Path) -> Collector {
    let mut col = Collector::new(ob, schema, &HUB, &emu.endpoint(), "wmb", dir, dir.join("data/offsets.json"));
    for (k, v) in [
        ("DATABASE_FLAVOR", "oceanbase".to_owned()),
        ("CDC_SNAPSHOT_MODE", "initial".to_owned()),
        ("CDC_SNAPSHOT_CHUNK_ROWS", CHUNK_ROWS.to_string()),
        ("CDC_SNAPSHOT_SIGNAL_TABLE", signal.to_owned()),
        ("RETRY_BACKOFF_MS", "50".to_owned()),
        ("LOG_LEVEL", "INFO".to_owned()),
        ("CDC_LOG_FORMAT", "json".to_owned()),
    ] {
        col.set(k, &v);
    }
    col
}

fn snapshot_rows(cp: &Checkpoint) -> Option<u64> {
    cp.snapshot.as_ref().map(|p| p.rows())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_a_watermark_snapshot_resumes_after_the_stored_key_and_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let (ob_emu, ob) = oceanbase(&db, Duration::from_millis(200)).await;
    let schema = db.fresh_schema("wmb").await;
    let signal_schema = db.fresh_schema("wmb_sig").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    grant_signal_table(&mut admin, &signal_schema).await;
    let fill = WorkloadConfig::burst(seed ^ 0xf111, schema.clone(), 40);
    workload::start(&db, &fill).join().await;
    // Large enough that two kills, each after a checkpoint (stored once a second) with more
    // progress, land inside the snapshot: the binlog service path reads ≈ 6,000 rows/s here,
    // and with 10,000 rows a seed that killed late let the restart finish the snapshot between
    // two stores (seed 12085809885418939181 failed so).
    workload::big_transaction(&mut admin, &schema, 30_000).await.expect("bulk rows");
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&ob, &schema, &format!("{signal_schema}.cdc_signal"), &emu, dir.path());

    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    wcfg.txn_per_sec = 30.0;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    col.spawn();
    // Two SIGKILLs, each once the snapshot has stored some more progress.
    let mut killed_at = Vec::new();
    let mut floor = 0;
    for k in 0..2 {
        let cp =
            col.wait_checkpoint("with snapshot progress", 120, |cp| snapshot_rows(cp).is_some_and(|r| r > floor)).await;
        let p = cp.snapshot.as_ref().unwrap();
        assert_eq!(p.method, SnapshotMethod::Watermark);
        assert!(!p.is_done(), "the snapshot ended before kill {k}: make the tables bigger");
        col.sigkill();
        let stored = col.checkpoint().unwrap();
        let rows = snapshot_rows(&stored).expect("killed during the snapshot");
        eprintln!("kill {k}: stored progress {rows} rows at {}", stored.resume);
        killed_at.push(rows);
        floor = rows + 20 * CHUNK_ROWS;
        col.spawn();
    }
    col.wait_checkpoint("after the snapshot", 180, |cp| cp.snapshot.is_none()).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stats = writers.stop().await;
    eprintln!("workload: {stats:?}");

    let mut c = db.admin_conn().await;
    let report = HUB.verify_settled(&mut c, &emu, &schema, 90).await;
    let log = col.log_text();
    assert!(report.is_clean(), "{report:#?}\n{log}");
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());

    // Each restart continued after the stored key: its run started with the stored rows.
    let starts: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("Watermark snapshot started."))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["rows"].as_u64())
        .collect();
    assert_eq!(starts.len(), 3, "three runs of the snapshot: {starts:?}");
    assert_eq!(starts[0], 0);
    for (k, rows) in killed_at.iter().enumerate() {
        assert!(
            starts[k + 1] >= *rows && *rows > 0,
            "run {} started at {} rows, {rows} were stored",
            k + 1,
            starts[k + 1]
        );
    }
    let events = HUB.events_of(&emu, &schema);
    let reads = events.iter().filter(|e| e.event["op"] == "r").count() as u64;
    let incremental = events.iter().filter(|e| e.event["source"]["snapshot"] == "incremental").count() as u64;
    assert_eq!(reads, incremental, "every snapshot row is incremental");
    let all = decode(emu.all_records(PROJECT, TOPIC));
    assert!(all.iter().all(|e| e.event["source"]["db"] != signal_schema.as_str()), "a signal row reached DataHub");
    eprintln!(
        "{} events, {reads} snapshot rows, kills at {killed_at:?}, runs started at {starts:?}; {report}",
        events.len()
    );
    assert!(!log.contains(KEY) && !log.contains(REPL_PASSWORD), "secret in logs");
    ob_emu.shutdown();
    emu.shutdown().await;
}
