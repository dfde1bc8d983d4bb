//! A real Flink reads the topic: the all-types workload (`cdc_tests::workload`) plus a table of
//! edge values runs against the real MariaDB, the pipeline ships it to the DataHub emulator, and
//! the BLOB records are written as `debezium-json` files (a directory per table, a file per
//! shard, records in shard order) that PyFlink 2.3.0 (`scripts/flink-venv`,
//! `tests/python/flink_rebuild.py`) reads with the `filesystem` connector, each table declared
//! in the README's MySQL → Flink types ([`flink_type`]) with ONE option set
//! (`debezium-json.timestamp-format.standard` = `SQL`, `table.exec.source.cdc-events-duplicate`
//! = true, a PRIMARY KEY). Each shard file ends with a replay of its last third, as after a
//! collector restart (at-least-once). Flink's rebuilt tables must equal `SELECT *`, value by
//! value.
//!
//! JSON columns are LONGTEXT in MariaDB (strings on the wire); MySQL's binary JSON documents
//! (`Value::Json`) are covered by events the contract encoder writes for a table of documents.
//!
//! `CDC_TEST_FLINK=skip` skips the test (with a message on stderr) on a machine without Java or
//! PyPI; anything else that keeps Flink from running fails it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::datahub::{DataHubSink, RetryPolicy};
use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::pipeline::{self, PipelineConfig};
use cdc_core::position::StartPosition;
use cdc_core::source::BinlogSource;
use cdc_core::status::Status;
use cdc_tests::mariadb::{exec, server, TestServer};
use cdc_tests::pipeline::{Hub, Running};
use cdc_tests::pydatahub::repo_root;
use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};
use datahub_emulator::RecordData;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "flink_project";
const TOPIC: &str = "flink_events";
const ID: &str = "flink_id";
const KEY: &str = "flink_secret_key";
const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

/// The one option set a Flink user writes (README "Reading the topic with Flink").
const FORMAT_OPTIONS: [(&str, &str); 1] = [("debezium-json.timestamp-format.standard", "SQL")];

/// Columns of values the workload does not write: every integer width and sign, BIT(1) and
/// BIT(64), DECIMAL beyond Flink's 38 digits, the DATETIME/TIMESTAMP range ends, TIME within a
/// day (what Flink's TIME holds), CHAR padding, BINARY padding, GEOMETRY, latin1 text.
const EDGE_DDL: &str = "(id INT PRIMARY KEY, b1 TINYINT(1), tu TINYINT UNSIGNED, su SMALLINT UNSIGNED, \
     mi MEDIUMINT, iu INT UNSIGNED, bu BIGINT UNSIGNED, bi BIGINT, d38 DECIMAL(38,10), d65 DECIMAL(65,30), \
     du DECIMAL(5,0) UNSIGNED, bit1 BIT(1), bit64 BIT(64), dt0 DATETIME, dt6 DATETIME(6), ts0 TIMESTAMP NULL, \
     ts3 TIMESTAMP(3) NULL, t0 TIME, t3 TIME(3), d DATE, c CHAR(5), bn BINARY(3), tb TINYBLOB, g GEOMETRY, \
     l TEXT CHARACTER SET latin1, y YEAR, f FLOAT, dbl DOUBLE, e ENUM('x','y'), s SET('p','q')) CHARSET utf8mb4";

const EDGE_ROWS: [&str; 4] = [
    "(1, 1, 255, 65535, -8388608, 4294967295, 18446744073709551615, -9223372036854775808, \
      '-9999999999999999999999999999.9999999999', '-99999999999999999999999999999999999.999999999999999999999999999999', \
      99999, b'1', b'1111111111111111111111111111111111111111111111111111111111111111', \
      '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', '2038-01-19 03:14:07.999', \
      '00:00:00', '23:59:59.999', '1000-01-01', 'ab', X'0100', X'00FF00', ST_GeomFromText('POINT(1 2)'), \
      'café', 1901, -3.4028234e38, -1.7976931348623157e308, 'y', 'p,q')",
    "(2, 0, 0, 0, 8388607, 0, 9223372036854775808, 9223372036854775807, \
      '0.0000000001', '0.000000000000000000000000000001', 0, b'0', b'0', \
      '2024-02-29 23:59:59', '1000-01-01 00:00:00.000001', '2038-01-19 03:14:07', '2000-01-01 00:00:00.000', \
      '12:34:56', '00:00:00.001', '9999-12-31', '', X'', X'', NULL, '', 2155, 1.17549435e-38, 2.2250738585072014e-308, 'x', '')",
    "(3, -128, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, 127, 1, 1, 1, 1, 1, 1, '1', '1', 1, b'1', 1, '2000-01-01', '2000-01-01', '2000-01-01', '2000-01-01', \
      '01:00:00', '01:00:00', '2000-01-01', 'x', X'01', X'01', NULL, 'x', 2000, 0.5, 0.25, 'x', 'p')",
];

/// The Flink type a MySQL column is declared as (the README's type table), from its
/// `information_schema.COLUMNS` facts: `DATA_TYPE`, `COLUMN_TYPE`, `NUMERIC_PRECISION`,
/// `NUMERIC_SCALE`, `DATETIME_PRECISION`.
fn flink_type(
    data_type: &str,
    column_type: &str,
    precision: Option<u64>,
    scale: Option<u64>,
    fsp: Option<u64>,
) -> String {
    let unsigned = column_type.contains("unsigned");
    let p = precision.unwrap_or(0);
    let fsp = fsp.unwrap_or(0);
    match data_type {
        "tinyint" if unsigned => "SMALLINT".into(),
        "tinyint" => "TINYINT".into(),
        "smallint" if unsigned => "INT".into(),
        "smallint" => "SMALLINT".into(),
        "mediumint" => "INT".into(),
        "int" if unsigned => "BIGINT".into(),
        "int" => "INT".into(),
        "bigint" if unsigned => "DECIMAL(20, 0)".into(),
        "bigint" => "BIGINT".into(),
        "decimal" if p <= 38 => format!("DECIMAL({p}, {})", scale.unwrap_or(0)),
        "decimal" => "STRING".into(),
        "float" => "FLOAT".into(),
        "double" => "DOUBLE".into(),
        "year" => "INT".into(),
        "bit" if p <= 63 => "BIGINT".into(),
        "bit" => "DECIMAL(20, 0)".into(),
        "date" => "DATE".into(),
        "datetime" => format!("TIMESTAMP({fsp})"),
        "timestamp" => format!("TIMESTAMP_LTZ({fsp})"),
        "time" => format!("TIME({fsp})"),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" | "json" => {
            "STRING".into()
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "geometry" | "point"
        | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection" => {
            "BYTES".into()
        }
        other => panic!("no Flink type for MySQL type {other} ({column_type})"),
    }
}

/// One column: name, MySQL `DATA_TYPE`, Flink type.
type Column = (String, String, String);

/// An `information_schema.COLUMNS` row: `COLUMN_NAME`, `DATA_TYPE`, `COLUMN_TYPE`,
/// `NUMERIC_PRECISION`, `NUMERIC_SCALE`, `DATETIME_PRECISION`.
type ColumnFacts = (String, String, String, Option<u64>, Option<u64>, Option<u64>);

/// The columns of `db.table` with their Flink types; `as_string` columns are declared STRING.
async fn columns(c: &mut mysql_async::Conn, db: &str, table: &str, as_string: &[&str]) -> Vec<Column> {
    let rows: Vec<ColumnFacts> = c
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .expect("information_schema.COLUMNS");
    rows.into_iter()
        .map(|(name, dt, ct, p, s, fsp)| {
            let ty = if as_string.contains(&name.as_str()) { "STRING".into() } else { flink_type(&dt, &ct, p, s, fsp) };
            (name, dt, ty)
        })
        .collect()
}

/// `scripts/flink-venv`'s python (installs PyFlink, and Java when missing, on first use).
fn flink_python() -> PathBuf {
    let root = repo_root();
    let out = Command::new(root.join("scripts/flink-venv"))
        .current_dir(&root)
        .output()
        .expect("scripts/flink-venv can be run (bash, python3)");
    assert!(
        out.status.success(),
        "scripts/flink-venv failed ({}); set CDC_TEST_FLINK=skip only on a machine that cannot run Flink:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8").lines().last().expect("python path").trim())
}

/// Runs `flink_rebuild.py` on `job`; returns table → rows (column → Flink's value).
fn run_flink(job: &Json, dir: &Path) -> BTreeMap<String, Vec<serde_json::Map<String, Json>>> {
    let python = flink_python();
    let job_file = dir.join("job.json");
    std::fs::write(&job_file, serde_json::to_vec_pretty(job).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/flink_rebuild.py"))
        .arg(&job_file)
        .output()
        .expect("the Flink venv's python runs");
    eprintln!("Flink ran for {:.1} s", started.elapsed().as_secs_f64());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Flink could not read the topic ({}):\n{}", out.status, tail(&stderr, 60));
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Json = serde_json::from_str(l).expect("a JSON line per table");
            eprintln!(
                "Flink rebuilt {}: {} rows from {} changes",
                v["table"],
                v["rows"].as_array().unwrap().len(),
                v["changes"]
            );
            let rows = v["rows"].as_array().unwrap().iter().map(|r| r.as_object().unwrap().clone()).collect();
            (v["table"].as_str().unwrap().to_owned(), rows)
        })
        .collect()
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().filter(|l| !l.contains(" WARN ")).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `[-]H+:MM:SS[.f]` as (negative, microseconds).
fn time_micros(s: &str) -> Option<(bool, u64)> {
    let (neg, rest) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut it = hms.split(':').map(|x| x.parse::<u64>());
    let (h, m, sec) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    let micros: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").get(..6)?.parse().ok()? };
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + micros;
    Some((neg && total != 0, total))
}

/// Whether Flink's value `flink` (declared `flink_ty`) is the database's value `db` (text
/// protocol bytes) of MySQL type `data_type`.
fn same(data_type: &str, flink_ty: &str, db: Option<&[u8]>, flink: &Json) -> bool {
    use base64::Engine as _;
    let (Some(db), Some(fl)) = (db, text(flink)) else { return db.is_none() && flink.is_null() };
    let db_text = || String::from_utf8_lossy(db).into_owned();
    let close = |tol: f64| match (db_text().parse::<f64>(), fl.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b || (a - b).abs() <= tol * a.abs().max(b.abs()),
        _ => false,
    };
    let stamp = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok();
    match data_type {
        "float" => close(1e-5),
        "double" => close(1e-12),
        "datetime" | "timestamp" => stamp(&db_text()).is_some() && stamp(&db_text()) == stamp(&fl),
        "time" => time_micros(&db_text()).is_some() && time_micros(&db_text()) == time_micros(&fl),
        "bit" => db.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)).to_string() == fl,
        _ if flink_ty == "BYTES" => base64::engine::general_purpose::STANDARD.encode(db) == fl,
        _ => db_text() == fl,
    }
}

/// Compares Flink's rows of `db.table` with `SELECT *`; returns the differences found.
async fn compare(
    c: &mut mysql_async::Conn,
    db: &str,
    table: &str,
    key: &[&str],
    cols: &[Column],
    flink: &[serde_json::Map<String, Json>],
) -> Vec<String> {
    c.query_drop("SET time_zone = '+00:00'").await.unwrap();
    let rows: Vec<mysql_async::Row> = c.query(format!("SELECT * FROM `{db}`.`{table}`")).await.unwrap();
    let raw = |row: &mysql_async::Row, i: usize| match row.as_ref(i).expect("value") {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(b.clone()),
        other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
    };
    let key_of_db = |row: &mysql_async::Row| -> Vec<Option<String>> {
        key.iter()
            .map(|k| {
                let i = cols.iter().position(|(n, ..)| n == k).expect("key column");
                // Flink's rows carry BYTES as base64 (flink_rebuild.py): key binary columns so.
                if cols[i].2 == "BYTES" {
                    use base64::Engine as _;
                    return raw(row, i).map(|b| base64::engine::general_purpose::STANDARD.encode(b));
                }
                raw(row, i).map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .collect()
    };
    let key_of_flink =
        |r: &serde_json::Map<String, Json>| -> Vec<Option<String>> { key.iter().map(|k| text(&r[*k])).collect() };
    let mut by_key: BTreeMap<Vec<Option<String>>, &serde_json::Map<String, Json>> =
        flink.iter().map(|r| (key_of_flink(r), r)).collect();
    let mut diffs = Vec::new();
    for row in &rows {
        let k = key_of_db(row);
        let Some(fr) = by_key.remove(&k) else {
            diffs.push(format!("{table} key {k:?}: in the database, not in Flink's table"));
            continue;
        };
        for (i, (name, dt, fty)) in cols.iter().enumerate() {
            let dbv = raw(row, i);
            let fv = fr.get(name).cloned().unwrap_or(Json::Null);
            if !same(dt, fty, dbv.as_deref(), &fv) {
                let shown = dbv.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                diffs.push(format!("{table} key {k:?} column {name} ({dt} as {fty}): database {shown:?}, Flink {fv}"));
            }
        }
    }
    for k in by_key.keys() {
        diffs.push(format!("{table} key {k:?}: in Flink's table, not in the database"));
    }
    diffs
}

/// MySQL JSON documents (which MariaDB does not have: its JSON is LONGTEXT), as the contract
/// encoder writes them: the events (a create per document; document 7 created, then deleted)
/// and, per id, the text Flink's STRING must hold (None: SQL NULL).
fn json_document_events() -> (Vec<Vec<u8>>, BTreeMap<String, Json>) {
    let docs: Vec<(i64, Option<Json>, Option<&str>)> = vec![
        (1, Some(json!({"a": [1, 2.5, null], "b": {"c": "d"}})), Some(r#"{"a":[1,2.5,null],"b":{"c":"d"}}"#)),
        (2, Some(json!("a string")), Some(r#""a string""#)),
        (3, Some(json!(null)), Some("null")),
        (4, Some(json!(12)), Some("12")),
        (5, Some(json!([true, false])), Some("[true,false]")),
        (6, None, None),
        (7, Some(json!({"gone": 1})), None),
    ];
    let columns: Arc<[Arc<str>]> = vec![Arc::from("id"), Arc::from("doc")].into();
    let event = |op: Op, id: i64, doc: &Option<Json>, pos: u64| {
        let row = Row {
            columns: columns.clone(),
            values: vec![Value::Int(id), doc.clone().map_or(Value::Null, |d| Value::Json(Box::new(d)))],
        };
        let (before, after) = if op == Op::Delete { (Some(row), None) } else { (None, Some(row)) };
        let info = RowsEventInfo {
            name: "flink".into(),
            server_id: 1,
            db: "mysql_only".into(),
            table: "f_json".into(),
            file: "binlog.000001".into(),
            pos,
            gtid: None,
            ts_ms: 0,
            origin: cdc_core::event::Origin::Binlog,
        };
        ChangeEvent {
            op,
            before,
            after,
            source: SourceInfo::new(info, 0),
            ts_ms: 0,
            transaction: None,
            key_columns: vec![0usize].into(),
        }
        .to_json_bytes()
    };
    let mut events: Vec<Vec<u8>> =
        docs.iter().map(|(id, doc, _)| event(Op::Create, *id, doc, 100 + *id as u64)).collect();
    events.push(event(Op::Delete, 7, &docs[6].1, 200));
    let expected = docs
        .iter()
        .filter(|(id, ..)| *id != 7)
        .map(|(id, _, text)| (id.to_string(), text.map_or(Json::Null, |t| json!(t))))
        .collect();
    (events, expected)
}

async fn start_pipeline(
    db: &TestServer,
    schema: &str,
    emu: &datahub_emulator::EmulatorHandle,
    offsets: &FileOffsetStore,
) -> (Status, CancellationToken, tokio::task::JoinHandle<Result<(), pipeline::PipelineError>>) {
    let mut scfg = db.source_config("flink");
    scfg.schemas = vec![schema.to_owned()];
    let status = Status::new();
    let source = BinlogSource::new(scfg, status.clone());
    let mut dcfg = HUB.sink_config(emu);
    dcfg.retry = RetryPolicy { max_attempts: 3, backoff_ms: 10, max_backoff_ms: 100 };
    let sink = DataHubSink::connect(dcfg).await.expect("DataHub sink connects");
    let pcfg = PipelineConfig {
        start: StartPosition::Latest,
        checkpoint_interval_ms: 100,
        sink_retry_initial_ms: 20,
        sink_retry_max_ms: 300,
        ..PipelineConfig::default()
    };
    let run = Running::spawn(source, sink, offsets, pcfg, status);
    run.wait_ready(500).await;
    (run.status, run.cancel, run.task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_rebuilds_every_table_of_the_all_types_workload_with_one_option_set() {
    if std::env::var("CDC_TEST_FLINK").is_ok_and(|v| v == "skip") {
        eprintln!(
            "\n!!!!!!!! SKIPPED flink_debezium: CDC_TEST_FLINK=skip says this machine cannot run Flink. \
             The event contract's Flink promise is NOT checked by this run. !!!!!!!!\n"
        );
        return;
    }
    // Install (or find) PyFlink before the database work, so a broken install fails fast.
    let _ = flink_python();
    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("flink").await;
    let mut c = db.admin_conn().await;
    workload::create_tables(&mut c, &schema).await;
    exec(&mut c, &[&format!("CREATE TABLE `{schema}`.f_edge {EDGE_DDL}")]).await;
    let emu = HUB.start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let (status, cancel, task) = start_pipeline(&db, &schema, &emu, &offsets).await;

    let mut w = WorkloadConfig::burst(seed, schema.clone(), 60);
    w.key_space = 60;
    let stats = workload::start(&db, &w).join().await;
    eprintln!("workload: {stats:?}");
    // w_bulk is written only by the workload's large transaction: a small one, twice (updates).
    for _ in 0..2 {
        workload::big_transaction(&mut c, &schema, 100).await.expect("w_bulk rows");
    }
    let edge = format!("`{schema}`.f_edge");
    exec(
        &mut c,
        &[
            "SET time_zone = '+00:00'",
            &format!("INSERT INTO {edge} VALUES {}", EDGE_ROWS.join(",")),
            &format!("UPDATE {edge} SET c = 'upd', t0 = '23:59:59' WHERE id = 2"),
            &format!("UPDATE {edge} SET id = 5 WHERE id = 4"),
            &format!("DELETE FROM {edge} WHERE id = 3"),
            &format!("INSERT INTO {edge} (id) VALUES (3)"),
        ],
    )
    .await;

    // Wait until everything written is acknowledged, then stop.
    let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().expect("binlog on");
    let (file, pos): (String, u64) = (row.get(0).unwrap(), row.get(1).unwrap());
    let target = (file.rsplit('.').next().unwrap().parse::<u64>().unwrap(), pos);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while offsets
        .load()
        .unwrap()
        .is_none_or(|cp| (cp.position().unwrap().file_index().unwrap(), cp.position().unwrap().pos) < target)
    {
        assert!(std::time::Instant::now() < deadline, "not caught up: {:?}", status.snapshot());
        assert!(!task.is_finished(), "pipeline stopped: {:?}", status.snapshot());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    task.await.unwrap().expect("pipeline ends cleanly");

    // The topic as debezium-json files: a directory per table, a file per shard.
    let mut records = emu.all_records(PROJECT, TOPIC);
    records.sort_by(|a, b| (a.0.as_str(), a.1.sequence).cmp(&(b.0.as_str(), b.1.sequence)));
    let mut files: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for (shard, r) in &records {
        let RecordData::Blob(data) = &r.data else { panic!("BLOB records expected") };
        let ev: Json = serde_json::from_slice(data).expect("contract JSON");
        assert_eq!(ev["source"]["contract"], 2, "the envelope names its contract version");
        if ev["source"]["db"] != schema.as_str() {
            continue;
        }
        let f = files.entry((ev["source"]["table"].as_str().unwrap().to_owned(), shard.clone())).or_default();
        f.extend_from_slice(data);
        f.push(b'\n');
    }
    // At-least-once: after a collector restart the events since the last checkpoint arrive
    // again. Each shard file ends with its last third once more, which
    // `table.exec.source.cdc-events-duplicate` must absorb.
    let mut replayed = 0;
    for data in files.values_mut() {
        let lines: Vec<&[u8]> = data.split_inclusive(|b| *b == b'\n').collect();
        let again: Vec<u8> = lines[lines.len() - lines.len() / 3..].concat();
        replayed += lines.len() / 3;
        data.extend_from_slice(&again);
    }
    eprintln!("{replayed} events replayed (duplicates)");
    let topic_dir = dir.path().join("topic");
    for ((table, shard), data) in &files {
        std::fs::create_dir_all(topic_dir.join(table)).unwrap();
        std::fs::write(topic_dir.join(table).join(format!("shard-{shard}.json")), data).unwrap();
    }
    let (json_events, json_expected) = json_document_events();
    std::fs::create_dir_all(topic_dir.join("f_json")).unwrap();
    let mut data = Vec::new();
    for e in &json_events {
        data.extend_from_slice(e);
        data.push(b'\n');
    }
    std::fs::write(topic_dir.join("f_json/events.json"), data).unwrap();

    // The Flink job: every table in its README types. w_time.tm holds durations beyond a day
    // (-838:59:59..838:59:59), which Flink's TIME cannot: STRING, as the README says.
    let mut tables: Vec<(&str, Vec<&str>, Vec<Column>)> = Vec::new();
    for t in workload::TABLES {
        let as_string: &[&str] = if t.name == "w_time" { &["tm"] } else { &[] };
        tables.push((t.name, t.key.to_vec(), columns(&mut c, &schema, t.name, as_string).await));
    }
    tables.push(("f_edge", vec!["id"], columns(&mut c, &schema, "f_edge", &[]).await));
    let mut job_tables: Vec<Json> = tables
        .iter()
        .filter(|(name, ..)| files.keys().any(|(t, _)| t == name))
        .map(|(name, key, cols)| {
            json!({
                "name": name,
                "path": topic_dir.join(name),
                "columns": cols.iter().map(|(n, _, ty)| json!([n, ty])).collect::<Vec<_>>(),
                "key": key,
            })
        })
        .collect();
    assert_eq!(job_tables.len(), tables.len(), "every table has events: {:?}", files.keys().collect::<Vec<_>>());
    job_tables.push(json!({
        "name": "f_json", "path": topic_dir.join("f_json"),
        "columns": [["id", "BIGINT"], ["doc", "STRING"]], "key": ["id"],
    }));
    let options: serde_json::Map<String, Json> =
        FORMAT_OPTIONS.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let flink = run_flink(&json!({"options": options, "tables": job_tables}), dir.path());

    let mut diffs = Vec::new();
    let mut compared = 0;
    for (name, key, cols) in &tables {
        let rows = flink.get(*name).unwrap_or_else(|| panic!("Flink returned no table {name}"));
        compared += rows.len();
        diffs.extend(compare(&mut c, &schema, name, key, cols, rows).await);
    }
    let docs: BTreeMap<String, Json> =
        flink["f_json"].iter().map(|r| (r["id"].to_string(), r["doc"].clone())).collect();
    if docs != json_expected {
        diffs.push(format!("f_json: Flink {docs:?}, expected {json_expected:?}"));
    }
    assert!(compared > 50, "only {compared} rows compared: the workload wrote too little");
    // The comparison can fail: one changed DECIMAL and one missing row are reported.
    let (name, key, cols) = &tables[0];
    let mut wrong = flink[*name].clone();
    wrong[0].insert("d".into(), json!("-1.000001"));
    wrong.pop();
    let found = compare(&mut c, &schema, name, key, cols, &wrong).await;
    assert_eq!(found.len(), 2, "a changed value and a missing row: {found:#?}");
    assert!(
        diffs.is_empty(),
        "{} differences between Flink's tables and the database:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!(
        "Flink's tables equal the database: {compared} rows of {} tables, and {} JSON documents",
        tables.len(),
        docs.len()
    );
}
