//! End to end: rows written to the real MariaDB arrive in a DataHub topic (the in-process
//! emulator) through the whole pipeline — binlog source, decoding, batching, the signed DataHub
//! producer, checkpoints — as contract JSON, complete, in order per key. Then the same under
//! stress: restarts (graceful and crash-like), and a DataHub outage.

use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::datahub::DataHubSink;
use cdc_core::pipeline::PipelineConfig;
use cdc_core::position::BinlogPosition;
use cdc_core::source::BinlogSource;
use cdc_core::status::{StageState, Status};
use cdc_tests::mariadb::{exec, server, TestServer};
use cdc_tests::pipeline::{binlog_end, order, streaming_config, Hub, Running};
use cdc_tests::verify::{verify_table, TopicEvent};
use datahub_emulator::{EmulatorHandle, Op as EmuOp};
use mysql_async::prelude::Queryable;

const PROJECT: &str = "cdc_project";
const TOPIC: &str = "cdc_events";
const ID: &str = "e2e_id";
const KEY: &str = "e2e_secret_key";

const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

/// Starts the pipeline from `schema` to the emulator's topic; returns once it is ready.
async fn start_pipeline(
    db: &TestServer,
    schema: &str,
    emu: &EmulatorHandle,
    offsets: &FileOffsetStore,
    pcfg: PipelineConfig,
) -> Running {
    let mut scfg = db.source_config("e2e");
    scfg.schemas = vec![schema.to_owned()];
    let status = Status::new();
    let source = BinlogSource::new(scfg, status.clone());
    let mut dcfg = HUB.sink_config(emu);
    dcfg.request_timeout_ms = 5_000;
    let sink = DataHubSink::connect(dcfg).await.expect("DataHub sink connects");
    let r = Running::spawn(source, sink, offsets, pcfg, status);
    r.wait_ready(300).await;
    r
}

/// Waits until the checkpoint reaches the server's current binlog end (everything written so
/// far is acknowledged), or panics after `secs`.
async fn wait_caught_up(db: &TestServer, offsets: &FileOffsetStore, secs: u64) {
    let end = binlog_end(db).await;
    let target = order(&end);
    for _ in 0..secs * 20 {
        if let Some(cp) = offsets.load().unwrap() {
            if order(&cp.position().cloned().unwrap()) >= target {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("checkpoint {:?} never reached {end}", offsets.load().unwrap());
}

async fn create_tables(db: &TestServer, schema: &str) -> mysql_async::Conn {
    let mut c = db.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{schema}`"),
            "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, balance DECIMAL(12,2), \
             updated DATETIME(3), note TEXT NULL) CHARSET utf8mb4",
            "CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2), \
             status VARCHAR(16), KEY (customer_id)) CHARSET utf8mb4",
        ],
    )
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_updates_deletes_on_two_tables_arrive_as_contract_json_in_order() {
    let db = server().await;
    let schema = db.fresh_schema("e2e_basic").await;
    let mut c = create_tables(&db, &schema).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let run = start_pipeline(&db, &schema, &emu, &offsets, streaming_config()).await;

    exec(
        &mut c,
        &[
            "INSERT INTO customers VALUES (1,'Ada',10.50,'2024-02-29 23:59:59.123',NULL),(2,'李雷 😀',-3.00,NULL,'vip')",
            "INSERT INTO orders VALUES (100,1,19.99,'new'),(101,2,5.00,'new'),(18446744073709551615,1,0.01,'max')",
            "UPDATE orders SET status='paid' WHERE id=100",
            "UPDATE customers SET balance=balance+1, note='x' WHERE id IN (1,2)",
            "UPDATE orders SET id=102 WHERE id=101",
            "DELETE FROM orders WHERE id=18446744073709551615",
            "BEGIN",
            "INSERT INTO customers VALUES (3,'rolled back',0,NULL,NULL)",
            "ROLLBACK",
            "BEGIN",
            "INSERT INTO customers VALUES (4,'Zed',1,NULL,NULL)",
            "UPDATE customers SET name='Zoe' WHERE id=4",
            "DELETE FROM customers WHERE id=4",
            "COMMIT",
        ],
    )
    .await;
    wait_caught_up(&db, &offsets, 30).await;
    run.stop(Duration::from_secs(30)).await;

    let events = HUB.events_of(&emu, &schema);
    // 2 + 3 inserts, 1 + 2 updates, PK change = d + c, 1 delete, a transaction of 3 = 14 events.
    assert_eq!(events.len(), 14, "events: {:#?}", events.iter().map(|e| &e.event).collect::<Vec<_>>());
    let first_customer =
        events.iter().find(|e| e.event["op"] == "c" && e.event["after"]["id"] == 2).expect("insert of customer 2");
    // The whole envelope of one event, exactly (ts_ms and positions vary; checked separately).
    let mut ev = first_customer.event.clone();
    let src = ev["source"].as_object_mut().unwrap();
    assert!(src.remove("pos").unwrap().as_u64().unwrap() > 4);
    assert!(src.remove("file").unwrap().as_str().unwrap().starts_with("binlog."));
    assert!(src.remove("ts_ms").unwrap().as_i64().unwrap() > 1_700_000_000_000);
    assert!(src.remove("gtid").unwrap().as_str().unwrap().starts_with("0-1-"), "MariaDB GTID");
    assert!(src.remove("server_id").unwrap().as_u64().unwrap() > 0);
    let obj = ev.as_object_mut().unwrap();
    assert!(obj.remove("ts_ms").unwrap().as_i64().unwrap() > 1_700_000_000_000);
    obj.remove("transaction");
    assert_eq!(
        ev,
        serde_json::json!({
            "before": null,
            "after": {"id": 2, "name": "李雷 😀", "balance": "-3.00", "updated": null, "note": "vip"},
            "source": {"connector": "mysql", "contract": 2, "name": "e2e", "db": schema, "table": "customers", "row": 1, "snapshot": "false"},
            "op": "c"
        })
    );
    assert_eq!(first_customer.attributes.get("op").map(String::as_str), Some("c"));
    assert_eq!(first_customer.attributes.get("db").map(String::as_str), Some(schema.as_str()));
    assert_eq!(first_customer.attributes.get("table").map(String::as_str), Some("customers"));

    // A PK change is a delete of the old key and a create of the new one, from one row.
    let del =
        events.iter().find(|e| e.event["op"] == "d" && e.event["before"]["id"] == 101).expect("delete of key 101");
    let cre = events.iter().find(|e| e.event["op"] == "c" && e.event["after"]["id"] == 102).expect("create of key 102");
    assert_eq!(del.id().1, cre.id().1, "both come from the same rows event");
    assert_eq!(del.event["before"]["status"], "new");
    assert_eq!(cre.event["after"]["customer_id"], 2);
    assert!(events.iter().all(|e| e.event["after"]["name"] != "rolled back"), "rolled back rows never arrive");

    let mut c = db.admin_conn().await;
    for (table, key) in [("customers", "id"), ("orders", "id")] {
        let report = verify_table(&mut c, &events, &schema, table, &[key]).await;
        assert!(report.is_clean(), "{table}: {report}");
        assert_eq!(report.duplicates, 0, "a clean run has no duplicates");
    }
    emu.shutdown().await;
}

/// Writes `n` transactions of mixed changes on 50 customer keys of its own (`from..from+50`, so
/// concurrent workloads do not deadlock each other) and new `orders` rows.
async fn workload(db: TestServer, schema: String, from: u64, n: u64) {
    let mut c = db.admin_conn().await;
    c.query_drop(format!("USE `{schema}`")).await.unwrap();
    for i in from..from + n {
        let k = from + i % 50;
        let stmts = [
            format!("INSERT INTO customers VALUES ({k},'c{i}',{i}.25,NOW(3),NULL) ON DUPLICATE KEY UPDATE name='c{i}', balance={i}.25"),
            format!("INSERT INTO orders VALUES ({i},{k},{i}.10,'new')"),
            format!("UPDATE orders SET status='s{i}' WHERE customer_id={k}"),
            if i % 7 == 0 { format!("DELETE FROM customers WHERE id={}", from + (i + 1) % 50) } else { "DO 0".into() },
        ];
        // Concurrent workloads can deadlock (InnoDB error 1213); like any application, retry
        // the whole transaction, which the server rolled back.
        'txn: for attempt in 0.. {
            c.query_drop("BEGIN").await.unwrap();
            for s in &stmts {
                match c.query_drop(s.as_str()).await {
                    Ok(()) => {}
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 20 => {
                        c.query_drop("ROLLBACK").await.unwrap();
                        continue 'txn;
                    }
                    Err(e) => panic!("{s}: {e}"),
                }
            }
            c.query_drop("COMMIT").await.unwrap();
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_mid_stream_graceful_and_crash_lose_nothing() {
    let db = server().await;
    let schema = db.fresh_schema("e2e_restart").await;
    create_tables(&db, &schema).await;
    let emu = HUB.start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));

    // Round 1: graceful stop while the workload is running.
    let run = start_pipeline(&db, &schema, &emu, &offsets, streaming_config()).await;
    let w = tokio::spawn(workload(db.clone(), schema.clone(), 0, 200));
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.stop(Duration::from_secs(30)).await;
    // Round 2: resume from the stored checkpoint, then crash (abort) mid-stream. Checkpoints are
    // rare in this round, so the crash certainly leaves acknowledged events after the last
    // checkpoint: round 3 must replay them (duplicates), never skip anything.
    let rare = PipelineConfig { checkpoint_interval_ms: 600_000, ..streaming_config() };
    let run = start_pipeline(&db, &schema, &emu, &offsets, rare).await;
    let acked_before = emu.all_records(PROJECT, TOPIC).len();
    // Writes of its own, in case round 1's workload already finished.
    workload(db.clone(), schema.clone(), 1000, 20).await;
    for _ in 0..200 {
        if emu.all_records(PROJECT, TOPIC).len() > acked_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.kill().await;
    w.await.unwrap();
    // Round 3: more writes while nothing runs, then resume and catch up.
    workload(db.clone(), schema.clone(), 200, 50).await;
    let run = start_pipeline(&db, &schema, &emu, &offsets, streaming_config()).await;
    wait_caught_up(&db, &offsets, 60).await;
    run.stop(Duration::from_secs(30)).await;

    let events = HUB.events_of(&emu, &schema);
    let mut c = db.admin_conn().await;
    for table in ["customers", "orders"] {
        let report = verify_table(&mut c, &events, &schema, table, &["id"]).await;
        assert!(report.is_clean(), "{table}: {report}");
        eprintln!("{table}: {report}");
        assert!(report.duplicates > 0, "the crash round was replayed: {report}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datahub_outage_pauses_the_pipeline_then_it_catches_up() {
    let db = server().await;
    let schema = db.fresh_schema("e2e_outage").await;
    let mut c = create_tables(&db, &schema).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let run = start_pipeline(&db, &schema, &emu, &offsets, streaming_config()).await;
    exec(&mut c, &["INSERT INTO customers VALUES (1,'before outage',1,NULL,NULL)"]).await;
    wait_caught_up(&db, &offsets, 30).await;
    let before = offsets.load().unwrap().unwrap();

    // DataHub answers every write with 503 ServiceUnavailable.
    for op in [EmuOp::PutRecords, EmuOp::PutRecordsByShard] {
        emu.faults().fail_always(Some(op), "ServiceUnavailable", 503);
    }
    workload(db.clone(), schema.clone(), 0, 30).await;
    let mut saw_not_ready = None;
    for _ in 0..200 {
        if let Err(reason) = run.status.snapshot().readiness() {
            saw_not_ready = Some(reason);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason = saw_not_ready.expect("readiness turns false during the outage");
    assert!(reason.contains("sink"), "{reason}");
    assert!(matches!(run.status.snapshot().sink, StageState::Retrying(_)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Other tests' transactions (filtered out here) may still move the checkpoint, but never
    // past the first event that DataHub has not acknowledged.
    let during = offsets.load().unwrap().unwrap();

    emu.faults().clear();
    wait_caught_up(&db, &offsets, 60).await;
    run.wait_ready(300).await;
    run.stop(Duration::from_secs(30)).await;
    let events = HUB.events_of(&emu, &schema);
    let first_unacked = events
        .iter()
        .filter(|e| e.event["after"]["name"] != "before outage")
        .map(|e| BinlogPosition::new(e.event["source"]["file"].as_str().unwrap(), e.id().1))
        .min_by_key(order)
        .expect("workload events arrived");
    assert!(
        order(&during.position().cloned().unwrap()) <= order(&first_unacked),
        "checkpoint {} passed the first unacknowledged event {first_unacked}",
        during.position().cloned().unwrap()
    );
    assert!(order(&during.position().cloned().unwrap()) >= order(&before.position().cloned().unwrap()));
    let mut c = db.admin_conn().await;
    for table in ["customers", "orders"] {
        let report = verify_table(&mut c, &events, &schema, table, &["id"]).await;
        assert!(report.is_clean(), "{table}: {report}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_read_back_with_pydatahub_equals_the_database() {
    let db = server().await;
    let schema = db.fresh_schema("e2e_pydatahub").await;
    create_tables(&db, &schema).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let run = start_pipeline(&db, &schema, &emu, &offsets, streaming_config()).await;
    workload(db.clone(), schema.clone(), 0, 120).await;
    wait_caught_up(&db, &offsets, 60).await;
    run.stop(Duration::from_secs(30)).await;

    // The official SDK reads the topic (GetCursor + GetRecords on every shard).
    let endpoint = emu.endpoint();
    let read = tokio::task::spawn_blocking(move || cdc_tests::pydatahub::read_back(&endpoint, ID, KEY, PROJECT, TOPIC))
        .await
        .unwrap();
    let read: Vec<TopicEvent> = read.into_iter().filter(|e| e.event["source"]["db"] == schema).collect();
    let stored = HUB.events_of(&emu, &schema);
    assert_eq!(read.len(), stored.len(), "pydatahub reads every stored record");
    for (r, s) in read.iter().zip(&stored) {
        assert_eq!((&r.shard, r.sequence, &r.event, &r.attributes), (&s.shard, s.sequence, &s.event, &s.attributes));
    }
    let mut c = db.admin_conn().await;
    for table in ["customers", "orders"] {
        let report = verify_table(&mut c, &read, &schema, table, &["id"]).await;
        assert!(report.is_clean(), "{table} as read by pydatahub: {report}");
        assert!(report.events > 300, "{report}");
    }
    emu.shutdown().await;
}
