//! The watermark snapshot through the real `cdc-collector` binary, against `oceanbase-emulator`
//! (no consistent snapshot point: `CDC_SNAPSHOT_MODE=initial` takes the watermark path), with
//! the signal table in a schema that is not captured (`CDC_SNAPSHOT_SIGNAL_TABLE`): the
//! collector is SIGKILLed twice in the middle of the snapshot while the seeded all-types
//! workload writes, and restarted from its checkpoint each time. The restart continues the
//! chunks after the stored key (not from scratch), nothing is lost, per-key order is kept (the
//! verifier: 0 missing, extra, different, reorders), and no signal-table row reaches DataHub.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdc_core::checkpoint::Checkpoint;
use cdc_core::snapshot::SnapshotMethod;
use cdc_tests::mariadb::{self, exec, TestServer, REPL_PASSWORD, REPL_USER};
use cdc_tests::verify::{decode, verify_workload, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use oceanbase_emulator::Config as ObConfig;

const BIN: &str = env!("CARGO_BIN_EXE_cdc-collector");
const PROJECT: &str = "wmb_project";
const TOPIC: &str = "wmb_topic";
const ID: &str = "wmb_access_id";
const KEY: &str = "wmb-access-key-Q71";
const CHUNK_ROWS: u64 = 20;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One collector configuration; every spawn appends its stderr to `log`.
struct Collector {
    env: Vec<(&'static str, String)>,
    offsets: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Collector {
    fn new(ob: &TestServer, schema: &str, signal: &str, emu: &EmulatorHandle, dir: &Path) -> Self {
        let offsets = dir.join("data/offsets.json");
        let env = vec![
            ("DATABASE_HOST", ob.host.clone()),
            ("DATABASE_PORT", ob.port.to_string()),
            ("DATABASE_USERNAME", REPL_USER.to_owned()),
            ("DATABASE_PASSWORD", REPL_PASSWORD.to_owned()),
            ("DATABASE_SCHEMA", schema.to_owned()),
            ("DATABASE_FLAVOR", "oceanbase".to_owned()),
            ("DATAHUB_ENDPOINT", emu.endpoint()),
            ("DATAHUB_ACCESS_ID", ID.to_owned()),
            ("DATAHUB_ACCESS_KEY", KEY.to_owned()),
            ("DATAHUB_PROJECT", PROJECT.to_owned()),
            ("DATAHUB_TOPIC", TOPIC.to_owned()),
            ("MONITORING_PORT", free_port().to_string()),
            ("CDC_OFFSET_PATH", offsets.display().to_string()),
            ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
            ("CDC_SERVER_NAME", "wmb".to_owned()),
            ("CDC_BATCH_LINGER_MS", "20".to_owned()),
            ("CDC_HEARTBEAT_MS", "500".to_owned()),
            ("CDC_SNAPSHOT_MODE", "initial".to_owned()),
            ("CDC_SNAPSHOT_CHUNK_ROWS", CHUNK_ROWS.to_string()),
            ("CDC_SNAPSHOT_SIGNAL_TABLE", signal.to_owned()),
            ("RETRY_BACKOFF_MS", "50".to_owned()),
            ("LOG_LEVEL", "INFO".to_owned()),
            ("CDC_LOG_FORMAT", "json".to_owned()),
        ];
        Self { env, offsets, log: dir.join("collector.log"), child: None }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(BIN)
            .env_clear()
            .arg("run")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn cdc-collector");
        self.child = Some(child);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sigkill(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().expect("SIGKILL");
        c.wait().unwrap();
    }

    async fn sigterm(&mut self) -> Option<i32> {
        let mut c = self.child.take().expect("running");
        assert!(Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code();
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn checkpoint(&self) -> Option<Checkpoint> {
        std::fs::read(&self.offsets).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Waits until the stored checkpoint satisfies `cond`.
    async fn wait_checkpoint(&mut self, what: &str, secs: u64, cond: impl Fn(&Checkpoint) -> bool) -> Checkpoint {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(cp) = self.checkpoint().filter(|cp| cond(cp)) {
                return cp;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector exited with {st} waiting for {what}:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "no checkpoint {what} in {secs} s: {:?}", self.checkpoint());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn snapshot_rows(cp: &Checkpoint) -> Option<u64> {
    cp.snapshot.as_ref().map(|p| p.rows())
}

fn events_of(emu: &EmulatorHandle, schema: &str) -> Vec<TopicEvent> {
    decode(emu.all_records(PROJECT, TOPIC)).into_iter().filter(|e| e.event["source"]["db"] == schema).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_a_watermark_snapshot_resumes_after_the_stored_key_and_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let mut cfg = ObConfig::new(db.host.clone(), db.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(200);
    let ob_emu = oceanbase_emulator::Emulator::start(cfg).await.expect("OceanBase emulator starts");
    let ob = TestServer { host: "127.0.0.1".into(), port: ob_emu.local_addr().port() };
    let schema = db.fresh_schema("wmb").await;
    let signal_schema = db.fresh_schema("wmb_sig").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut admin, &[&format!("GRANT CREATE, INSERT ON `{signal_schema}`.* TO '{REPL_USER}'@'{host}'")]).await;
    }
    let mut fill = WorkloadConfig::new(seed ^ 0xf111, schema.clone());
    fill.txn_per_sec = 0.0;
    fill.max_txns = Some(40);
    fill.big_row_fraction = 0.0;
    workload::start(&db, &fill).join().await;
    workload::big_transaction(&mut admin, &schema, 10_000).await.expect("bulk rows");
    let emu = Emulator::start(EmulatorConfig::single(PROJECT, TOPIC, 3, ID, KEY), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("DataHub emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let mut col = Collector::new(&ob, &schema, &format!("{signal_schema}.cdc_signal"), &emu, dir.path());

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
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = loop {
        let report = verify_workload(&mut c, &events_of(&emu, &schema), &schema).await;
        if report.is_clean() || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = col.log_text();
    assert!(report.is_clean(), "{report:#?}\n{log}");
    assert_eq!(col.sigterm().await, Some(0), "{}", col.log_text());

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
    let events = events_of(&emu, &schema);
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
