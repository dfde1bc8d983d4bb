//! The all-types workload decoded from three MariaDB servers that differ only in
//! `binlog_row_metadata`: FULL (names, signedness, charsets, ENUM/SET labels and primary key in
//! every TABLE_MAP), MINIMAL (signedness and charsets only) and NO_LOG (nothing: the shape of
//! MySQL 5.7 and of the OceanBase binlog service). What the TABLE_MAP lacks comes from
//! `information_schema` (`cdc-core/src/source/schema.rs`); VARCHAR and VARBINARY share one wire
//! type, so a NULL `CHARACTER_SET_NAME` is what makes a column binary.
//!
//! The same seeded statements (one writer, so the same order) run on each server, after a few
//! fixed rows that put runs of 0x00 and 0xFF, invalid UTF-8 and trailing zeros (BINARY(n)
//! padding) into every binary column. Each server's events must rebuild its tables exactly (the
//! verifier against `SELECT *`), and the three event streams must be the same row images with
//! the same primary-key columns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_tests::mariadb::{collect_events, exec, server, server_minimal, server_nolog, start_source, TestServer};
use cdc_tests::verify::{verify_workload, TopicEvent};
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

/// Rows outside the workload's key space (ids ≥ 1000) with the byte patterns random bytes may
/// miss, in every binary column: 0x00 runs, 0xFF runs, invalid UTF-8, values ending in 0x00
/// (which the binlog strips from BINARY(n) and the reader must pad back), an all-zero and an
/// empty BINARY(20) (both stored as 20 zero bytes), VARBINARY keys that are not UTF-8.
const FIXED_ROWS: &[&str] = &[
    "INSERT INTO w_bin (id, k, b1, b20, vb, tb, bb, lb, c70, cl, vl, tt, e, st) VALUES \
     (1001, X'ff', X'00', X'0000ff00', X'00000000ffffffffc328eda08000', X'ffff00ff', X'c3', X'80808080', \
      REPEAT('😀', 70), 'ÿé ', 'ß\\\\', 'tt', 'b\\\\s', 'u\\\\v,q''r'), \
     (1002, X'00', X'ff', X'ffffffffffffffffffffffffffffffffffffffff', X'', X'', X'', X'', \
      '', '', '', '', 'y''z', ''), \
     (1003, X'c3', X'', X'', X'00', X'00', X'0000', X'ff', 'a ', 'a', 'a', '', 'a,b', 's t'), \
     (1004, X'', X'80', X'00000000000000000000000000000000000000', \
      CONCAT(REPEAT(X'00', 100), REPEAT(X'ff', 100), REPEAT(X'c0af', 50)), REPEAT(X'fe', 255), \
      REPEAT(X'ed9fbfeda080', 100), REPEAT(X'00ff', 5000), REPEAT('李', 70), NULL, NULL, NULL, NULL, NULL), \
     (1005, X'e29c', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "INSERT INTO w_text (a, b, bin, vb, bl) VALUES \
     (1001, 'a', X'ff00', X'00ff00ffc3', CONCAT(REPEAT(X'ff', 300), REPEAT(X'00', 300), X'c328')), \
     (1002, 'a', X'', X'', X''), (1003, 'a', X'0000', X'80', X'f8888080'), \
     (1004, 'a', X'00ffc300', X'ffffffff', X'00')",
    // An update and a delete of fixed rows: before images with the same bytes.
    "UPDATE w_bin SET b20 = X'00ff', vb = X'ff00ff' WHERE id = 1003",
    "DELETE FROM w_text WHERE a = 1002",
    // Facts the workload's tables do not exercise: signedness after a YEAR (the signedness
    // metadata counts YEAR among numeric columns), a GEOMETRY before strings (MariaDB counts it
    // among character columns), virtual, stored and invisible columns, a key that is not the
    // first column, an ENUM whose labels are numbers.
    "CREATE TABLE m_extra (y YEAR, u INT UNSIGNED, g POINT, v VARCHAR(5), vb VARBINARY(5), \
     gv BIGINT AS (u + 1) VIRTUAL, gs BIGINT AS (u + 2) STORED, inv INT UNSIGNED INVISIBLE, \
     d DECIMAL(10,3) UNSIGNED, bt BIT(3), e ENUM('10','2'), id SMALLINT UNSIGNED, PRIMARY KEY (id)) CHARSET utf8mb4",
    "INSERT INTO m_extra (y, u, g, v, vb, inv, d, bt, e, id) VALUES \
     (2155, 4294967295, ST_GeomFromText('POINT(1 2)'), 'é😀', X'ff00', 4294967295, 9999999.999, 7, '2', 65535)",
];

/// m_extra's row as every server must decode it (base64 of the POINT's SRID + WKB).
const EXTRA_ROW: &str = concat!(
    r#"{"y":2155,"u":4294967295,"g":"AAAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQA==","v":"é😀","vb":"/wA=","#,
    r#""gv":4294967296,"gs":4294967297,"inv":4294967295,"d":"9999999.999","bt":7,"e":"2","id":65535}"#
);

/// One event as it must be the same on every server: table, op, key column indexes, before and
/// after images (JSON).
type Image = (String, String, Vec<usize>, Json, Json);

/// What one server's run produced.
struct Run {
    metadata: &'static str,
    /// The schema it wrote.
    schema: String,
    images: Vec<Image>,
    /// The verifier's findings, or the source's error; empty when clean.
    problems: Vec<String>,
}

async fn run_on(db: TestServer, metadata: &'static str, seed: u64) -> Run {
    let mut c = db.admin_conn().await;
    let actual: Option<String> = c.query_first("SELECT @@binlog_row_metadata").await.unwrap();
    assert_eq!(actual.as_deref(), Some(metadata), "the server on {}:{} is not the {metadata} one", db.host, db.port);
    let schema = db.fresh_schema(&format!("rel_meta_{}", metadata.to_ascii_lowercase())).await;
    workload::create_tables(&mut c, &schema).await;
    let mut cfg = db.source_config(&format!("rel-meta-{metadata}"));
    cfg.schemas = vec![schema.clone()];
    let mut src = start_source(cfg, StartPosition::Latest).await;

    let mut fixed = vec![format!("USE `{schema}`")];
    fixed.extend(FIXED_ROWS.iter().map(|s| s.to_string()));
    exec(&mut c, &fixed.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut w = WorkloadConfig::burst(seed, schema.clone(), 80);
    w.workers = 1;
    w.rollback_fraction = 0.1;
    w.key_space = 40;
    workload::start(&db, &w).join().await;
    // A marker row last, so every workload event is received before it.
    exec(&mut c, &[&format!("INSERT INTO `{schema}`.w_bulk VALUES (999999, 1, 'end')")]).await;

    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !events.iter().any(|e: &cdc_core::event::ChangeEvent| e.source.event.table.as_ref() == "w_bulk") {
        if std::time::Instant::now() > deadline || src.handle.is_finished() {
            break;
        }
        events.extend(collect_events(&mut src.rx, 1, Duration::from_millis(500)).await);
    }
    let mut problems = Vec::new();
    if let Err(e) = src.stop().await {
        problems.push(format!("the source stopped: {e}"));
    }
    let json: Vec<Json> = events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    if !json.iter().any(|e| e["after"]["id"] == 999999) {
        problems.push(format!("the marker row never arrived ({} events)", json.len()));
    }
    let topic: Vec<TopicEvent> = json
        .iter()
        .enumerate()
        .map(|(i, event)| TopicEvent {
            shard: "0".into(),
            sequence: i as i64,
            event: event.clone(),
            attributes: Default::default(),
        })
        .collect();
    let report = verify_workload(&mut c, &topic, &schema).await;
    if !report.is_clean() || report.duplicates != 0 {
        problems.push(report.to_string());
    }
    if let Some(e) = events.iter().find(|e| e.key_columns.is_empty()) {
        problems.push(format!("an event of {} without primary-key columns", e.source.event.table));
    }
    let images = events
        .iter()
        .zip(json)
        .map(|(e, j)| {
            (
                e.source.event.table.to_string(),
                j["op"].to_string(),
                e.key_columns.to_vec(),
                j["before"].clone(),
                j["after"].clone(),
            )
        })
        .collect();
    Run { metadata, schema, images, problems }
}

/// Sends every WARN-or-worse log line of the process (the source runs on other threads) to a
/// buffer the test reads at the end.
fn capture_warnings() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(buf.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_types_workload_decodes_the_same_with_full_minimal_and_no_log_row_metadata() {
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let log = capture_warnings();
    let (full, minimal, nolog) = tokio::join!(server(), server_minimal(), server_nolog());
    let runs =
        [run_on(full, "FULL", seed).await, run_on(minimal, "MINIMAL", seed).await, run_on(nolog, "NO_LOG", seed).await];
    let mut failures = Vec::new();
    for r in &runs {
        for p in &r.problems {
            failures.push(format!("{}: {p}", r.metadata));
        }
    }
    for r in &runs {
        let extra: Vec<&Json> = r.images.iter().filter(|i| i.0 == "m_extra").map(|i| &i.4).collect();
        if extra.len() != 1 || *extra[0] != serde_json::from_str::<Json>(EXTRA_ROW).unwrap() {
            failures.push(format!("{}: m_extra decoded as {extra:?}", r.metadata));
        }
    }
    let warnings = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    eprintln!("{warnings}");
    // Other tests of this binary run meanwhile; only this test's schemas count.
    let mine = |l: &&str| runs.iter().any(|r| l.contains(&format!("table={}.", r.schema)));
    for w in warnings.lines().filter(|l| l.contains("WARN")).filter(mine) {
        // A disagreement between the metadata and information_schema, or a fact neither gave,
        // is a decoder bug here: nothing changes the tables while the test runs.
        failures.push(format!("warning: {w}"));
    }
    let reference = &runs[0];
    assert!(reference.images.len() > 100, "FULL: only {} events", reference.images.len());
    for r in &runs[1..] {
        if r.images.len() != reference.images.len() {
            failures.push(format!("{}: {} events, FULL {}", r.metadata, r.images.len(), reference.images.len()));
        }
        if let Some((i, (a, b))) = r.images.iter().zip(&reference.images).enumerate().find(|(_, (a, b))| a != b) {
            failures.push(format!("{}: event {i} differs from FULL's:\n  {a:?}\n  FULL: {b:?}", r.metadata));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rows written before an `ALTER TABLE ... ADD COLUMN` and read after it (a source behind the
/// server): `information_schema` then describes the new table. With FULL metadata the rows are
/// decoded from the TABLE_MAP alone; without names in it (MINIMAL, NO_LOG) the source stops with
/// an error saying why, instead of naming the old rows' values after the new columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_an_alter_stop_the_source_unless_the_table_map_names_the_columns() {
    let (full, minimal, nolog) = tokio::join!(server(), server_minimal(), server_nolog());
    for (db, metadata) in [(full, "FULL"), (minimal, "MINIMAL"), (nolog, "NO_LOG")] {
        let schema = db.fresh_schema("rel_meta_alter").await;
        let mut c = db.admin_conn().await;
        exec(
            &mut c,
            &[&format!("USE `{schema}`"), "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b VARBINARY(4))"],
        )
        .await;
        let (file, pos): (String, u64) = {
            let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().expect("binlog on");
            (row.get(0).unwrap(), row.get(1).unwrap())
        };
        exec(
            &mut c,
            &[
                "INSERT INTO t VALUES (1, 'x', X'ff')",
                "ALTER TABLE t ADD COLUMN c INT AFTER id",
                "INSERT INTO t VALUES (2, 5, 'y', X'00')",
            ],
        )
        .await;
        let mut cfg = db.source_config("rel-meta-alter");
        cfg.schemas = vec![schema.clone()];
        let at = cdc_core::position::BinlogPosition::new(file, pos);
        let mut src = start_source(cfg, StartPosition::At(at)).await;
        let mut events = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while events.len() < 2 && !src.handle.is_finished() && std::time::Instant::now() < deadline {
            events.extend(collect_events(&mut src.rx, 1, Duration::from_millis(200)).await);
        }
        let end = src.stop().await;
        let rows: Vec<String> = events.iter().map(|e| serde_json::to_string(&e.after).unwrap()).collect();
        if metadata == "FULL" {
            end.unwrap_or_else(|e| panic!("FULL: {e}"));
            assert_eq!(rows, [r#"{"id":1,"a":"x","b":"/w=="}"#, r#"{"id":2,"c":5,"a":"y","b":"AA=="}"#]);
        } else {
            let err = end.expect_err(&format!("{metadata}: decoded {rows:?} with today's columns"));
            let text = err.to_string();
            assert!(
                text.contains("information_schema describes another version of the table")
                    && text.contains("information_schema lists 4 columns, the TABLE_MAP 3")
                    && text.contains("binlog_row_metadata=FULL"),
                "{metadata}: {text}"
            );
            assert!(events.is_empty(), "{metadata}: {rows:?}");
        }
    }
}
