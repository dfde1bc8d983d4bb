//! Reliability through the real `cdc-collector` binary: the seeded all-types workload
//! (`cdc_tests::workload`) runs while the collector is killed with SIGKILL at random moments,
//! stopped with SIGTERM inside a 100 000-row transaction, loses its offset directory, or has its
//! binlog flushed and purged while stopped, and while MariaDB itself is restarted and the
//! replication connection killed; and SIGKILLs inside a 120 000-row initial snapshot while a
//! workload writes to the rows being read. Every scenario ends with the verifier (`cdc_tests::verify`):
//! 0 missing, 0 extra, 0 different, 0 per-key reorders; duplicates are allowed and printed.
//!
//! Profiles: short by default (CI); `CDC_RELIABILITY_PROFILE=long` (20 kills, longer runs).
//! `CDC_WORKLOAD_SEED` replays the statements and kill timings of a failed run.
//! The purge and restart scenarios use dedicated MariaDB instances (`scripts/test-mariadb
//! --name rel_purge --port 33071`, `--name rel_restart --port 33072`) so no other test sees
//! their binlogs purged or their server go away.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cdc_tests::mariadb::{self, exec, test_mariadb, TestServer, REPL_PASSWORD};
use cdc_tests::pipeline::Hub;
use cdc_tests::verify::verify_workload;
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use common::Collector;
use datahub_emulator::EmulatorHandle;
use mysql_async::prelude::Queryable;
use rand::{Rng, SeedableRng};

const PROJECT: &str = "rel_project";
const TOPIC: &str = "rel_topic";
const ID: &str = "rel_access_id";
const KEY: &str = "rel-access-key-Wd83";
const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

fn long() -> bool {
    std::env::var("CDC_RELIABILITY_PROFILE").is_ok_and(|p| p == "long")
}

/// The collector against `db` and the emulator, stderr in `dir/collector.log`, fast retries.
fn collector(db: &TestServer, schema: &str, emu: &EmulatorHandle, dir: &Path, offsets: PathBuf) -> Collector {
    let mut col = Collector::new(db, schema, &HUB, &emu.endpoint(), "rel", dir, offsets);
    col.set("RETRY_BACKOFF_MS", "50");
    col.set("LOG_LEVEL", "INFO");
    col
}

async fn verify_clean(db: &TestServer, emu: &EmulatorHandle, schema: &str) -> cdc_tests::verify::Report {
    let events = HUB.events_of(emu, schema);
    let mut c = db.admin_conn().await;
    let report = verify_workload(&mut c, &events, schema).await;
    eprintln!("verifier: {report}");
    assert!(report.is_clean(), "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_under_load_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let db = mariadb::server().await;
    let schema = db.fresh_schema("rel_kill").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("data/offsets.json"));
    // The default mode (initial): the tables are empty, so the snapshot is short and a kill
    // before ready may land in it; the rest is crash safety of streaming.
    col.spawn();
    col.wait_ready().await;

    let mut cfg = WorkloadConfig::new(seed, schema.clone());
    cfg.txn_per_sec = 30.0;
    let w = workload::start(&db, &cfg);
    let kills = if long() { 20 } else { 5 };
    let started = Instant::now();
    for k in 0..kills {
        // Random moment: sometimes before the new process is even ready.
        let early = rng.gen_bool(0.25);
        if !early {
            col.wait_ready().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(if early { 0..300 } else { 200..1500 }))).await;
        eprintln!(
            "kill {k} at {:?} (checkpoint {:?})",
            started.elapsed(),
            col.checkpoint().map(|c| c.position().cloned().unwrap())
        );
        col.sigkill();
        col.spawn();
    }
    let stats = w.stop().await;
    eprintln!("workload: {stats:?}");
    col.wait_ready().await;
    col.wait_caught_up(&db, 120).await;
    let (code, _) = col.sigterm().await;
    assert_eq!(code, Some(0), "{}", col.log_text());
    assert!(stats.committed > 20, "too little written: {stats:?}");
    let report = verify_clean(&db, &emu, &schema).await;
    eprintln!("{kills} SIGKILLs, {} committed transactions, {} duplicates", stats.committed, report.duplicates);
    let log = col.log_text();
    assert!(!log.contains(KEY) && !log.contains(REPL_PASSWORD), "secret in logs");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_inside_a_100k_row_transaction_exits_0_in_grace_and_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let schema = db.fresh_schema("rel_term").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("offsets.json"));
    let grace = Duration::from_secs(20);
    col.set("CDC_SHUTDOWN_GRACE_MS", &grace.as_millis().to_string());
    col.spawn();
    col.wait_ready().await;
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.w_bulk VALUES (-1, 0, 'before')")]).await;
    col.wait_caught_up(&db, 60).await;
    let before = col.checkpoint().expect("checkpoint stored");

    workload::big_transaction(&mut admin, &schema, 100_000).await.expect("large transaction");
    // SIGTERM once part of the transaction has reached DataHub (so the drain stops inside it).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = emu.all_records(PROJECT, TOPIC).len();
        if n > 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no event of the large transaction arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let arrived = emu.all_records(PROJECT, TOPIC).len();
    let (code, took) = col.sigterm().await;
    let log = col.log_text();
    assert_eq!(code, Some(0), "{log}");
    assert!(took < grace, "exit took {took:?}, grace is {grace:?}");
    let after = col.checkpoint().expect("checkpoint kept");
    eprintln!(
        "SIGTERM with {arrived} of 100001 events delivered: exit 0 in {took:?}; checkpoint {} → {}",
        before.position().cloned().unwrap(),
        after.position().cloned().unwrap()
    );
    // A checkpoint is a transaction boundary: either still before the transaction, or after it
    // (when the drain finished it). Other tests' transactions on the shared server (filtered
    // out here) may move it between `before` and the large transaction, never into it.
    let all = emu.all_records(PROJECT, TOPIC).len();
    if all < 100_001 {
        let at = |file: &str, pos: u64| (file.rsplit('.').next().and_then(|n| n.parse::<u64>().ok()), pos);
        let big_start = HUB
            .events_of(&emu, &schema)
            .iter()
            .filter(|e| e.table().ends_with(".w_bulk") && e.event["after"]["id"] != -1)
            .map(|e| {
                at(
                    e.event["source"]["file"].as_str().unwrap_or_default(),
                    e.event["source"]["pos"].as_u64().unwrap_or(0),
                )
            })
            .min()
            .expect("events of the large transaction arrived");
        let (b, a) = (before.position().cloned().unwrap(), after.position().cloned().unwrap());
        assert!(at(&a.file, a.pos) >= at(&b.file, b.pos), "checkpoint moved back: {b} → {a}");
        assert!(
            at(&a.file, a.pos) < big_start,
            "checkpoint {a} moved into the unfinished transaction (its first rows event at {big_start:?})"
        );
    }

    col.spawn();
    col.wait_ready().await;
    col.wait_caught_up(&db, 180).await;
    let (code, _) = col.sigterm().await;
    assert_eq!(code, Some(0), "{}", col.log_text());
    let events = HUB.events_of(&emu, &schema);
    assert!(events.len() >= 100_001, "{} events", events.len());
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_offset_directory_stops_the_collector_and_a_restart_loses_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let schema = db.fresh_schema("rel_offs").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();

    // From the start: the offset path lies under a regular file (mkdir cannot succeed, even as
    // root): the collector refuses to run and says which path.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), blocker.join("offsets.json"));
    col.spawn();
    let code = col.wait_exit(60).await;
    let log = col.log_text();
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("not-a-dir"), "the message names the offset path:\n{log}");
    eprintln!("unwritable at start: exit {code:?}");

    // While running: the offset directory turns into a regular file.
    let offsets_dir = dir.path().join("offsets");
    let mut col = collector(&db, &schema, &emu, dir.path(), offsets_dir.join("offsets.json"));
    std::fs::write(&col.log, b"").unwrap();
    col.spawn();
    col.wait_ready().await;
    let mut cfg = WorkloadConfig::new(seed, schema.clone());
    cfg.txn_per_sec = 20.0;
    let w = workload::start(&db, &cfg);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let saved = std::fs::read(&col.offsets).expect("a checkpoint was stored");
    std::fs::remove_dir_all(&offsets_dir).unwrap();
    std::fs::write(&offsets_dir, b"in the way").unwrap();
    let code = col.wait_exit(60).await;
    let log = col.log_text();
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("checkpoint store failed, stopped reading"), "{log}");
    let delivered_at_stop = emu.all_records(PROJECT, TOPIC).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emu.all_records(PROJECT, TOPIC).len(), delivered_at_stop, "nothing is shipped after the stop");
    let stats = w.stop().await;
    eprintln!("offsets unwritable while running: exit {code:?}, workload {stats:?}");

    // The operator repairs the directory (with the last checkpoint the collector had stored).
    std::fs::remove_file(&offsets_dir).unwrap();
    std::fs::create_dir(&offsets_dir).unwrap();
    std::fs::write(&col.offsets, saved).unwrap();
    col.spawn();
    col.wait_ready().await;
    col.wait_caught_up(&db, 120).await;
    let (code, _) = col.sigterm().await;
    assert_eq!(code, Some(0), "{}", col.log_text());
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_keeps_everything_and_purge_of_the_resume_file_is_a_clear_fatal_error() {
    let db = tokio::task::spawn_blocking(|| TestServer::dedicated("rel_purge", 33071)).await.unwrap();
    let schema = db.fresh_schema("rel_purge").await;
    let mut admin = db.admin_conn().await;
    workload::create_tables(&mut admin, &schema).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("offsets.json"));
    col.spawn();
    col.wait_ready().await;
    let ins = |id: i64| format!("INSERT INTO `{schema}`.w_bulk VALUES ({id}, {id}, 'row {id}')");
    exec(&mut admin, &[&ins(1), &ins(2)]).await;
    col.wait_caught_up(&db, 60).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());

    // Stopped: rows, FLUSH BINARY LOGS, rows. The restart reads across the rotation.
    exec(&mut admin, &[&ins(3), "FLUSH BINARY LOGS", &ins(4), "FLUSH BINARY LOGS"]).await;
    col.spawn();
    col.wait_ready().await;
    exec(&mut admin, &[&ins(5)]).await;
    col.wait_caught_up(&db, 60).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    verify_clean(&db, &emu, &schema).await;
    let resume = col.checkpoint().expect("checkpoint").position().cloned().unwrap();

    // Stopped: rows, then the file holding the resume position is purged.
    exec(&mut admin, &[&ins(6), "FLUSH BINARY LOGS", &ins(7)]).await;
    let row: mysql_async::Row = admin.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
    let current: String = row.get(0).unwrap();
    exec(&mut admin, &[&format!("PURGE BINARY LOGS TO '{current}'")]).await;
    let before = HUB.events_of(&emu, &schema).len();
    std::fs::write(&col.log, b"").unwrap();
    col.spawn();
    // Never ready, then a fatal exit naming the position and what to do.
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(st) = col.child.as_mut().unwrap().try_wait().unwrap() {
            col.child = None;
            break st.code();
        }
        if let Some((code, _)) = col.get("/health/ready").await {
            assert_eq!(code, 503, "ready although the resume position is purged");
        }
        assert!(Instant::now() < deadline, "still running with a purged position:\n{}", col.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = col.log_text();
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains(&format!("binlog position {resume} is no longer on the server")), "{log}");
    assert!(log.contains(&format!("oldest available: {current}")), "{log}");
    assert!(log.contains("re-snapshot the tables"), "{log}");
    assert_eq!(
        HUB.events_of(&emu, &schema).len(),
        before,
        "no silent skip: nothing after the purged position was sent"
    );
    assert_eq!(col.checkpoint().unwrap().position().cloned().unwrap(), resume, "the checkpoint is left as it was");

    // With CDC_SNAPSHOT_MODE=when_needed the same restart snapshots the captured tables again
    // instead of stopping: rows 6 and 7, whose binlog is gone, arrive as snapshot reads.
    col.set("CDC_SNAPSHOT_MODE", "when_needed");
    std::fs::write(&col.log, b"").unwrap();
    col.spawn();
    col.wait_ready().await;
    exec(&mut admin, &[&ins(8)]).await;
    col.wait_caught_up(&db, 60).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    assert!(col.log_text().contains("snapshotting the captured tables again"), "{}", col.log_text());
    let events = HUB.events_of(&emu, &schema);
    assert!(events.iter().any(|e| e.event["op"] == "r" && e.event["after"]["id"] == 7), "row 7 re-snapshotted");
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_inside_the_initial_snapshot_under_writes_resume_it_after_the_last_acknowledged_chunk_in_key_order() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let schema = db.fresh_schema("rel_snap").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    // Tables filled before the collector ever ran: 120,000 rows in w_bulk plus a seeded mix.
    let bulk = 120_000usize;
    let mut fill = WorkloadConfig::burst(seed, schema.clone(), 150);
    fill.big_txn_rows = Some(bulk);
    workload::start(&db, &fill).join().await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("offsets.json"));
    col.set("CDC_SNAPSHOT_CHUNK_ROWS", "300");
    col.set("CDC_BATCH_MAX_RECORDS", "300");
    // Every write request waits 40 ms, so the snapshot takes seconds and the checkpoints the
    // collector stores once a second land inside w_bulk (on an idle machine it reads 120,000
    // rows in under a second).
    for op in [datahub_emulator::Op::PutRecords, datahub_emulator::Op::PutRecordsByShard] {
        emu.faults().add(datahub_emulator::FaultRule {
            op: Some(op),
            kind: datahub_emulator::FaultKind::Delay { ms: 40 },
            times: datahub_emulator::FaultTimes::Fraction(1.0),
        });
    }
    // A concurrent workload on the rows being snapshotted for the whole time of the kills
    // (inserts, updates, primary-key changes, deletes in every table, w_bulk's rows included):
    // each restart reads the remaining rows at a later point than the stored one, so it must
    // deliver the binlog in between first, or a key changed in between shows older states
    // after its snapshot row (the verifier's per-key order check).
    let mut live = WorkloadConfig::new(seed ^ 0x11, schema.clone());
    live.txn_per_sec = 30.0;
    live.big_row_fraction = 0.0;
    let live = workload::start(&db, &live);
    let mut at = Vec::new();
    for k in 0..3u64 {
        col.spawn();
        // SIGKILL at the first stored checkpoint inside w_bulk that is further than the last
        // kill's (checkpoints are stored once a second, so each run advances by a few chunks).
        let want = at.last().map_or(1, |r| r + 1);
        let deadline = Instant::now() + Duration::from_secs(120);
        let rows = loop {
            let inside = col.checkpoint().and_then(|cp| cp.snapshot).and_then(|p| {
                p.tables.iter().find(|t| t.table.table == "w_bulk").and_then(|t| match &t.state {
                    cdc_core::snapshot::TableState::InProgress { rows, .. } if *rows >= want => Some(*rows),
                    _ => None,
                })
            });
            if let Some(rows) = inside {
                break rows;
            }
            assert!(Instant::now() < deadline, "round {k}: never inside w_bulk:\n{}", col.log_text());
            tokio::time::sleep(Duration::from_millis(3 + 11 * k)).await;
        };
        col.sigkill();
        eprintln!("SIGKILL {k}: checkpoint inside w_bulk after {rows} rows");
        at.push(rows);
    }
    let live = live.stop().await;
    eprintln!("workload during the snapshot: {live:?}");
    assert!(live.committed > 20, "too little written during the snapshot: {live:?}");
    emu.faults().clear();
    col.spawn();
    col.wait_ready().await;
    // Then streaming: a workload on the snapshotted rows, everything acknowledged.
    let wcfg = WorkloadConfig::burst(seed ^ 0x5a, schema.clone(), 80);
    workload::start(&db, &wcfg).join().await;
    col.wait_caught_up(&db, 120).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    assert!(
        col.log_text().contains("delivering the binlog changes in between first"),
        "no restart caught up with the binlog before reading at its later point:\n{}",
        col.log_text()
    );
    let events = HUB.events_of(&emu, &schema);
    let bulk_reads = events.iter().filter(|e| e.event["op"] == "r" && e.table().ends_with(".w_bulk")).count();
    assert!(bulk_reads < bulk + bulk / 2, "w_bulk read {bulk_reads} times for {bulk} rows: a restart began again");
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restarts_and_killed_replication_connections_lose_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = tokio::task::spawn_blocking(|| TestServer::dedicated("rel_restart", 33072)).await.unwrap();
    let port = db.port;
    let schema = db.fresh_schema("rel_restart").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("offsets.json"));
    col.spawn();
    col.wait_ready().await;
    let mut cfg = WorkloadConfig::new(seed, schema.clone());
    cfg.txn_per_sec = 25.0;
    let w = workload::start(&db, &cfg);
    let rounds = if long() { 5 } else { 2 };
    for r in 0..rounds {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // KILL the replication connection (the Binlog Dump thread).
        let mut admin = db.admin_conn().await;
        let ids: Vec<u64> = admin
            .query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
            .await
            .unwrap();
        assert!(!ids.is_empty(), "no dump thread to kill");
        for id in ids {
            let _ = admin.query_drop(format!("KILL {id}")).await;
        }
        drop(admin);
        eprintln!("round {r}: replication connection killed");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        col.wait_ready().await;
        // Restart the server mid-stream (clean shutdown, then start).
        tokio::task::spawn_blocking(move || {
            test_mariadb(&["stop", "--name", "rel_restart", "--port", &port.to_string()])
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(move || {
            test_mariadb(&["start", "--name", "rel_restart", "--port", &port.to_string()])
        })
        .await
        .unwrap();
        eprintln!("round {r}: server restarted");
        col.wait_ready().await;
    }
    let stats = w.stop().await;
    eprintln!("workload: {stats:?}");
    col.wait_caught_up(&db, 120).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}

/// The distinct `file:pos` at which `table`'s snapshot rows (`op: r`) were read: one per
/// snapshot that read it.
fn read_points(events: &[cdc_tests::verify::TopicEvent], table: &str) -> std::collections::BTreeSet<String> {
    events
        .iter()
        .filter(|e| e.event["op"] == "r" && e.table().ends_with(&format!(".{table}")))
        .map(|e| format!("{}:{}", e.event["source"]["file"], e.event["source"]["pos"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_added_to_the_captured_tables_or_marked_by_the_snapshot_command_are_snapshotted_at_the_next_start() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = mariadb::server().await;
    let schema = db.fresh_schema("rel_add").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    // Rows in every table before the collector first starts.
    let fill = WorkloadConfig::burst(seed, schema.clone(), 150);
    workload::start(&db, &fill).join().await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&db, &schema, &emu, dir.path(), dir.path().join("offsets.json"));
    // First run: two of the five tables captured (snapshot, then stream) while a workload
    // writes to all five.
    col.set("DATABASE_TABLES", "w_nums,w_bulk");
    col.spawn();
    col.wait_ready().await;
    let mut cfg = WorkloadConfig::new(seed ^ 0x22, schema.clone());
    cfg.txn_per_sec = 30.0;
    cfg.big_row_fraction = 0.0;
    let w = workload::start(&db, &cfg);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    // Second run: every table captured, the writes going on. The three added tables are
    // snapshotted (after the binlog up to their point), the two others only stream.
    col.set("DATABASE_TABLES", "*");
    col.spawn();
    col.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = w.stop().await;
    eprintln!("workload: {stats:?}");
    assert!(stats.committed > 20, "too little written: {stats:?}");
    col.wait_caught_up(&db, 120).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    let log = col.log_text();
    assert!(log.contains("Tables added to the captured tables since the last snapshot"), "{log}");
    let events = HUB.events_of(&emu, &schema);
    let points = |t: &str| read_points(&events, t);
    assert_eq!(points("w_nums").len(), 1, "w_nums is snapshotted once, by the first run: {:?}", points("w_nums"));
    assert!(points("w_bulk").len() <= 1, "w_bulk is not snapshotted again: {:?}", points("w_bulk"));
    for t in ["w_time", "w_text", "w_bin"] {
        let p = points(t);
        assert_eq!(p.len(), 1, "{t}: read by the second run's snapshot: {p:?}");
        assert_ne!(p, points("w_nums"), "{t} read at the second run's point");
    }
    verify_clean(&db, &emu, &schema).await;

    // Repair after a downstream loss: `cdc-collector snapshot db.w_nums` marks w_nums for a new
    // snapshot. Refused while the collector runs (it would overwrite the checkpoint), done
    // while it is stopped; the next start reads w_nums again while the others stream.
    let target = format!("{schema}.w_nums");
    col.spawn();
    col.wait_ready().await;
    let o = col.command(&["snapshot", &target]);
    assert_eq!(o.status.code(), Some(1), "refused while running: {o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("stop the collector first"), "{o:?}");
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    let o = col.command(&["snapshot", &target]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("the next start snapshots"), "{o:?}");
    col.spawn();
    col.wait_ready().await;
    let more = WorkloadConfig::burst(seed ^ 0x33, schema.clone(), 40);
    workload::start(&db, &more).join().await;
    col.wait_caught_up(&db, 120).await;
    assert_eq!(col.sigterm().await.0, Some(0), "{}", col.log_text());
    let events = HUB.events_of(&emu, &schema);
    let points = |t: &str| read_points(&events, t);
    assert_eq!(points("w_nums").len(), 2, "w_nums read again at a new point: {:?}", points("w_nums"));
    assert_eq!(points("w_time").len(), 1, "w_time not read again: {:?}", points("w_time"));
    verify_clean(&db, &emu, &schema).await;
    emu.shutdown().await;
}
