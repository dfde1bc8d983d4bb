//! Reliability, in process: the seeded all-types workload (`cdc_tests::workload`) runs against
//! the real MariaDB while the pipeline (binlog source → DataHub producer → offsets) ships it to
//! the DataHub emulator, which meanwhile throttles, answers 5xx, fails some records of a
//! request, answers slowly, drops connections, and has a shard sealed and another split. Each
//! test ends with the verifier (`cdc_tests::verify`): 0 missing, 0 extra, 0 different, 0 per-key
//! reorders (duplicates allowed, counted).
//!
//! Profiles: short by default (CI); `CDC_RELIABILITY_PROFILE=long` runs the workload longer.
//! `CDC_WORKLOAD_SEED` replays the statements of a failed run (the seed is printed).

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::datahub::{DataHubSink, RetryPolicy};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::position::StartPosition;
use cdc_core::source::BinlogSource;
use cdc_core::status::Status;
use cdc_tests::mariadb::{server, TestServer};
use cdc_tests::pipeline::{binlog_end, order, Hub, Running};
use cdc_tests::verify::{interleaved_moves, verify_workload, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::{EmulatorHandle, FaultKind, FaultRule, FaultTimes, Op};

const PROJECT: &str = "rel_project";
const TOPIC: &str = "rel_events";
const ID: &str = "rel_id";
const KEY: &str = "rel_secret_key";

fn long() -> bool {
    std::env::var("CDC_RELIABILITY_PROFILE").is_ok_and(|p| p == "long")
}

const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

async fn start_pipeline(db: &TestServer, schema: &str, emu: &EmulatorHandle, offsets: &FileOffsetStore) -> Running {
    let mut scfg = db.source_config("rel");
    scfg.schemas = vec![schema.to_owned()];
    let status = Status::new();
    let source = BinlogSource::new(scfg, status.clone());
    let mut dcfg = HUB.sink_config(emu);
    dcfg.retry = RetryPolicy { max_attempts: 3, backoff_ms: 10, max_backoff_ms: 100 };
    dcfg.request_timeout_ms = 2_000;
    let sink = DataHubSink::connect(dcfg).await.expect("DataHub sink connects");
    let pcfg = PipelineConfig {
        start: StartPosition::Latest,
        checkpoint_interval_ms: 100,
        sink_retry_initial_ms: 20,
        sink_retry_max_ms: 300,
        ..PipelineConfig::default()
    };
    let run = Running::spawn(source, sink, offsets, pcfg, status);
    run.wait_ready(500).await;
    run
}

/// Waits until the checkpoint reaches the server's binlog end, or panics after `secs`.
async fn wait_caught_up(db: &TestServer, offsets: &FileOffsetStore, run: &Running, secs: u64) {
    let end = binlog_end(db).await;
    let target = order(&end);
    for _ in 0..secs * 10 {
        if let Some(cp) = offsets.load().unwrap() {
            if order(&cp.position().cloned().unwrap()) >= target {
                return;
            }
        }
        assert!(!run.task.is_finished(), "pipeline stopped: {:?}", run.status.snapshot());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("checkpoint {:?} never reached {end}; {:?}", offsets.load().unwrap(), run.status.snapshot());
}

/// Every fault the emulator knows, applied to the writes while the workload runs, then a shard
/// sealed and another split mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datahub_faults_during_an_all_types_workload_lose_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("rel_faults").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    let emu = HUB.start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let run = start_pipeline(&db, &schema, &emu, &offsets).await;

    let mut cfg = WorkloadConfig::new(seed, schema.clone());
    cfg.txn_per_sec = if long() { 40.0 } else { 25.0 };
    let w = workload::start(&db, &cfg);
    let phase = Duration::from_secs(if long() { 20 } else { 3 });
    let writes = || [Op::PutRecords, Op::PutRecordsByShard];
    let every = |op: Op, kind: FaultKind, f: f64| FaultRule { op: Some(op), kind, times: FaultTimes::Fraction(f) };
    let err = |code: &str, status: u16| FaultKind::Error { code: code.into(), status: Some(status), message: None };
    let phases: Vec<(&str, Vec<FaultRule>)> = vec![
        ("throttling", writes().map(|op| every(op, err("LimitExceeded", 429), 0.5)).to_vec()),
        (
            "5xx",
            writes()
                .into_iter()
                .flat_map(|op| {
                    [every(op, err("InternalServerError", 500), 0.25), every(op, err("ServiceUnavailable", 503), 0.25)]
                })
                .collect(),
        ),
        (
            "partial failures",
            vec![every(Op::PutRecords, FaultKind::PartialFailure { every: 3, code: "LimitExceeded".into() }, 0.5)],
        ),
        ("slow responses", writes().map(|op| every(op, FaultKind::Delay { ms: 700 }, 0.3)).to_vec()),
        ("dropped connections", writes().map(|op| every(op, FaultKind::Drop, 0.3)).to_vec()),
        ("slower than the request timeout", writes().map(|op| every(op, FaultKind::Delay { ms: 2_500 }, 0.2)).to_vec()),
    ];
    for (name, rules) in phases {
        eprintln!("phase: {name}");
        for r in rules {
            emu.faults().add(r);
        }
        tokio::time::sleep(phase).await;
        assert!(!run.task.is_finished(), "pipeline stopped during {name}: {:?}", run.status.snapshot());
        emu.faults().clear();
    }
    // Topology changes mid-stream: shard 0 sealed, shard 1 split.
    emu.faults().seal_shard(PROJECT, TOPIC, "0").expect("seal");
    tokio::time::sleep(phase).await;
    let children = emu.faults().split_shard(PROJECT, TOPIC, "1", None).expect("split");
    eprintln!("split shard 1 into {children:?}");
    tokio::time::sleep(phase).await;

    let stats = w.stop().await;
    eprintln!("workload: {stats:?}");
    wait_caught_up(&db, &offsets, &run, 120).await;
    run.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), run.task).await.expect("drains").unwrap().expect("clean end");

    let events = HUB.events_of(&emu, &schema);
    let mut c = db.admin_conn().await;
    let report = verify_workload(&mut c, &events, &schema).await;
    eprintln!("verifier: {report}");
    assert!(stats.committed > 20, "the workload wrote too little: {stats:?}");
    assert!(
        report.missing.is_empty()
            && report.extra.is_empty()
            && report.different.is_empty()
            && report.reorders.is_empty(),
        "{report}"
    );
    // Keys move shards only because of the seal and the split, and then only once each.
    for t in workload::TABLES {
        let name = format!("{schema}.{}", t.name);
        let mine: Vec<TopicEvent> = events.iter().filter(|e| e.table() == name).cloned().collect();
        let moves = interleaved_moves(&mine, t.key);
        assert!(moves.is_empty(), "{}: {:?}", t.name, &moves[..moves.len().min(5)]);
    }
    emu.shutdown().await;
}

/// One transaction of 100 000 rows and rows with a 1 MB BLOB, through batches bounded by rows
/// and bytes: everything arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_transaction_and_1mb_rows_arrive_whole() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("rel_big").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let run = start_pipeline(&db, &schema, &emu, &offsets).await;
    let mut cfg = WorkloadConfig::new(seed, schema.clone());
    cfg.big_txn_rows = Some(100_000);
    cfg.big_row_fraction = 0.2;
    cfg.max_txns = Some(if long() { 200 } else { 30 });
    cfg.txn_per_sec = 0.0;
    let stats = workload::start(&db, &cfg).join().await;
    eprintln!("workload: {stats:?}");
    wait_caught_up(&db, &offsets, &run, 240).await;
    run.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), run.task).await.expect("drains").unwrap().expect("clean end");
    let events = HUB.events_of(&emu, &schema);
    let bulk = events.iter().filter(|e| e.table().ends_with(".w_bulk")).count();
    assert!(bulk >= 100_000, "only {bulk} events of the 100 000-row transaction");
    let mut c = db.admin_conn().await;
    let report = verify_workload(&mut c, &events, &schema).await;
    eprintln!("verifier: {report}");
    assert!(report.is_clean(), "{report}");
    emu.shutdown().await;
}
