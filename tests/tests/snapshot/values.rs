//! The snapshot reader against the real MariaDB (binlog_row_metadata=FULL):
//!
//! - differential: the same rows read from the binlog through `BinlogSource` and through
//!   `SnapshotReader` give identical `Value`s, column names, key columns and partition keys —
//!   one table with every type family (edge values, NULLs, zero dates) and the workload's four
//!   tables after a random workload;
//! - keyset chunks: composite keys, BIGINT UNSIGNED beyond 2^63, case-insensitive utf8mb4 and
//!   latin1 keys, chunks of 2 rows: every row once, in the server's key order;
//! - resume after a chunk, a table without a primary key, the `last` mark, and the consistent
//!   point: rows written after the snapshot began are not in it, and streaming from its point
//!   yields exactly them.

use std::collections::BTreeMap;
use std::time::Duration;

use cdc_core::event::{ChangeEvent, Op, Value};
use cdc_core::position::StartPosition;
use cdc_core::snapshot::{
    SnapshotChunk, SnapshotConfig, SnapshotMark, SnapshotProgress, SnapshotReader, TableId, TableState,
};
use cdc_tests::mariadb::{collect_events, exec, server, start_source, TestServer, REPL_PASSWORD, REPL_USER};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TYPES: &str = "CREATE TABLE types (
    id INT UNSIGNED PRIMARY KEY,
    ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
    i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, y YEAR,
    dec1 DECIMAL(20,6), dec0 DECIMAL(5,0), dmax DECIMAL(65,30), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), dtm0 DATETIME, dtm3 DATETIME(3), ts TIMESTAMP(3) NULL, ts0 TIMESTAMP NULL,
    ts6 TIMESTAMP(6) NULL, tm TIME, tm1 TIME(1), tm6 TIME(6),
    c CHAR(10), vc VARCHAR(100), vcl VARCHAR(300), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
    cl CHAR(5) CHARACTER SET latin1, vl VARCHAR(20) CHARACTER SET latin1,
    bn BINARY(4), vb VARBINARY(10), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB,
    e ENUM('small','medium','large'), st SET('a','b','c'), bt BIT(5), b64 BIT(64), j JSON, p POINT, g GEOMETRY
) CHARACTER SET utf8mb4";

const TYPE_ROWS: &[&str] = &[
    "INSERT INTO types VALUES (4294967295, -128, 255, -32768, 65535, -8388608, 16777215,
      -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 2024,
      '-12345678901234.567891', 99999, CONCAT('-', REPEAT('9', 35), '.', REPEAT('9', 30)), 3.4e38, -2.2250738585072014e-308,
      '1000-01-01', '2024-02-29 23:59:59.123456', '9999-12-31 23:59:59', '1970-01-01 00:00:00.001', '2024-03-01 12:00:00.789', '2038-01-19 03:14:07',
      '1970-01-01 03:00:01.000001', '-838:59:59', '-00:00:01.5', '12:34:56.000001',
      'abc  ', '日本語 😀  ', REPEAT('ü', 300), 'tiny', 'héllo wörld 🎉', 'mid', 'long\\ntext\\t\"q\"',
      'café', 'naïve ÿ',
      0x0102, 0x00ff, 0x00, 0xdeadbeef, 0x0000,
      'medium', 'c,a', b'10101', 0xffffffffffffffff, '{\"a\": [1, 2.50, 1e3], \"b\": null, \"c\": \"ü\"}',
      ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('LINESTRING(0 0, 1 1.5)'))",
    "INSERT INTO types (id) VALUES (1)",
    "INSERT INTO types (id, dt, dtm, dtm0, ts, y, bn, e, st, tm, f, d, c, vc, bt, b64, dec1)
      VALUES (2, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, '', '', '',
      '00:00:00', 0.1, 0.1, '', '', 0, 0, '0.000000')",
    "INSERT INTO types (id, ti, f, d, tm1, tm6, ts6, e, st, dec0, y) VALUES (3, 127, -1.17549435e-38, 1e308,
      '838:59:59.9', '-838:59:58.999999', '2038-01-19 03:14:07.999999', 'large', 'a,b,c', -99999, 1901)",
];

/// Reads `tables` with a fresh snapshot of `chunk_rows`-row chunks; returns the chunks.
async fn snapshot(
    srv: &TestServer,
    progress: SnapshotProgress,
    chunk_rows: usize,
) -> (Vec<SnapshotChunk>, SnapshotReaderOut) {
    let mut conn = mysql_async::Conn::new(srv.opts(REPL_USER, REPL_PASSWORD)).await.expect("snapshot connection");
    // Session settings the reader must override (values in UTC and in the columns' own bytes).
    exec(&mut conn, &["SET NAMES latin1", "SET time_zone = '+05:00'"]).await;
    let mut cfg = SnapshotConfig::new("snap");
    cfg.chunk_rows = chunk_rows;
    let reader = SnapshotReader::open(conn, cfg, progress).await.expect("open snapshot");
    let point = reader.point().clone();
    let (tx, mut rx) = mpsc::channel(4);
    let task = tokio::spawn(reader.run(tx, CancellationToken::new()));
    let mut chunks = Vec::new();
    while let Some(c) = rx.recv().await {
        chunks.push(c);
    }
    let progress = task.await.unwrap().expect("snapshot runs");
    (chunks, SnapshotReaderOut { point, progress })
}

struct SnapshotReaderOut {
    point: cdc_core::snapshot::SnapshotPoint,
    progress: SnapshotProgress,
}

/// The final state of every row from binlog events: partition key → event of its last image.
fn rebuild(events: &[ChangeEvent]) -> BTreeMap<String, ChangeEvent> {
    let mut state = BTreeMap::new();
    for e in events {
        match e.op {
            Op::Delete => {
                state.remove(&e.partition_key());
            }
            _ => {
                state.insert(e.partition_key(), e.clone());
            }
        }
    }
    state
}

fn assert_same_rows(binlog: &BTreeMap<String, ChangeEvent>, snap: &[ChangeEvent]) {
    let snap_state = rebuild(snap);
    assert_eq!(snap.len(), snap_state.len(), "a key read twice");
    let keys = |m: &BTreeMap<String, ChangeEvent>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&snap_state), keys(binlog), "the same keys");
    for (k, b) in binlog {
        let s = &snap_state[k];
        assert_eq!(s.op, Op::Read);
        assert!(s.before.is_none());
        let (ba, sa) = (b.after.as_ref().unwrap(), s.after.as_ref().unwrap());
        assert_eq!(ba.columns, sa.columns, "column names of {k}");
        assert_eq!(b.key_columns, s.key_columns, "key columns of {k}");
        for (i, name) in ba.columns.iter().enumerate() {
            assert_eq!(
                ba.values[i], sa.values[i],
                "{}.{} column {name} of key {k:?}: binlog {:?}, snapshot {:?}",
                b.source.db, b.source.table, ba.values[i], sa.values[i]
            );
        }
        // And so the JSON too.
        assert_eq!(serde_json::to_string(ba).unwrap(), serde_json::to_string(sa).unwrap());
    }
}

fn events_of(chunks: &[SnapshotChunk]) -> Vec<ChangeEvent> {
    chunks.iter().flat_map(|c| c.events.iter().cloned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_reads_identically_from_the_snapshot_and_the_binlog() {
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("snap_types").await;
    exec(&mut c, &[&format!("USE `{db}`"), "SET time_zone = '+03:00'", "SET sql_mode = ''", TYPES]).await;
    for row in TYPE_ROWS {
        exec(&mut c, &[row]).await;
    }
    let binlog = collect_events(&mut src.rx, TYPE_ROWS.len(), Duration::from_secs(20)).await;
    src.stop().await.unwrap();
    assert_eq!(binlog.len(), TYPE_ROWS.len());
    let (chunks, out) = snapshot(&srv, SnapshotProgress::new([TableId::new(&db, "types")]), 3).await;
    let snap = events_of(&chunks);
    assert_eq!(snap.len(), TYPE_ROWS.len());
    assert_same_rows(&rebuild(&binlog), &snap);
    assert!(out.progress.is_done());
    // Read events carry the snapshot's point and a running row index.
    for (i, e) in snap.iter().enumerate() {
        assert_eq!(&*e.source.file, out.point.position.file.as_str());
        assert_eq!(e.source.pos, out.point.position.pos);
        assert_eq!(e.source.row, i as u32);
        assert_eq!(&*e.source.name, "snap");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_tables_read_identically_from_the_snapshot_and_the_binlog() {
    use cdc_tests::workload::{self, SeedGuard, WorkloadConfig, TABLES};
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("snap_work").await;
    workload::create_tables(&mut c, &db).await;
    let mut w = WorkloadConfig::burst(seed, db.clone(), 60);
    w.workers = 2;
    w.key_space = 60;
    workload::start(&srv, &w).join().await;
    exec(&mut c, &[&format!("INSERT INTO `{db}`.w_bulk VALUES (999999, 1, 'end')")]).await;
    let mut binlog = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !binlog.iter().any(|e: &ChangeEvent| {
        &*e.source.table == "w_bulk" && e.after.as_ref().and_then(|r| r.get("id")) == Some(&Value::Int(999999))
    }) {
        assert!(std::time::Instant::now() < deadline, "marker row never arrived");
        binlog.extend(collect_events(&mut src.rx, 1, Duration::from_millis(500)).await);
    }
    src.stop().await.unwrap();
    let tables: Vec<TableId> = TABLES.iter().map(|t| TableId::new(&db, t.name)).collect();
    let (chunks, _) = snapshot(&srv, SnapshotProgress::new(tables), 16).await;
    let snap = events_of(&chunks);
    assert!(snap.len() > 50, "the workload left rows: {}", snap.len());
    assert_same_rows(&rebuild(&binlog), &snap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_chunks_resume_marks_and_the_consistent_point() {
    let srv = server().await;
    let db = srv.fresh_schema("snap_keys").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE ck (a BIGINT UNSIGNED NOT NULL, b VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL, \
             c VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL, v INT NULL, PRIMARY KEY (a, b, c))",
            "INSERT INTO ck VALUES (18446744073709551615, 'b', 'x', 1), (18446744073709551615, 'A', 'é', 2), \
             (18446744073709551615, 'a ', 'Z', NULL), (9223372036854775808, 'Ü', 'a', 4), (9223372036854775807, 'z', 'b', 5), \
             (0, 'B', 'É', 6), (0, 'B', 'f', NULL), (0, 'c', 'e', 8), (1, '😀', 'x', 9)",
            "CREATE TABLE nokey (x INT, y VARCHAR(5))",
            "INSERT INTO nokey VALUES (1, 'a'), (1, 'a'), (NULL, NULL), (2, 'b'), (3, 'c')",
            "CREATE TABLE empty_last (id INT PRIMARY KEY)",
        ],
    )
    .await;
    let want: Vec<(Value, Value, Value)> = {
        use mysql_async::prelude::Queryable;
        let rows: Vec<(u64, String, Vec<u8>)> =
            c.query("SELECT a, b, CAST(c AS BINARY) FROM ck ORDER BY a, b, c").await.unwrap();
        rows.into_iter()
            .map(|(a, b, c)| {
                (Value::UInt(a), Value::String(b.into()), Value::String(c.iter().map(|&x| x as char).collect()))
            })
            .collect()
    };
    let tables = [TableId::new(&db, "ck"), TableId::new(&db, "nokey"), TableId::new(&db, "empty_last")];
    let filter = cdc_core::source::TableFilter::new(std::slice::from_ref(&db), &[]).unwrap();
    let listed = cdc_core::snapshot::captured_tables(&mut c, &filter).await.unwrap();
    assert_eq!(listed, [TableId::new(&db, "ck"), TableId::new(&db, "empty_last"), TableId::new(&db, "nokey")]);

    // Open a snapshot, then write: the rows written after it began are not in it.
    let conn = mysql_async::Conn::new(srv.opts(REPL_USER, REPL_PASSWORD)).await.unwrap();
    let mut cfg = SnapshotConfig::new("snap");
    cfg.chunk_rows = 2;
    let reader = SnapshotReader::open(conn, cfg, SnapshotProgress::new(tables.clone())).await.unwrap();
    let point = reader.point().clone();
    exec(&mut c, &["INSERT INTO ck VALUES (5, 'late', 'x', 10)", "DELETE FROM nokey WHERE x = 2"]).await;
    let (tx, mut rx) = mpsc::channel(64);
    let progress = reader.run(tx, CancellationToken::new()).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(ch) = rx.recv().await {
        chunks.push(ch);
    }
    assert!(progress.is_done());
    let ck: Vec<ChangeEvent> =
        chunks.iter().filter(|ch| ch.table.table == "ck").flat_map(|ch| ch.events.clone()).collect();
    let got: Vec<(Value, Value, Value)> = ck
        .iter()
        .map(|e| {
            let r = e.after.as_ref().unwrap();
            (r.values[0].clone(), r.values[1].clone(), r.values[2].clone())
        })
        .collect();
    assert_eq!(got, want, "every row once, in the server's key order (chunks of 2)");
    assert!(chunks.iter().filter(|ch| ch.table.table == "ck").count() >= 5);
    let nokey: Vec<ChangeEvent> =
        chunks.iter().filter(|ch| ch.table.table == "nokey").flat_map(|ch| ch.events.clone()).collect();
    assert_eq!(nokey.len(), 5, "the table without a key is read whole, as of the snapshot");
    assert!(nokey.iter().all(|e| e.key_columns.is_empty()));
    // The last row of the snapshot is marked, once, although the last table is empty.
    let marks: Vec<SnapshotMark> = chunks.iter().flat_map(|ch| (0..ch.events.len()).map(move |i| ch.mark(i))).collect();
    assert_eq!(marks.iter().filter(|m| **m == SnapshotMark::Last).count(), 1);
    assert_eq!(marks.last(), Some(&SnapshotMark::Last));
    assert_eq!(chunks.last().unwrap().table.table, "empty_last");
    assert_eq!(chunks.last().unwrap().state, TableState::Done { rows: 0 });

    // Streaming from the point yields exactly the changes made after it.
    let mut cfg = srv.source_config("snap-point");
    cfg.schemas = vec![db.clone()];
    let mut src = start_source(cfg, StartPosition::At(point.position.clone())).await;
    let after = collect_events(&mut src.rx, 2, Duration::from_secs(20)).await;
    src.stop().await.unwrap();
    let ops: Vec<(Op, String)> = after.iter().map(|e| (e.op, e.source.table.to_string())).collect();
    assert_eq!(ops, vec![(Op::Create, "ck".into()), (Op::Delete, "nokey".into())]);

    // Single chunks outside a consistent snapshot (the watermark snapshot's reads): a table
    // without a key comes whole, a keyed one after the given key.
    let mut conn = mysql_async::Conn::new(srv.opts(REPL_USER, REPL_PASSWORD)).await.unwrap();
    cdc_core::snapshot::prepare_session(&mut conn).await.unwrap();
    let nk = cdc_core::snapshot::TableLayout::load(&mut conn, &TableId::new(&db, "nokey")).await.unwrap();
    let ev = cdc_core::snapshot::ReadEvents::new("w", &point, &nk);
    let whole = cdc_core::snapshot::read_chunk(&mut conn, &nk, None, 2, &ev, 0).await.unwrap();
    assert_eq!((whole.events.len(), whole.exhausted, whole.last_key.is_none()), (4, true, true));
    let ckl = cdc_core::snapshot::TableLayout::load(&mut conn, &TableId::new(&db, "ck")).await.unwrap();
    let ev = cdc_core::snapshot::ReadEvents::new("w", &point, &ckl);
    let TableState::InProgress { after: Some(after), .. } = &chunks[0].state else { panic!("{:?}", chunks[0].state) };
    let next = cdc_core::snapshot::read_chunk(&mut conn, &ckl, Some(after), 3, &ev, 0).await.unwrap();
    let values = |evs: &[ChangeEvent]| evs.iter().map(|e| e.after.as_ref().unwrap().values.clone()).collect::<Vec<_>>();
    // The first chunk ended after 2 rows; then ck's 3rd and 4th rows and (5, 'late'), written
    // after the snapshot began (this read is outside it), which sorts after (1, '😀').
    assert_eq!(values(&next.events[..2]), values(&ck[2..4]));
    assert_eq!(next.events[2].after.as_ref().unwrap().values[3], Value::Int(10));
    assert!(!next.exhausted);

    // Resume after the second chunk of ck: the rest, nothing twice (rows read at the new point).
    let mut resume = SnapshotProgress::new(tables.clone());
    let second = chunks.iter().filter(|ch| ch.table.table == "ck").nth(1).unwrap();
    resume.set(&second.table, second.state.clone());
    resume.point = Some(point.clone());
    let json = serde_json::to_string(&resume).unwrap();
    let resume: SnapshotProgress = serde_json::from_str(&json).unwrap();
    let (chunks2, out2) = snapshot(&srv, resume, 2).await;
    assert_eq!(out2.progress.point, Some(point), "the first run's point is kept");
    let rest: Vec<Value> = chunks2
        .iter()
        .filter(|ch| ch.table.table == "ck")
        .flat_map(|ch| ch.events.iter().map(|e| e.after.as_ref().unwrap().values[3].clone()))
        .collect();
    let mut want_rest: Vec<Value> = ck[4..].iter().map(|e| e.after.as_ref().unwrap().values[3].clone()).collect();
    // The late row (5, 'late') sorts after key 1 and before 2^63 - 1: it is in the resumed read.
    let late = want_rest.iter().position(|v| *v == Value::Int(5)).unwrap();
    want_rest.insert(late, Value::Int(10));
    assert_eq!(rest, want_rest);
    match &second.state {
        TableState::InProgress { rows, .. } => assert_eq!(*rows, 4),
        s => panic!("{s:?}"),
    }
}
