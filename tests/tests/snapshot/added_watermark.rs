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
use cdc_core::datahub::{Credentials, DataHubConfig, DataHubSink, RetryPolicy};
use cdc_core::pipeline::{self, PipelineConfig};
use cdc_core::snapshot::{SnapshotConfig, SnapshotMethod, SnapshotMode, SnapshotThenStream, TableId};
use cdc_core::source::BinlogSource;
use cdc_core::status::{SnapshotPhase, Status};
use cdc_tests::mariadb::{exec, server, TestServer, REPL_USER};
use cdc_tests::verify::{decode, verify_table, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "addwm_project";
const TOPIC: &str = "addwm_events";
const ID: &str = "addwm_id";
const KEY: &str = "addwm_secret_key";

struct Running {
    status: Status,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), pipeline::PipelineError>>,
}

/// Mode `initial`, method watermark, 25-row windows, capturing `tables` of `schema`.
fn start(db: &TestServer, schema: &str, tables: &[&str], emu: &EmulatorHandle, offsets: &FileOffsetStore) -> Running {
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
    let mut dcfg = DataHubConfig::new(emu.endpoint(), PROJECT, TOPIC, Credentials::new(ID, KEY));
    dcfg.retry = RetryPolicy { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 100 };
    let offsets = offsets.clone();
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (status, cancel) = (status.clone(), cancel.clone());
        async move {
            let sink = DataHubSink::connect(dcfg).await.expect("DataHub sink connects");
            let pcfg = PipelineConfig { checkpoint_interval_ms: 20, ..PipelineConfig::default() };
            pipeline::run(source, sink, offsets, pcfg, status, cancel).await
        }
    });
    Running { status, cancel, task }
}

impl Running {
    async fn wait_snapshot_done(&self, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !self.status.snapshot().snapshot.is_some_and(|s| s.phase == SnapshotPhase::Done) {
            assert!(!self.task.is_finished(), "the pipeline stopped during the snapshot");
            assert!(tokio::time::Instant::now() < deadline, "snapshot not done: {:?}", self.status.snapshot());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("pipeline drains")
            .expect("pipeline task")
            .expect("pipeline ends cleanly");
    }
}

fn events_of(emu: &EmulatorHandle, schema: &str, table: &str) -> Vec<TopicEvent> {
    let name = format!("{schema}.{table}");
    decode(emu.all_records(PROJECT, TOPIC)).into_iter().filter(|e| e.table() == name).collect()
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
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut admin, &[&format!("GRANT CREATE, INSERT ON `{schema}`.* TO '{REPL_USER}'@'{host}'")]).await;
    }
    let mut fill = WorkloadConfig::new(seed ^ 0xadd, schema.clone());
    fill.txn_per_sec = 0.0;
    fill.max_txns = Some(60);
    fill.big_row_fraction = 0.0;
    workload::start(&db, &fill).join().await;
    workload::big_transaction(&mut admin, &schema, 1500).await.expect("bulk rows");

    let emu = Emulator::start(EmulatorConfig::single(PROJECT, TOPIC, 3, ID, KEY), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));

    // Run 1: w_nums only.
    let first = start(&db, &schema, &["w_nums"], &emu, &offsets);
    first.wait_snapshot_done(120).await;
    first.stop().await;
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
    let second = start(&db, &schema, &["w_nums", "w_bulk"], &emu, &offsets);
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
    second.wait_snapshot_done(180).await;
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
    second.stop().await;
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
