//! cdc-core's BinlogSource against `oceanbase-emulator` (OceanBase's binlog service behind
//! ODP, in front of the suite's MariaDB): prechecks pass, a start at the latest position
//! works, and INSERT/UPDATE/DELETE arrive with the column names and values of the table,
//! although the emulated TABLE_MAPs carry no names or signedness (read from
//! information_schema through the emulator) and every row comes in its own ROWS event.

use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{collect_until_commit, exec, server, start_source, REPL_PASSWORD, REPL_USER};
use mysql_async::prelude::*;
use oceanbase_emulator::{Config, Emulator};

fn json(e: &cdc_core::event::ChangeEvent) -> serde_json::Value {
    serde_json::from_slice(&e.to_json_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_source_reads_the_oceanbase_emulator() {
    let srv = server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let db = srv.fresh_schema("obsrc").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT UNSIGNED PRIMARY KEY, v VARCHAR(20), big BIGINT UNSIGNED, e ENUM('x','y'))",
        ],
    )
    .await;

    let ob = cdc_tests::mariadb::TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    let mut scfg = ob.source_config("obsrc");
    scfg.schemas = vec![db.clone()];
    let source = cdc_core::source::BinlogSource::new(scfg.clone(), cdc_core::status::Status::new());
    source.precheck().await.expect("prechecks pass against the emulator");
    let mut src = start_source(scfg, StartPosition::Latest).await;
    exec(
        &mut c,
        &[
            "INSERT INTO t VALUES (1, 'a', 18446744073709551615, 'y'), (2, 'b', 0, 'x')",
            "UPDATE t SET v = 'c' WHERE id = 1",
            "DELETE FROM t WHERE id = 2",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 4, Duration::from_secs(30)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).map(json).collect();
    if evs.len() != 4 {
        panic!("got {} events ({msgs:?}); the source returned {:?}", evs.len(), src.stop().await);
    }
    assert_eq!(evs[0]["op"], "c");
    assert_eq!(evs[0]["after"], serde_json::json!({"id": 1, "v": "a", "big": 18446744073709551615u64, "e": "y"}));
    assert_eq!(evs[1]["after"], serde_json::json!({"id": 2, "v": "b", "big": 0, "e": "x"}));
    assert_eq!(evs[2]["op"], "u");
    assert_eq!(evs[2]["after"]["v"], "c");
    assert_eq!(evs[3]["op"], "d");
    assert_eq!(evs[3]["before"]["id"], 2);
    let _ = src.stop().await;
    let _ = REPL_USER;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converter_restart_inside_a_transaction_loses_nothing() {
    let srv = server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let db = srv.fresh_schema("obrst").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))"]).await;
    let ob = cdc_tests::mariadb::TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    let mut scfg = ob.source_config("obrst");
    scfg.schemas = vec![db.clone()];
    let mut src = start_source(scfg, StartPosition::Latest).await;
    let work = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        exec(
            &mut c,
            &[
                "BEGIN",
                "INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')",
                "INSERT INTO t VALUES (4,'d'),(5,'e'),(6,'f')",
                "COMMIT",
            ],
        )
        .await;
    };
    // The converter restarts right after the transaction's first rows event: the last file is
    // truncated, the dump connection dropped, table ids restart; the source reconnects.
    tokio::join!(emu.restart_converter(oceanbase_emulator::convert::RestartAt::InTransaction), work);
    assert_eq!(emu.stats().restarts, 1);
    let msgs = collect_until_commit(&mut src.rx, 6, Duration::from_secs(30)).await;
    let mut ids: Vec<i64> = msgs
        .iter()
        .flat_map(SourceMessage::events)
        .map(|e| json(e)["after"]["id"].as_i64().expect("an insert of t"))
        .collect();
    if !matches!(msgs.last(), Some(SourceMessage::Commit(_))) {
        panic!("no final commit: {msgs:?}; the source returned {:?}", src.stop().await);
    }
    // At-least-once: rows of the cut transaction may come twice (once before the restart), never
    // missing and never attributed to another table.
    ids.dedup();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, (1..=6).collect::<Vec<_>>(), "events: {ids:?}");
    let _ = src.stop().await;
}

/// The type of the event starting at `pos` in the emulator's file `name`.
fn event_type_at(emu: &Emulator, name: &str, pos: u64) -> Option<u8> {
    let data = std::fs::read(emu.data_dir().join(name)).ok()?;
    let mut p = 4usize;
    while p + 19 <= data.len() {
        if p as u64 == pos {
            return Some(data[p + 4]);
        }
        p += u32::from_le_bytes(data[p + 9..p + 13].try_into().unwrap()) as usize;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_start_from_a_lagging_master_status_between_table_map_and_rows() {
    let srv = server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    cfg.status_batch_events = 3;
    let emu = Emulator::start(cfg).await.expect("emulator");
    let db = srv.fresh_schema("oblag").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    let ob = cdc_tests::mariadb::TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    let mut meta = mysql_async::Conn::new(ob.opts(REPL_USER, REPL_PASSWORD)).await.unwrap();
    // SHOW MASTER STATUS moves every 3 events (GTID, BEGIN, TABLE_MAP, ROWS, XID per insert):
    // insert until it stops right before a ROWS event, then start there.
    for i in 0..30 {
        let base = emu.stats().transactions;
        exec(&mut c, &[&format!("INSERT INTO t VALUES ({})", 100 + i)]).await;
        while emu.stats().transactions < base + 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let row: mysql_async::Row = meta.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
        let (file, pos): (String, u64) = (row.get(0).unwrap(), row.get(1).unwrap());
        if event_type_at(&emu, &file, pos) != Some(30) {
            continue;
        }
        let mut scfg = ob.source_config("oblag");
        scfg.schemas = vec![db.clone()];
        let mut src = start_source(scfg, StartPosition::Latest).await;
        if src.start.position().map(|p| p.pos) != Some(pos) {
            let _ = src.stop().await;
            continue; // another test's transaction moved the status meanwhile
        }
        exec(&mut c, &["INSERT INTO t VALUES (1)"]).await;
        let msgs = collect_until_commit(&mut src.rx, 1, Duration::from_secs(20)).await;
        let ids: Vec<i64> =
            msgs.iter().flat_map(SourceMessage::events).map(|e| json(e)["after"]["id"].as_i64().unwrap()).collect();
        if ids != [1] {
            panic!(
                "start at {file}:{pos} (a ROWS event): got {ids:?} ({msgs:?}); the source returned {:?}",
                src.stop().await
            );
        }
        let _ = src.stop().await;
        return;
    }
    panic!("SHOW MASTER STATUS never stopped before a ROWS event in 30 inserts");
}

/// Rows over 16 MiB through the emulator: the binlog service's protocol splits a packet of
/// 16 MiB or more into several (MySQL manual, "Sending More Than 16Mb"), the reference says
/// OceanBase rows reach 48 MB. A 20 MiB LONGBLOB inserted, then updated to 18 MiB (a rows event
/// holding both images, 38 MiB), arrives byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_over_16_mib_arrive_whole_through_the_emulator() {
    let srv = server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let db = srv.fresh_schema("obbig").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)"]).await;
    let ob = cdc_tests::mariadb::TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    let mut scfg = ob.source_config("obbig");
    scfg.schemas = vec![db.clone()];
    let mut src = start_source(scfg, StartPosition::Latest).await;
    let pattern =
        |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect() };
    let first = pattern(20 << 20, 7);
    let second = pattern(18 << 20, 101);
    c.exec_drop("INSERT INTO t VALUES (1, ?)", (first.clone(),)).await.expect("20 MiB insert");
    c.exec_drop("UPDATE t SET b = ? WHERE id = 1", (second.clone(),)).await.expect("18 MiB update");
    let msgs = collect_until_commit(&mut src.rx, 2, Duration::from_secs(120)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).collect();
    if evs.len() != 2 {
        panic!("got {} events; the source returned {:?}", evs.len(), src.stop().await);
    }
    let blob = |row: &Option<cdc_core::event::Row>| match row.as_ref().and_then(|r| r.get("b")) {
        Some(cdc_core::event::Value::Bytes(b)) => b.clone(),
        other => panic!("b is {other:?}"),
    };
    assert!(blob(&evs[0].after) == first, "the 20 MiB insert arrives byte for byte");
    assert!(blob(&evs[1].before) == first, "the update's before image is the 20 MiB value");
    assert!(blob(&evs[1].after) == second, "the update's after image is the 18 MiB value");
    let _ = src.stop().await;
    emu.shutdown();
}
