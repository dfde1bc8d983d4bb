//! Row-change shapes against the real MariaDB: INSERT/UPDATE/DELETE, a primary-key change
//! (d then c), multi-row rows events, rolled-back transactions, transaction metadata and
//! commit positions.

use std::time::Duration;

use cdc_core::event::{ChangeEvent, Op};
use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{collect_until_commit, exec, server, RunningSource};

async fn setup(prefix: &str) -> (cdc_tests::mariadb::TestServer, String, RunningSource, mysql_async::Conn) {
    let srv = server().await;
    let (db, src, mut c) = srv.capture_fresh_schema(prefix).await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT)"]).await;
    (srv, db, src, c)
}

fn events(msgs: &[SourceMessage]) -> Vec<&ChangeEvent> {
    msgs.iter().flat_map(|m| m.events()).collect()
}

fn json(e: &ChangeEvent) -> serde_json::Value {
    serde_json::from_slice(&e.to_json_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_update_delete_have_the_contract_shapes() {
    let (_srv, db, mut src, mut c) = setup("dml").await;
    exec(
        &mut c,
        &["INSERT INTO t VALUES (1, 'a', 10)", "UPDATE t SET v = 'b' WHERE id = 1", "DELETE FROM t WHERE id = 1"],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 3, Duration::from_secs(20)).await;
    let evs = events(&msgs);
    assert_eq!(evs.len(), 3);
    let ins = json(evs[0]);
    assert_eq!(ins["op"], "c");
    assert_eq!(ins["before"], serde_json::Value::Null);
    assert_eq!(ins["after"], serde_json::json!({"id": 1, "v": "a", "n": 10}));
    assert_eq!(ins["source"]["connector"], "mysql");
    assert_eq!(ins["source"]["name"], "dml");
    assert_eq!(ins["source"]["db"], db.as_str());
    assert_eq!(ins["source"]["table"], "t");
    assert_eq!(ins["source"]["snapshot"], "false");
    assert_eq!(ins["source"]["server_id"], 1);
    let upd = json(evs[1]);
    assert_eq!(upd["op"], "u");
    assert_eq!(upd["before"], serde_json::json!({"id": 1, "v": "a", "n": 10}));
    assert_eq!(upd["after"], serde_json::json!({"id": 1, "v": "b", "n": 10}));
    let del = json(evs[2]);
    assert_eq!(del["op"], "d");
    assert_eq!(del["before"], serde_json::json!({"id": 1, "v": "b", "n": 10}));
    assert_eq!(del["after"], serde_json::Value::Null);
    // Autocommit: each event is its own transaction, followed by a Commit (before the next
    // event) whose position is past the event's rows event. Other tests' transactions on the
    // same server add Commits of their own in between, so only the order is checked.
    let mut pending: Option<u64> = None;
    let mut commits_after_events = 0;
    for m in &msgs {
        match m {
            SourceMessage::Events(v) => {
                // Autocommit single-row statements: one rows event, one row, per transaction.
                assert!(pending.is_none(), "event before the previous transaction committed");
                assert_eq!(v.len(), 1, "one row per autocommit INSERT");
                pending = Some(v[0].source.pos);
            }
            SourceMessage::Commit(cp) => {
                if let Some(p) = pending.take() {
                    assert!(
                        cp.position().cloned().unwrap().pos > p,
                        "commit {} after event at {p}",
                        cp.position().cloned().unwrap()
                    );
                    let g = &cp.gtid_set().expect("MariaDB GTID state").text;
                    assert!(g.contains('-'), "{g}");
                    commits_after_events += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(commits_after_events, 3);
    assert_ne!(evs[0].transaction.as_ref().unwrap().id, evs[1].transaction.as_ref().unwrap().id);
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_key_change_is_a_delete_then_a_create() {
    let (_srv, _db, mut src, mut c) = setup("pkchg").await;
    exec(&mut c, &["INSERT INTO t VALUES (1, 'a', 10)", "UPDATE t SET id = 2 WHERE id = 1"]).await;
    let msgs = collect_until_commit(&mut src.rx, 3, Duration::from_secs(20)).await;
    let evs = events(&msgs);
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[1].op, Op::Delete);
    assert_eq!(json(evs[1])["before"], serde_json::json!({"id": 1, "v": "a", "n": 10}));
    assert_eq!(evs[2].op, Op::Create);
    assert_eq!(json(evs[2])["after"], serde_json::json!({"id": 2, "v": "a", "n": 10}));
    assert_eq!(evs[1].source, evs[2].source, "same source block, told apart by op");
    assert_ne!(evs[1].partition_key(), evs[2].partition_key());
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_row_statement_numbers_rows_and_orders_the_transaction() {
    let (_srv, _db, mut src, mut c) = setup("multi").await;
    exec(
        &mut c,
        &[
            "CREATE TABLE u (id INT PRIMARY KEY)",
            "BEGIN",
            "INSERT INTO t VALUES (1,'a',1),(2,'b',2),(3,'c',3),(4,'d',4)",
            "INSERT INTO u VALUES (7)",
            "UPDATE t SET n = n + 1",
            "COMMIT",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 9, Duration::from_secs(20)).await;
    let evs = events(&msgs);
    assert_eq!(evs.len(), 9);
    let rows: Vec<u32> = evs[..4].iter().map(|e| e.source.row).collect();
    assert_eq!(rows, vec![0, 1, 2, 3]);
    assert!(evs[..4].iter().all(|e| e.source.pos == evs[0].source.pos), "one rows event");
    let ids: Vec<i64> = evs[..4]
        .iter()
        .map(|e| match e.after.as_ref().unwrap().get("id").unwrap() {
            cdc_core::event::Value::Int(i) => *i,
            v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    let tx: Vec<_> = evs.iter().map(|e| e.transaction.clone().unwrap()).collect();
    assert!(tx.iter().all(|t| t.id == tx[0].id), "one transaction");
    assert_eq!(tx.iter().map(|t| t.total_order).collect::<Vec<_>>(), (1..=9).collect::<Vec<u64>>());
    assert_eq!(tx[4].data_collection_order, 1, "first row of table u");
    assert_eq!(tx[8].data_collection_order, 8, "eighth row of table t");
    assert_eq!(evs[5].op, Op::Update);
    // No Commit inside the transaction; one right after its last event.
    let first = msgs.iter().position(|m| matches!(m, SourceMessage::Events(_))).unwrap();
    let last = msgs.iter().rposition(|m| matches!(m, SourceMessage::Events(_))).unwrap();
    assert!(!msgs[first..last].iter().any(|m| matches!(m, SourceMessage::Commit(_))));
    assert!(matches!(msgs.get(last + 1), Some(SourceMessage::Commit(_))));
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_transaction_produces_nothing() {
    let (_srv, _db, mut src, mut c) = setup("rollback").await;
    exec(
        &mut c,
        &[
            "BEGIN",
            "INSERT INTO t VALUES (1, 'rolled back', 0)",
            "UPDATE t SET v = 'x'",
            "ROLLBACK",
            "INSERT INTO t VALUES (2, 'kept', 0)",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 1, Duration::from_secs(20)).await;
    let evs = events(&msgs);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(json(evs[0])["after"]["v"], "kept");
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_rollback_stays_inside_the_transaction() {
    let (_srv, _db, mut src, mut c) = setup("savepoint").await;
    exec(
        &mut c,
        &[
            "BEGIN",
            "INSERT INTO t VALUES (1, 'kept', 0)",
            "SAVEPOINT a",
            "INSERT INTO t VALUES (2, 'undone', 0)",
            "ROLLBACK TO SAVEPOINT a",
            "INSERT INTO t VALUES (3, 'kept', 0)",
            "COMMIT",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 2, Duration::from_secs(20)).await;
    let evs = events(&msgs);
    let ids: Vec<_> = evs.iter().map(|e| format!("{}{}", e.source.table, json(e)["after"]["id"])).collect();
    // InnoDB only: the server drops the undone rows from the transaction cache; rows 1 and 3
    // share one transaction, with no Commit between them. (Mixed with a non-transactional
    // table, the binlog keeps the undone rows followed by `ROLLBACK TO`: see the source's
    // module docs, "Known limits".)
    assert!(ids.contains(&"t1".to_string()) && ids.contains(&"t3".to_string()), "{ids:?}");
    assert!(!ids.contains(&"t2".to_string()), "rolled back to the savepoint: {ids:?}");
    let p1 = msgs
        .iter()
        .position(|m| m.events().iter().any(|e| json(e)["after"]["id"] == 1 && &*e.source.table == "t"))
        .unwrap();
    let p3 = msgs
        .iter()
        .position(|m| m.events().iter().any(|e| json(e)["after"]["id"] == 3 && &*e.source.table == "t"))
        .unwrap();
    assert!(!msgs[p1..p3].iter().any(|m| matches!(m, SourceMessage::Commit(_))), "no Commit inside the transaction");
    src.stop().await.unwrap();
}
