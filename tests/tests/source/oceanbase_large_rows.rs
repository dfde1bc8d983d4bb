//! Rows of 48 MiB through `oceanbase-emulator`: the OceanBase binlog service documents LONGBLOB /
//! LONGTEXT values up to 48 MB (reference §8: oblogproxy docs, ApsaraDB binlog docs), above ODP's
//! 16 MiB `max_allowed_packet`. A 48 MiB LONGBLOB inserted, then updated to another 48 MiB value
//! (a 96 MiB rows event, both images, over seven 16 MiB packets), arrives byte for byte; the
//! suite's MariaDB runs with `max_allowed_packet=64M`, which the 48 MiB statement fits.

use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{collect_until_commit, exec, server, start_source, TestServer, REPL_PASSWORD, REPL_USER};
use mysql_async::prelude::*;
use oceanbase_emulator::{Config, Emulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_48_mib_arrive_whole_through_the_emulator() {
    let srv = server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let db = srv.fresh_schema("ob48").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)"]).await;
    let ob = TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    let mut scfg = ob.source_config("ob48");
    scfg.schemas = vec![db.clone()];
    let mut src = start_source(scfg, StartPosition::Latest).await;
    let pattern =
        |n: usize, seed: u8| -> Vec<u8> { (0..n).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect() };
    let first = pattern(48 << 20, 3);
    let second = pattern(48 << 20, 77);
    c.exec_drop("INSERT INTO t VALUES (1, ?)", (first.clone(),)).await.expect("48 MiB insert");
    c.exec_drop("UPDATE t SET b = ? WHERE id = 1", (second.clone(),)).await.expect("48 MiB update");
    let msgs = collect_until_commit(&mut src.rx, 2, Duration::from_secs(300)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).collect();
    if evs.len() != 2 {
        panic!("got {} events; the source returned {:?}", evs.len(), src.stop().await);
    }
    let blob = |row: &Option<cdc_core::event::Row>| match row.as_ref().and_then(|r| r.get("b")) {
        Some(cdc_core::event::Value::Bytes(b)) => b.clone(),
        other => panic!("b is {:?}", other.map(|v| format!("{v:?}").chars().take(80).collect::<String>())),
    };
    assert!(blob(&evs[0].after) == first, "the 48 MiB insert arrives byte for byte");
    assert!(blob(&evs[1].before) == first, "the update's before image is the first 48 MiB value");
    assert!(blob(&evs[1].after) == second, "the update's after image is the second 48 MiB value");
    let _ = src.stop().await;
    emu.shutdown();
}
