//! The OceanBase binlog service's value faults (reference §8, oblogproxy v2.0.1
//! `data_type.cpp`), through `oceanbase-emulator` in front of the suite's MariaDB, read by
//! cdc-core's BinlogSource:
//!
//! - a 40-member SET, whose bitmap the service writes in 5 bytes (MySQL: 8), arrives as the same
//!   typed value as read straight from MariaDB (the decoder takes the length from the TABLE_MAP);
//! - what cannot be undone arrives as the service writes it (the emulator is faithful) and is
//!   named by [`BinlogSource::value_warnings`] (what `validate` prints): BIGINT UNSIGNED above
//!   2^63−1 saturated by `atoll`, BIT(40) cut by `atoi` (both before oblogproxy v2.0.1_BP2,
//!   switched on here), ENUM/SET labels matched by prefix;
//! - an ENUM value the service writes as 0 bytes stops the source with an error naming the
//!   column and the position, instead of a shifted row.

use std::time::Duration;

use cdc_core::event::Value;
use cdc_core::position::StartPosition;
use cdc_core::source::{BinlogSource, SourceError, SourceMessage};
use cdc_tests::mariadb::{collect_until_commit, exec, server, start_source, TestServer, REPL_PASSWORD, REPL_USER};
use oceanbase_emulator::{Config, Emulator, Quirk};

fn json(e: &cdc_core::event::ChangeEvent) -> serde_json::Value {
    serde_json::from_slice(&e.to_json_bytes()).unwrap()
}

async fn emulator(srv: &TestServer, tune: impl FnOnce(&mut Config)) -> (Emulator, TestServer) {
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    tune(&mut cfg);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let ob = TestServer { host: "127.0.0.1".into(), port: emu.local_addr().port() };
    (emu, ob)
}

/// The `after` images of `n` inserts into `db` read by a source on `at` started before `dml`.
async fn inserts(
    at: &TestServer,
    db: &str,
    c: &mut mysql_async::Conn,
    dml: &[&str],
    n: usize,
) -> Vec<serde_json::Value> {
    inserts_with(at, db, c, dml, n, None).await
}

/// [`inserts`] with column facts from `history` (a schema history file) instead of
/// `information_schema`.
async fn inserts_with(
    at: &TestServer,
    db: &str,
    c: &mut mysql_async::Conn,
    dml: &[&str],
    n: usize,
    history: Option<&std::path::Path>,
) -> Vec<serde_json::Value> {
    let mut scfg = at.source_config("obval");
    scfg.schemas = vec![db.to_string()];
    if let Some(h) = history {
        let provider = cdc_core::schema_history::HistoryProvider::new(h, vec![db.to_string()]);
        scfg.schema_provider = Some(std::sync::Arc::new(tokio::sync::Mutex::new(Box::new(provider))));
    }
    let mut src = start_source(scfg, StartPosition::Latest).await;
    exec(c, dml).await;
    let msgs = collect_until_commit(&mut src.rx, n, Duration::from_secs(30)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).map(|e| json(e)["after"].clone()).collect();
    if evs.len() != n {
        panic!("got {} events ({msgs:?}); the source returned {:?}", evs.len(), src.stop().await);
    }
    let _ = src.stop().await;
    evs
}

/// `'p01','p02',…`: no label is a prefix of another (`m1` would be one of `m10`, and the
/// service's prefix match would then set both).
fn labels(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("'{prefix}{i:02}'")).collect::<Vec<_>>().join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_member_set_arrives_as_read_from_mariadb() {
    let srv = server().await;
    let (emu, ob) = emulator(&srv, |_| {}).await;
    assert!(emu.local_addr().port() > 0);
    let db = srv.fresh_schema("obset").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            &format!("CREATE TABLE t (id INT PRIMARY KEY, s SET({}), n INT, small SET('x','y'))", labels("m", 40)),
        ],
    )
    .await;
    let dml = [
        "INSERT INTO t VALUES (1, 'm01,m33,m40', 7, 'y')",
        "INSERT INTO t VALUES (2, '', 8, 'x,y')",
        "INSERT INTO t VALUES (3, 'm08,m09,m32', 9, NULL)",
    ];
    // The same statements, read through the emulator (5-byte bitmaps, one row per event) and
    // straight from MariaDB (8-byte bitmaps): the same rows.
    let via_ob = inserts(&ob, &db, &mut c, &dml, 3).await;
    exec(&mut c, &["DELETE FROM t"]).await;
    let direct = inserts(&srv, &db, &mut c, &dml, 3).await;
    assert_eq!(via_ob, direct);
    // And through the emulator with the schema history as the column facts' source (the
    // collector's OceanBase configuration).
    exec(&mut c, &["DELETE FROM t"]).await;
    let dir = tempfile::tempdir().unwrap();
    let with_history = inserts_with(&ob, &db, &mut c, &dml, 3, Some(&dir.path().join("history.jsonl"))).await;
    assert_eq!(with_history, direct);
    let recorded = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap_or_default();
    assert!(recorded.contains("m40"), "the history recorded the table: {recorded}");
    assert_eq!(via_ob[0], serde_json::json!({"id": 1, "s": "m01,m33,m40", "n": 7, "small": "y"}));
    assert_eq!(via_ob[1]["s"], "");
    assert_eq!(via_ob[2]["s"], "m08,m09,m32");
    assert_eq!(via_ob[2]["n"], 9, "the column after the SET is read at the right offset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigint_unsigned_through_atoll_arrives_saturated_and_is_warned_about() {
    let srv = server().await;
    let (_emu, ob) = emulator(&srv, |c| {
        c.quirks.insert(Quirk::UnsignedBigintAtoll);
    })
    .await;
    let db = srv.fresh_schema("obatoll").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, big BIGINT UNSIGNED, s BIGINT)"]).await;
    let evs = inserts(
        &ob,
        &db,
        &mut c,
        &["INSERT INTO t VALUES (1, 18446744073709551615, -1), (2, 9223372036854775807, 5)"],
        2,
    )
    .await;
    // What a pre-BP2 service writes, faithfully: 2^64−1 saturated to 2^63−1; nothing marks it.
    assert_eq!(evs[0], serde_json::json!({"id": 1, "big": 9223372036854775807u64, "s": -1}));
    assert_eq!(evs[1]["big"], 9223372036854775807u64);

    let mut scfg = ob.source_config("obatoll");
    scfg.schemas = vec![db.clone()];
    let warnings = BinlogSource::new(scfg, cdc_core::status::Status::new()).value_warnings().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].setting, format!("column {db}.t.big (bigint(20) unsigned)"));
    assert!(warnings[0].actual.contains("9223372036854775807"), "{}", warnings[0].actual);
    assert!(warnings[0].fix.contains("v2.0.1_BP2"), "{}", warnings[0].fix);
    // Straight from MariaDB (not OceanBase): no warnings.
    let mut direct = srv.source_config("obatoll");
    direct.schemas = vec![db.clone()];
    assert!(BinlogSource::new(direct, cdc_core::status::Status::new()).value_warnings().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bit_wider_than_32_through_atoi_loses_its_high_bits_and_is_warned_about() {
    let srv = server().await;
    let (_emu, ob) = emulator(&srv, |c| {
        c.quirks.insert(Quirk::BitAtoi);
    })
    .await;
    let db = srv.fresh_schema("obbit").await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, b40 BIT(40), b32 BIT(32))"]).await;
    let mut scfg = ob.source_config("obbit");
    scfg.schemas = vec![db.clone()];
    let mut src = start_source(scfg.clone(), StartPosition::Latest).await;
    exec(&mut c, &["INSERT INTO t VALUES (1, 0x0100000005, 0xffffffff)"]).await;
    let msgs = collect_until_commit(&mut src.rx, 1, Duration::from_secs(30)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).collect();
    let after = evs.first().and_then(|e| e.after.clone()).expect("the insert");
    // atoi keeps the low 32 bits: 0x0100000005 arrives as 5; BIT(32) is exact.
    assert_eq!(after.get("b40"), Some(&Value::Bit(5)));
    assert_eq!(after.get("b32"), Some(&Value::Bit(0xffff_ffff)));
    let _ = src.stop().await;
    let warnings = BinlogSource::new(scfg, cdc_core::status::Status::new()).value_warnings().await.unwrap();
    let named: Vec<&str> = warnings.iter().map(|w| w.setting.as_str()).collect();
    assert_eq!(named, [format!("column {db}.t.b40 (bit(40))")], "BIT(32) is not at risk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enum_and_set_labels_matched_by_prefix_arrive_so_and_are_warned_about() {
    let srv = server().await;
    let (_emu, ob) = emulator(&srv, |_| {}).await;
    let db = srv.fresh_schema("obpfx").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT PRIMARY KEY, e ENUM('a','ab','b'), s SET('a','ab'), ok ENUM('ab','a'))",
        ],
    )
    .await;
    let evs = inserts(&ob, &db, &mut c, &["INSERT INTO t VALUES (1, 'ab', 'ab', 'a'), (2, 'b', 'a', 'ab')"], 2).await;
    // The service's prefix match, reproduced: 'ab' becomes 'a' (ENUM) and 'a,ab' (SET).
    assert_eq!(evs[0], serde_json::json!({"id": 1, "e": "a", "s": "a,ab", "ok": "a"}));
    assert_eq!(evs[1], serde_json::json!({"id": 2, "e": "b", "s": "a", "ok": "ab"}));

    let mut scfg = ob.source_config("obpfx");
    scfg.schemas = vec![db.clone()];
    let warnings = BinlogSource::new(scfg, cdc_core::status::Status::new()).value_warnings().await.unwrap();
    let named: Vec<&str> = warnings.iter().map(|w| w.setting.as_str()).collect();
    assert_eq!(
        named,
        [format!("column {db}.t.e (enum('a','ab','b'))"), format!("column {db}.t.s (set('a','ab'))")],
        "ENUM('ab','a') is safe: the first prefix of 'a' is 'a'"
    );
    assert!(warnings[0].fix.contains("VARCHAR"), "{}", warnings[0].fix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enum_value_of_no_bytes_stops_the_source_naming_the_column() {
    let srv = server().await;
    let (_emu, ob) = emulator(&srv, |_| {}).await;
    let db = srv.fresh_schema("obenum0").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY, e ENUM('x','y'), v VARCHAR(10), n INT)"],
    )
    .await;
    let mut scfg = ob.source_config("obenum0");
    scfg.schemas = vec![db.clone()];
    let mut src = start_source(scfg, StartPosition::Latest).await;
    // MariaDB stores 'zz' as its '' (index 0); the service writes no byte for it.
    exec(
        &mut c,
        &[
            "INSERT INTO t VALUES (1, 'y', 'fine', 1)",
            "SET SESSION sql_mode = ''",
            "INSERT INTO t VALUES (2, 'zz', 'abc', 2)",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 1, Duration::from_secs(30)).await;
    let evs: Vec<_> = msgs.iter().flat_map(SourceMessage::events).map(json).collect();
    assert_eq!(evs.len(), 1, "the row before arrives, the broken one does not: {evs:?}");
    assert_eq!(evs[0]["after"]["id"], 1);
    let err = tokio::time::timeout(Duration::from_secs(30), src.handle)
        .await
        .expect("the source stops by itself")
        .expect("source task")
        .expect_err("a definite error");
    let SourceError::Decode { position, message } = &err else { panic!("not a decode error: {err}") };
    assert!(message.contains(&format!("ENUM column {db}.t.e holds no bytes")), "{message}");
    assert!(message.contains("change the column to VARCHAR"), "{message}");
    assert!(position.file.starts_with("mysql-bin.") && position.pos > 4, "{position}");
    assert!(err.to_string().contains(&position.to_string()), "the message names the position: {err}");
}
