//! The emulator's stream, decoded by mysql_common, carries the same rows as the upstream's own
//! binlog, in OceanBase's shapes: FDE 5.7.38, MySQL GTIDs, BEGIN/XID, one-row V2 events,
//! constant server_id, CRC32 on every event; plus the SQL side (forwarded queries, routed
//! binlog statements) and the dump errors.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::*;
use mysql_common::binlog::events::EventData;

const TYPES_TABLE: &str = "CREATE TABLE t (
    id INT UNSIGNED PRIMARY KEY, i8 TINYINT, u64 BIGINT UNSIGNED, s VARCHAR(40), c CHAR(4) CHARACTER SET latin1,
    dec1 DECIMAL(20,6), dt DATETIME(6), ts TIMESTAMP(3) NULL, d DATE, tm TIME(2), e ENUM('red','green','blue'),
    st SET('a','b','c'), b BLOB, tx MEDIUMTEXT, f FLOAT, dbl DOUBLE, bt BIT(12), y YEAR, n INT NULL)";

async fn workload(c: &mut mysql_async::Conn, db: &str) {
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    c.query_drop(TYPES_TABLE).await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(
        "INSERT INTO t VALUES
         (1, -128, 18446744073709551615, 'héllo 🌍', 'ab', -12345678901234.567891, '2024-02-29 23:59:59.123456',
          '2024-03-01 12:00:00.789', '1000-01-01', '-838:59:59.00', 'green', 'a,c', x'00ff10', REPEAT('x', 300),
          1.5, -2.25e100, b'101010101010', 2024, NULL),
         (2, 127, 0, '', 'zz', 0.000001, '1970-01-01 00:00:00', NULL, '9999-12-31', '00:00:00.01', 'red', '',
          '', '', 0, 0, b'0', 1901, 7),
         (3, 0, 9223372036854775808, REPEAT('é', 40), '', 99999999999999.999999, '2000-01-01 00:00:00.5',
          '2038-01-19 03:14:07.999', '2000-02-29', '12:34:56.78', 'blue', 'a,b,c', NULL, NULL, -1e-10, 1e-300,
          b'111111111111', 2155, -1)",
    )
    .await
    .unwrap();
    c.query_drop("UPDATE t SET s = CONCAT(s, '!'), n = IFNULL(n, 0) + 1 WHERE id IN (1, 2)").await.unwrap();
    c.query_drop("DELETE FROM t WHERE id = 3").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("INSERT INTO t (id, e) VALUES (10, 'red')").await.unwrap();
}

#[tokio::test]
async fn stream_decodes_to_the_upstream_rows_in_oceanbase_shapes() {
    let mut admin = admin().await;
    let emu = emulator(|_| {}).await;
    let db = fresh_schema(&mut admin, "obstream").await;
    let (ufile, upos) = upstream_status(&mut admin).await;
    workload(&mut admin, &db).await;
    let want_rows = 3 + 2 + 1 + 1;

    let (up, _) = read_stream(
        opts(upstream().await, REPL_USER, REPL_PASSWORD),
        &[],
        &ufile,
        upos,
        Duration::from_secs(20),
        |g| row_changes(g, &db).len() >= want_rows,
    )
    .await;
    let (ob, _) = read_stream(emu_opts(&emu), &[], "mysql-bin.000001", 4, Duration::from_secs(20), |g| {
        row_changes(g, &db).len() >= want_rows && g.last().is_some_and(|e| e.ty == 16)
    })
    .await;
    let up_rows = row_changes(&up, &db);
    let ob_rows = row_changes(&ob, &db);
    assert_eq!(up_rows.len(), want_rows, "upstream rows");
    assert_eq!(ob_rows, up_rows, "the emulator's rows decode to the upstream's");

    // Stream layout: fake ROTATE (artificial, log_pos 0), FDE 5.7.38 (log_pos 123), PREVIOUS_GTIDS.
    assert_eq!(ob[0].ty, 4);
    assert_eq!((ob[0].log_pos, ob[0].timestamp, ob[0].flags), (0, 0, 0x20));
    assert_eq!(ob[1].ty, 15);
    assert_eq!(ob[1].log_pos, 123);
    match ob[1].event.read_data().unwrap() {
        Some(EventData::FormatDescriptionEvent(f)) => {
            assert_eq!(f.server_version().trim_end_matches(char::from(0)), "5.7.38")
        }
        other => panic!("expected FDE, got {other:?}"),
    }
    assert_eq!(ob[2].ty, 35, "PREVIOUS_GTIDS after the FDE at pos 4");
    for g in &ob[1..] {
        assert_eq!(g.crc_ok, Some(true), "CRC32 of event type {}", g.ty);
        assert_eq!(g.server_id, 1_147_473_732, "constant server_id on type {}", g.ty);
    }
    // Every rows event is V2 with one row and STMT_END_F, right after its TABLE_MAP; TABLE_MAPs
    // carry no optional metadata.
    for (i, g) in ob.iter().enumerate() {
        if let Some(r) = &g.rows {
            assert!((30..=32).contains(&g.ty), "V2 rows, got {}", g.ty);
            assert_eq!(r.rows.len(), 1);
            assert!(r.stmt_end);
            let prev = ob[..i].iter().rev().find(|e| e.ty != 27).unwrap();
            assert_eq!(prev.ty, 19, "TABLE_MAP before each rows event (heartbeats aside)");
        }
        if let Some(tm) = &g.table_map {
            assert!(!tm.5, "no optional metadata in TABLE_MAP");
        }
    }
    // Transactions: GTID → BEGIN → … → XID; gnos increase by one; positions chain.
    let mut gnos = Vec::new();
    for (i, g) in ob.iter().enumerate() {
        if g.ty == 33 {
            match g.event.read_data().unwrap() {
                Some(EventData::GtidEvent(e)) => gnos.push(e.gno()),
                other => panic!("GTID expected, got {other:?}"),
            }
            let next = ob[i + 1..].iter().find(|e| e.ty != 27).unwrap();
            assert!(next.ty == 2, "QUERY after GTID");
        }
    }
    assert!(gnos.windows(2).all(|w| w[1] == w[0] + 1), "gnos {gnos:?}");
    let file_events: Vec<_> = ob.iter().skip(1).filter(|g| g.ty != 27).collect();
    for w in file_events.windows(2) {
        assert_eq!(w[1].log_pos, w[0].log_pos + (w[1].data.len() + 19 + 4) as u32, "log_pos chain");
    }
}

#[tokio::test]
async fn sql_is_forwarded_and_binlog_statements_are_served() {
    let mut admin = admin().await;
    let emu = emulator(|_| {}).await;
    let db = fresh_schema(&mut admin, "obsql").await;
    admin.query_drop(format!("CREATE TABLE `{db}`.k (id INT PRIMARY KEY, v VARCHAR(8))")).await.unwrap();
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    // information_schema answers as the upstream does, through a prepared statement too.
    let cols: Vec<(String, String)> = c
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&db, "k"),
        )
        .await
        .unwrap();
    assert_eq!(cols, vec![("id".into(), "int".into()), ("v".into(), "varchar".into())]);
    let n: Option<i64> = c.exec_first("SELECT ? + 1", (41,)).await.unwrap();
    assert_eq!(n, Some(42));
    // An upstream error comes back with its code.
    let e = c.query_drop("SELECT * FROM no_such_db.no_such_table").await.unwrap_err();
    match e {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1146),
        other => panic!("server error expected, got {other}"),
    }
    // SHOW BINARY LOGS: two columns, the converter's files.
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(logs[0].0, "mysql-bin.000001");
    assert!(logs[0].1 >= 178);
    let st: Vec<mysql_async::Row> = c.query("SHOW MASTER STATUS").await.unwrap();
    assert_eq!(st[0].columns_ref().len(), 5);
    // The handshake says ODP's 5.6.25.
    assert_eq!(c.server_version(), (5, 6, 25));
    // A wrong password is refused.
    let bad = mysql_async::Conn::new(common::opts(emu.local_addr().port(), REPL_USER, "wrong")).await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn dump_positions_are_validated_with_oceanbase_errors() {
    let mut admin = admin().await;
    let emu = emulator(|_| {}).await;
    let db = fresh_schema(&mut admin, "obpos").await;
    admin.query_drop(format!("CREATE TABLE `{db}`.k (id INT PRIMARY KEY)")).await.unwrap();
    wait_converted(&emu, 0, 1).await;
    for (file, pos, want) in [
        ("mysql-bin.000009", 4u64, "failed to open binlog file"),
        ("mysql-bin.000001", 1_000_000, "exceeds the maximum value of the BINLOG file"),
        ("mysql-bin.000001", 130, "The offset of the current subscription is illegal,offset:130"),
    ] {
        let (got, end) = read_stream(emu_opts(&emu), &[], file, pos, Duration::from_secs(5), |_| false).await;
        assert!(got.is_empty(), "{file}:{pos} sent events");
        let end = end.unwrap_or_default();
        assert!(end.contains("1236") && end.contains(want), "{file}:{pos}: {end}");
    }
}
