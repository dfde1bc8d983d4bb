//! ODP dropping its client connections (issue 15): OceanBase Database Proxy closes client
//! sessions when it restarts or is redeployed, without an error packet, in the middle of a
//! binlog dump or of a metadata query. `oceanbase_emulator::Emulator::drop_sessions` does the
//! same to every session at once. The collector (schema history, snapshot mode `never`) must
//! reconnect with backoff, resume at its last commit and deliver the all-types workload
//! exactly: nothing missing, extra, different or reordered per key.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_tests::mariadb::server;
use cdc_tests::pipeline::oceanbase;
use cdc_tests::verify::verify_workload;
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};

use super::oceanbase::{start, wait_caught_up, HUB};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odp_dropping_every_session_mid_stream_loses_and_reorders_nothing() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let (ob_emu, ob) = oceanbase(&db, Duration::from_millis(200)).await;
    let schema = db.fresh_schema("ob_drop").await;
    workload::create_tables(&mut db.admin_conn().await, &schema).await;
    let dh = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let history = dir.path().join("offsets.json.schema_history.jsonl");
    let col = start(&ob, &schema, &dh, &offsets, &history).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while offsets.load().unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no start position stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut wcfg = WorkloadConfig::new(seed, schema.clone());
    wcfg.txn_per_sec = 30.0;
    wcfg.big_row_fraction = 0.0;
    let writers = workload::start(&db, &wcfg);
    let mut drops = 0;
    for _ in 0..4 {
        // Wait until rows flow again after the last drop (the collector reconnected and
        // delivers), then drop every session.
        let before = HUB.events_of(&dh, &schema).len();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while HUB.events_of(&dh, &schema).len() <= before {
            assert!(tokio::time::Instant::now() < deadline, "no event after a drop: the collector did not reconnect");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accepted = ob_emu.sessions_accepted();
        ob_emu.drop_sessions();
        drops += 1;
        // The collector connects again (its binlog dump at least).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ob_emu.sessions_accepted() == accepted {
            assert!(tokio::time::Instant::now() < deadline, "the collector never reconnected after a drop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("ODP dropped every session ({drops}) with {} events delivered", HUB.events_of(&dh, &schema).len());
    }
    let stats = writers.stop().await;
    eprintln!("workload: {stats:?}");
    assert!(stats.committed > 20, "too little written: {stats:?}");
    wait_caught_up(&ob, &db, &schema, &dh).await;
    col.cancel.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(30), col.task).await.expect("the pipeline stops");
    assert!(ended.expect("no panic").is_ok(), "the pipeline ended without an error");
    let events = HUB.events_of(&dh, &schema);
    let mut c = db.admin_conn().await;
    let report = verify_workload(&mut c, &events, &schema).await;
    eprintln!("verifier after {drops} drops: {report}");
    assert!(report.is_clean(), "{report:#?}");
    ob_emu.shutdown();
    dh.shutdown().await;
}
