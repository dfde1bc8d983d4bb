//! Reconnect against the real MariaDB: the source's dump thread is KILLed mid-stream, twice;
//! the source reconnects, resumes at its last commit and loses nothing (duplicates of a
//! transaction cut in the middle are allowed and counted).

use std::collections::BTreeMap;
use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_core::source::SourceConfig;
use cdc_tests::mariadb::{collect_events, exec, server, start_source, TestServer};
use mysql_async::prelude::*;

/// Creates the replication user `user` (password `pw`) of the calling test's own, so only its
/// dump thread is killed; returns the source configuration `name` logging in as it and
/// capturing `db`.
async fn own_replication_user(
    srv: &TestServer,
    c: &mut mysql_async::Conn,
    user: &str,
    name: &str,
    db: &str,
) -> SourceConfig {
    for host in ["127.0.0.1", "localhost"] {
        exec(
            c,
            &[
                &format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'pw'"),
                &format!("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '{user}'@'{host}'"),
            ],
        )
        .await;
    }
    let mut cfg = srv.source_config(name);
    cfg.user = user.to_owned();
    cfg.password = cdc_core::secret::Secret::new("pw");
    cfg.schemas = vec![db.to_owned()];
    cfg
}

async fn dump_threads(c: &mut mysql_async::Conn, user: &str) -> Vec<u64> {
    c.exec("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%'", (user,))
        .await
        .unwrap()
}

/// Receives what arrives within 50 ms and counts the ids.
async fn drain(rx: &mut tokio::sync::mpsc::Receiver<cdc_core::source::SourceMessage>, seen: &mut BTreeMap<i64, u32>) {
    count(collect_events(rx, usize::MAX, Duration::from_millis(50)).await, seen);
}

fn count(events: Vec<cdc_core::event::ChangeEvent>, seen: &mut BTreeMap<i64, u32>) {
    for e in events {
        let id = match e.after.as_ref().unwrap().get("id").unwrap() {
            cdc_core::event::Value::Int(i) => *i,
            v => panic!("{v:?}"),
        };
        *seen.entry(id).or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_dump_thread_is_survived_without_losing_a_row() {
    let srv = server().await;
    let db = srv.fresh_schema("kill").await;
    // A replication user of our own, so we kill only this test's dump thread.
    let user = format!("repl_{}", &db[5..]);
    let mut c = srv.admin_conn().await;
    let cfg = own_replication_user(&srv, &mut c, &user, "kill", &db).await;
    let mut src = start_source(cfg, StartPosition::Latest).await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200))"]).await;

    // More rows than the channel holds (1024): the source blocks mid-transaction on a full
    // channel, so some kills land inside a transaction it has partly sent.
    let per_batch = 300;
    let total = 6 * per_batch;
    let mut killed = Vec::new();
    let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
    for batch in 0..6 {
        // Each batch: 50 single-row transactions and one 250-row transaction (two statements).
        let base = batch * per_batch;
        for i in 0..50 {
            c.query_drop(format!("INSERT INTO t VALUES ({}, REPEAT('x', 150))", base + i)).await.unwrap();
        }
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!("INSERT INTO t SELECT {base} + seq, 'in a transaction' FROM seq_50_to_149"))
            .await
            .unwrap();
        c.query_drop(format!("INSERT INTO t SELECT {base} + seq, 'in a transaction' FROM seq_150_to_299"))
            .await
            .unwrap();
        c.query_drop("COMMIT").await.unwrap();
        if batch == 1 || batch == 3 {
            // The source reconnects within its backoff once it has drained what it had read;
            // wait for its (new) dump thread.
            let mut threads = Vec::new();
            for _ in 0..200 {
                threads = dump_threads(&mut c, &user).await;
                threads.retain(|t| !killed.contains(t));
                if !threads.is_empty() {
                    break;
                }
                // Keep consuming meanwhile so a full channel cannot stall the source.
                drain(&mut src.rx, &mut seen).await;
            }
            assert_eq!(threads.len(), 1, "one dump thread of ours: {threads:?}");
            c.query_drop(format!("KILL {}", threads[0])).await.unwrap();
            killed.push(threads[0]);
        }
    }
    // Every id at least once; collect generously because duplicates may add events.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < total && tokio::time::Instant::now() < deadline {
        drain(&mut src.rx, &mut seen).await;
    }
    let missing: Vec<i64> = (0..total as i64).filter(|i| !seen.contains_key(i)).collect();
    assert!(missing.is_empty(), "lost rows after KILL: {missing:?}");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!("rows: {total}, duplicates re-sent after {} kills: {duplicates}", killed.len());
    let now = dump_threads(&mut c, &user).await;
    assert_eq!(now.len(), 1, "reconnected: {now:?}");
    assert!(!killed.contains(&now[0]), "a new dump thread");
    assert_eq!(src.status.snapshot().source, cdc_core::status::StageState::Running);
    src.stop().await.unwrap();
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut c, &[&format!("DROP USER '{user}'@'{host}'")]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_inside_a_transaction_resends_it_without_a_gap() {
    let srv = server().await;
    let db = srv.fresh_schema("killtx").await;
    let user = format!("repl_{}", &db[7..]);
    let mut c = srv.admin_conn().await;
    let cfg = own_replication_user(&srv, &mut c, &user, "killtx", &db).await;
    let status = cdc_core::status::Status::new();
    let source = cdc_core::source::BinlogSource::new(cfg, status.clone());
    let cp = source.resolve_start(&StartPosition::Latest).await.unwrap();
    // A one-message channel: the source stalls inside the big transaction until we read.
    let mut src = cdc_tests::mariadb::start_source_with_capacity(source, cp, status, 1).await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(1000))",
            // ~24 MB in one transaction: more than the socket buffers hold, so the server is
            // still sending it when the dump thread is killed.
            "INSERT INTO t SELECT seq, REPEAT('y', 1000) FROM seq_1_to_24000",
        ],
    )
    .await;
    let total = 24_000usize;
    let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
    // Read part of the transaction — message by message, stopping at the first 1,000 rows so
    // that the source stays stalled on its one-message channel with most of the transaction
    // unsent (a 50 ms drain here read all of it on a fast machine) — then kill the dump thread.
    count(collect_events(&mut src.rx, 1000, Duration::from_secs(30)).await, &mut seen);
    assert!(seen.len() >= 1000, "the transaction's first rows arrive");
    assert!(seen.len() < total / 2, "the source is stalled by its one-message channel: {} rows read", seen.len());
    let threads = dump_threads(&mut c, &user).await;
    assert_eq!(threads.len(), 1, "{threads:?}");
    c.query_drop(format!("KILL {}", threads[0])).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.len() < total && tokio::time::Instant::now() < deadline {
        drain(&mut src.rx, &mut seen).await;
    }
    let missing = (1..=total as i64).filter(|i| !seen.contains_key(i)).count();
    assert_eq!(missing, 0, "rows lost after a kill inside a transaction");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!("rows: {total}, re-sent after the kill inside the transaction: {duplicates}");
    assert!(duplicates > 0, "the kill landed inside the transaction, which is re-sent from its start");
    src.stop().await.unwrap();
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut c, &[&format!("DROP USER '{user}'@'{host}'")]).await;
    }
}
