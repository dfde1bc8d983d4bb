//! One collector, many tables, many topics (`cdc_core::datahub::MultiTopicSink`), against the real
//! MariaDB and the DataHub emulator started with no topics at all:
//!
//! - six tables (every type of the workload's tables, composite and binary keys, a table without
//!   a primary key) into auto-created per-table topics: DTS-layout TUPLE, DataWorks-layout
//!   TUPLE and BLOB, each read back through pydatahub and verified against `SELECT *` of its
//!   table (nothing missing, extra, different or reordered);
//! - a table created mid-stream gets its topic at its first row; a column added by ALTER TABLE
//!   is appended (AppendField) before the first record that carries it;
//! - an existing topic whose schema does not fit its table, and two tables on one TUPLE topic,
//!   are named by `inspect` (what `cdc-collector validate` prints) and refused at connect;
//! - values a field cannot hold (BIGINT -2^63 in a BIGINT field, DATETIME 9999-12-31
//!   23:59:59.999999 in a TIMESTAMP field) under `fail` (the collector stops naming
//!   db.table.column, the value and the binlog position) and `skip` (dead-letter topic, counter);
//! - faults on one topic while the others are written, and later batches flow to the other
//!   topics meanwhile; a shutdown during the fault and a restart: nothing lost or reordered anywhere, the
//!   checkpoint held back until every topic acknowledged.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::datahub::model::{NewField, NewRecordType, NewTopic};
use cdc_core::datahub::multi::{self, TopicRegistry};
use cdc_core::datahub::tuple::{Layout, TupleSchema};
use cdc_core::datahub::{
    Credentials, DataHubClient, DataHubConfig, FailureMode, MultiTopicSink, RecordKind, RetryPolicy, TopicCreation,
    TopicRouting, TopicsConfig,
};
use cdc_core::position::BinlogPosition;
use cdc_core::source::{BinlogSource, TableFilter};
use cdc_core::status::Status;
use cdc_tests::mariadb::{exec, server, TestServer};
use cdc_tests::pipeline::{binlog_end, order, streaming_config};
use cdc_tests::pydatahub;
use cdc_tests::verify::{verify_table, TopicEvent};
use datahub_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultKind, FaultRule, FaultTimes, Op as EmuOp};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};

const PROJECT: &str = "cdc_project";
const ID: &str = "topics_id";
const KEY: &str = "topics_secret_key";

/// The tables and their key columns (all columns for the table without a primary key).
const TABLES: [(&str, &[&str]); 6] = [
    ("w_nums", &["id"]),
    ("w_time", &["id"]),
    ("w_text", &["a", "b"]),
    ("w_bin", &["id", "k"]),
    ("w_bulk", &["id"]),
    ("w_nopk", &["n", "s"]),
];

fn recorder() -> &'static PrometheusHandle {
    static R: OnceLock<PrometheusHandle> = OnceLock::new();
    R.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("global recorder"))
}

/// An emulator with the project and no topic.
async fn emulator() -> EmulatorHandle {
    let mut cfg = EmulatorConfig::single(PROJECT, "unused", 1, ID, KEY);
    cfg.projects[0].topics.clear();
    Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("emulator starts")
}

fn base(emu: &EmulatorHandle) -> DataHubConfig {
    let mut c = DataHubConfig::new(emu.endpoint(), PROJECT, "placeholder", Credentials::new(ID, KEY));
    c.retry = RetryPolicy { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 100 };
    c.request_timeout_ms = 5_000;
    c
}

fn topics(template: &str, create: Option<RecordKind>, layout: Option<Layout>, mode: FailureMode) -> TopicsConfig {
    TopicsConfig {
        routing: TopicRouting::new(template, vec![]).expect("valid template"),
        layout,
        create: create.map(|record_type| TopicCreation { record_type, shard_count: 3, lifecycle_days: 1 }),
        failure_mode: mode,
        dead_letter_topic: "dead_letters".into(),
        // Fast re-sends, so the fault tests see recovery within seconds.
        resend_backoff: cdc_core::retry::Backoff::from_millis(50, 500),
        ..TopicsConfig::single("")
    }
}

/// The pipeline and its sink's topic registry.
struct Running {
    pipeline: cdc_tests::pipeline::Running,
    registry: TopicRegistry,
}

impl Running {
    async fn stop(self) {
        self.pipeline.stop(Duration::from_secs(30)).await;
    }
}

/// Connects the sink over the captured tables of `schema` (as the service does) and runs the
/// pipeline from the end of the binlog.
async fn start(
    db: &TestServer,
    schema: &str,
    emu: &EmulatorHandle,
    cfg: TopicsConfig,
    offsets: &FileOffsetStore,
) -> Result<Running, cdc_core::datahub::DataHubError> {
    let mut scfg = db.source_config("topics");
    scfg.schemas = vec![schema.to_owned()];
    let pool = multi::schema_pool(&scfg);
    let filter = TableFilter::new(&scfg.schemas, &scfg.tables).unwrap();
    let tables = multi::captured_tables(&mut pool.get_conn().await.unwrap(), &filter).await.unwrap();
    let registry = TopicRegistry::default();
    let sink = MultiTopicSink::connect(base(emu), cfg, Some(pool), &tables, registry.clone()).await?;
    let status = Status::new();
    let source = BinlogSource::new(scfg, status.clone());
    let pipeline = cdc_tests::pipeline::Running::spawn(source, sink, offsets, streaming_config(), status);
    pipeline.wait_ready(300).await;
    Ok(Running { pipeline, registry })
}

/// Waits until the checkpoint reaches the server's current binlog end, or panics.
async fn wait_caught_up(db: &TestServer, offsets: &FileOffsetStore, secs: u64) {
    let target = order(&binlog_end(db).await);
    for _ in 0..secs * 20 {
        if offsets.load().unwrap().and_then(|cp| cp.position().cloned()).is_some_and(|p| order(&p) >= target) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("checkpoint {:?} never reached {target:?}", offsets.load().unwrap());
}

async fn create_tables(db: &TestServer, schema: &str) -> mysql_async::Conn {
    let mut c = db.admin_conn().await;
    cdc_tests::workload::create_tables(&mut c, schema).await;
    exec(&mut c, &[&format!("CREATE TABLE `{schema}`.w_nopk (n INT, s VARCHAR(20)) CHARSET utf8mb4")]).await;
    c
}

/// Inserts, updates (one changing the primary key) and deletes in every table, with the limits
/// of each type that the created topics hold losslessly.
async fn write_rows(c: &mut mysql_async::Conn, schema: &str) {
    exec(
        c,
        &[
            &format!("USE `{schema}`"),
            "SET time_zone = '+00:00'",
            "INSERT INTO w_nums VALUES \
             (9223372036854775807, -128, 255, -32768, 16777215, -2147483648, 18446744073709551615, -99999999999999.999999, 3.40282e38, -1.7976931348623157e308, b'1111111111111', 2155), \
             (2, 127, 0, 32767, 0, 2147483647, 0, 0.000001, -1.5, 2.2250738585072014e-308, 0, 1901), \
             (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            "UPDATE w_nums SET i = i - 1, d = 12.5 WHERE id = 2",
            "UPDATE w_nums SET id = 4 WHERE id = 3",
            "INSERT INTO w_time VALUES \
             (1, '1000-01-01', '1000-01-01 00:00:00.000', '9999-12-31 23:59:59', '1970-01-01 00:00:01.000000', '-838:59:59.00'), \
             (2, '9999-12-31', '9999-12-31 23:59:59.999', '2026-01-01 00:00:00', '2038-01-19 03:14:07.999999', '838:59:59.99'), \
             (3, NULL, NULL, NULL, NULL, NULL)",
            "DELETE FROM w_time WHERE id = 3",
            "INSERT INTO w_text VALUES \
             (1, 'a', 'héllo 世界 🎉', REPEAT('t', 3000), 'red', 'a,c', '{\"k\":[1,2]}', x'00ff0102', x'', x'deadbeef'), \
             (2, 'b', '', NULL, 'blue', '', '[]', NULL, x'00', NULL)",
            "UPDATE w_text SET v = 'x''y' WHERE a = 1",
            "UPDATE w_text SET b = 'c' WHERE a = 2",
            "INSERT INTO w_bin VALUES \
             (1, x'0001', x'7f', x'01', x'ff00', x'00', x'0102', x'', 'c70 text', 'latin é', 'vl', 'tt', 'y''z', 'p,s t'), \
             (1, x'ff', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'b\\\\s', 'u\\\\v')",
            "INSERT INTO w_bulk VALUES (1, 1, 's'), (2, 2, NULL), (3, 3, 'x')",
            "DELETE FROM w_bulk WHERE id = 2",
            "INSERT INTO w_nopk VALUES (1, 'a'), (2, 'b'), (1, 'c')",
            "UPDATE w_nopk SET s = 'd' WHERE s = 'c'",
            "DELETE FROM w_nopk WHERE s = 'b'",
        ],
    )
    .await;
}

/// Every record of `topic` through pydatahub (GetCursor OLDEST + GetRecords per shard), as the
/// JSON lines `check_emulator.py --read-back` prints, sorted by shard and sequence.
fn read_lines(emu: &EmulatorHandle, topic: &str) -> Vec<Json> {
    let out = std::process::Command::new(pydatahub::python())
        .arg(pydatahub::repo_root().join("tests/python/check_emulator.py"))
        .args(["--endpoint", &emu.endpoint(), "--access-id", ID, "--read-back", PROJECT, topic])
        .env("DATAHUB_ACCESS_KEY", KEY)
        .output()
        .expect("the venv python runs");
    assert!(out.status.success(), "read-back of {topic} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| (l["shard_id"].as_str().unwrap().to_owned(), l["sequence"].as_i64().unwrap()));
    lines
}

/// `information_schema` precision of the TIMESTAMP columns of a table.
async fn timestamp_columns(c: &mut mysql_async::Conn, db: &str, table: &str) -> HashMap<String, u64> {
    let rows: Vec<(String, Option<u64>)> = c
        .exec(
            "SELECT COLUMN_NAME, DATETIME_PRECISION FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND DATA_TYPE = 'timestamp'",
            (db, table),
        )
        .await
        .unwrap();
    rows.into_iter().map(|(n, p)| (n, p.unwrap_or(0))).collect()
}

/// TUPLE records read back (DTS or DataWorks layout) as contract-shaped events the verifier
/// replays: `op`, `before`/`after` images by field name, `source.pos` = the record id (binlog
/// order). An UPDATE's two records (before image, then after image, same id, adjacent in one
/// shard) become one `u` event. TIMESTAMP fields (µs) are written as the server's UTC text.
fn tuple_events(
    lines: &[Json],
    schema: &TupleSchema,
    layout: Layout,
    db: &str,
    table: &str,
    ts_cols: &HashMap<String, u64>,
) -> Vec<TopicEvent> {
    let (id_i, op_i, before_i, first) = match layout {
        Layout::Dts => (0, 1, 6, 8),
        Layout::DataWorks => (0, 1, 3, 5),
        Layout::Plain => panic!("no metadata to replay"),
    };
    let mut out = Vec::new();
    let mut pending: Option<(u64, Json)> = None;
    for l in lines {
        let data = l["data"].as_array().expect("TUPLE values");
        assert_eq!(data.len(), schema.fields.len(), "one value per field: {l}");
        let id: u64 = match &data[id_i] {
            Json::String(s) => s.parse().unwrap(),
            other => other.as_u64().unwrap(),
        };
        let mut image = serde_json::Map::new();
        for (f, v) in schema.fields[first..].iter().zip(&data[first..]) {
            let v = match (ts_cols.get(&f.name), v) {
                (Some(p), Json::Number(n)) => {
                    let t = chrono::DateTime::from_timestamp_micros(n.as_i64().unwrap()).unwrap();
                    let frac = if *p == 0 {
                        String::new()
                    } else {
                        format!(".{:06}", t.timestamp_subsec_micros())[..=*p as usize].to_owned()
                    };
                    Json::String(format!("{}{frac}Z", t.format("%Y-%m-%d %H:%M:%S")))
                }
                _ => v.clone(),
            };
            image.insert(f.name.clone(), v);
        }
        let image = Json::Object(image);
        let (op, before, after) = match data[op_i].as_str().unwrap() {
            "I" => ("c", Json::Null, image),
            "D" => ("d", image, Json::Null),
            "U" if data[before_i] == "Y" => {
                assert!(pending.is_none(), "two before images in a row: {l}");
                pending = Some((id, image));
                continue;
            }
            "U" => {
                let (bid, before) = pending.take().expect("an after image follows its before image");
                assert_eq!(bid, id, "before and after image share the record id");
                ("u", before, image)
            }
            other => panic!("operation flag {other}"),
        };
        let event = json!({"op": op, "before": before, "after": after,
                           "source": {"db": db, "table": table, "file": "binlog.000001", "pos": id, "row": 0}});
        out.push(TopicEvent {
            shard: l["shard_id"].as_str().unwrap().to_owned(),
            sequence: l["sequence"].as_i64().unwrap(),
            event,
            attributes: serde_json::from_value(l["attributes"].clone()).unwrap_or_default(),
        });
    }
    assert!(pending.is_none(), "a before image without its after image");
    out
}

/// Reads `topic` back and verifies it against `db`.`table`; panics with the report otherwise.
async fn verify_topic(
    c: &mut mysql_async::Conn,
    emu: &EmulatorHandle,
    topic: &str,
    db: &str,
    table: &str,
    key: &[&str],
) -> usize {
    let client = DataHubClient::new(&base(emu)).unwrap();
    let info = client.get_topic(PROJECT, topic).await.unwrap_or_else(|e| panic!("topic {topic}: {e}"));
    let lines = read_lines(emu, topic);
    let events = if info.is_blob() {
        pydatahub::read_back(&emu.endpoint(), ID, KEY, PROJECT, topic)
    } else {
        let schema = TupleSchema::parse(info.record_schema.as_deref().unwrap()).unwrap();
        let layout = Layout::detect(&schema).unwrap();
        tuple_events(&lines, &schema, layout, db, table, &timestamp_columns(c, db, table).await)
    };
    assert!(!events.is_empty(), "topic {topic} is empty");
    let report = verify_table(c, &events, db, table, key).await;
    assert!(report.is_clean(), "topic {topic} against {db}.{table}: {report}");
    events.len()
}

/// `mode` `skip` on top: every value of the created topics' mapping fits, so the dead-letter
/// topic stays empty.
async fn tables_into_created_topics(record_type: RecordKind, layout: Option<Layout>, mode: FailureMode, prefix: &str) {
    let db = server().await;
    let emu = emulator().await;
    let schema = db.fresh_schema(prefix).await;
    let mut c = create_tables(&db, &schema).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let mut cfg = topics("ods_{db}_{table}", Some(record_type), layout, mode);
    cfg.dead_letter_topic = format!("dl_{schema}");
    let run = start(&db, &schema, &emu, cfg, &offsets).await.expect("sink connects, topics created");
    {
        let reg = run.registry.read().unwrap();
        let dead_letter = usize::from(mode == FailureMode::Skip);
        assert_eq!(reg.len(), TABLES.len() + dead_letter, "one topic per table at start: {reg:?}");
        for (t, _) in TABLES {
            let state = &reg[&format!("ods_{schema}_{t}")];
            assert_eq!(state.shards, 3, "{t}: {state:?}");
            assert_eq!(state.tables, [format!("{schema}.{t}")]);
            assert_eq!(state.record_type, if record_type == RecordKind::Tuple { "TUPLE" } else { "BLOB" });
        }
    }
    write_rows(&mut c, &schema).await;
    // A table created mid-stream, then a column added to it (AppendField before its first
    // record for a TUPLE topic).
    exec(
        &mut c,
        &[
            &format!("CREATE TABLE `{schema}`.late (id INT PRIMARY KEY, v VARCHAR(10)) CHARSET utf8mb4"),
            &format!("INSERT INTO `{schema}`.late VALUES (1, 'one'), (2, 'two')"),
            &format!("ALTER TABLE `{schema}`.late ADD COLUMN extra BIGINT UNSIGNED"),
            &format!("INSERT INTO `{schema}`.late VALUES (3, 'three', 18446744073709551615)"),
            &format!("UPDATE `{schema}`.late SET extra = 7 WHERE id = 1"),
        ],
    )
    .await;
    wait_caught_up(&db, &offsets, 60).await;
    let late_topic = format!("ods_{schema}_late");
    assert!(run.registry.read().unwrap().contains_key(&late_topic), "the late table got its topic");
    run.stop().await;

    let mut total = 0;
    for (t, key) in TABLES {
        total += verify_topic(&mut c, &emu, &format!("ods_{schema}_{t}"), &schema, t, key).await;
    }
    total += verify_topic(&mut c, &emu, &late_topic, &schema, "late", &["id"]).await;
    assert!(total > 20, "{total} events");
    if mode == FailureMode::Skip {
        assert!(emu.all_records(PROJECT, &format!("dl_{schema}")).is_empty(), "every limit fits: no dead letter");
    }
    if record_type == RecordKind::Tuple {
        let info = DataHubClient::new(&base(&emu)).unwrap().get_topic(PROJECT, &late_topic).await.unwrap();
        let s = TupleSchema::parse(info.record_schema.as_deref().unwrap()).unwrap();
        let extra = s.fields.iter().find(|f| f.name == "extra").expect("appended field");
        assert_eq!(extra.field_type.as_str(), "DECIMAL", "BIGINT UNSIGNED maps to DECIMAL");
        let nums =
            DataHubClient::new(&base(&emu)).unwrap().get_topic(PROJECT, &format!("ods_{schema}_w_nums")).await.unwrap();
        let ns = TupleSchema::parse(nums.record_schema.as_deref().unwrap()).unwrap();
        let types: Vec<(&str, &str)> = ns
            .fields
            .iter()
            .skip(Layout::detect(&ns).unwrap().meta_fields())
            .map(|f| (f.name.as_str(), f.field_type.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("id", "BIGINT"),
                ("ti", "TINYINT"),
                ("tiu", "SMALLINT"),
                ("si", "SMALLINT"),
                ("mi", "INTEGER"),
                ("i", "INTEGER"),
                ("bu", "DECIMAL"),
                ("d", "DECIMAL"),
                ("f", "FLOAT"),
                ("dbl", "DOUBLE"),
                ("bt", "BIGINT"),
                ("y", "SMALLINT"),
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_into_created_dts_tuple_topics() {
    tables_into_created_topics(RecordKind::Tuple, Some(Layout::Dts), FailureMode::Fail, "topics_dts").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_into_created_dataworks_tuple_topics() {
    tables_into_created_topics(RecordKind::Tuple, Some(Layout::DataWorks), FailureMode::Skip, "topics_dw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_into_created_blob_topics() {
    tables_into_created_topics(RecordKind::Blob, None, FailureMode::Fail, "topics_blob").await;
}

/// True when a BLOB record of `topic` holds `text`.
fn blob_contains(emu: &EmulatorHandle, topic: &str, text: &str) -> bool {
    emu.all_records(PROJECT, topic).iter().any(|(_, r)| match &r.data {
        datahub_emulator::RecordData::Blob(b) => String::from_utf8_lossy(b).contains(text),
        datahub_emulator::RecordData::Tuple(_) => false,
    })
}

/// A TUPLE topic for `table` with these column fields after the DTS metadata.
async fn create_dts_topic(emu: &EmulatorHandle, topic: &str, columns: &[(&str, &str)]) {
    let mut fields: Vec<NewField> =
        Layout::Dts.meta_schema().iter().map(|f| NewField::new(&f.name, f.field_type.as_str())).collect();
    fields.extend(columns.iter().map(|(n, t)| NewField::new(n, t)));
    let spec = NewTopic {
        shard_count: 2,
        lifecycle_days: 1,
        record_type: NewRecordType::Tuple(fields),
        comment: String::new(),
    };
    DataHubClient::new(&base(emu)).unwrap().create_topic(PROJECT, topic, &spec).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_schema_mismatches_and_shared_tuple_topics() {
    let db = server().await;
    let emu = emulator().await;
    let schema = db.fresh_schema("topics_check").await;
    let mut c = db.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("CREATE TABLE `{schema}`.orders (id BIGINT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20), at DATETIME)"),
            &format!("CREATE TABLE `{schema}`.items (id INT PRIMARY KEY, name VARCHAR(20))"),
        ],
    )
    .await;
    // `amount` as BIGINT cannot hold a DECIMAL, `at` is missing, `legacy` is NOT NULL.
    let mut fields: Vec<NewField> =
        Layout::Dts.meta_schema().iter().map(|f| NewField::new(&f.name, f.field_type.as_str())).collect();
    fields.extend([NewField::new("id", "BIGINT"), NewField::new("amount", "BIGINT"), NewField::new("note", "STRING")]);
    let mut legacy = NewField::new("legacy", "STRING");
    legacy.not_null = true;
    fields.push(legacy);
    let spec = NewTopic {
        shard_count: 1,
        lifecycle_days: 1,
        record_type: NewRecordType::Tuple(fields),
        comment: String::new(),
    };
    let client = DataHubClient::new(&base(&emu)).unwrap();
    client.create_topic(PROJECT, "orders_t", &spec).await.unwrap();

    let mut scfg = db.source_config("topics");
    scfg.schemas = vec![schema.clone()];
    let pool = multi::schema_pool(&scfg);
    let tables = vec![(schema.clone(), "orders".to_owned())];
    let map = vec![(schema.clone(), "orders".to_owned(), "orders_t".to_owned())];
    let mut cfg = topics("unused_{table}", None, None, FailureMode::Fail);
    cfg.routing = TopicRouting::new("unused_{table}", map).unwrap();
    let found = multi::inspect(&base(&emu), &cfg, Some(&pool), &tables).await;
    let text = found.problems.join("\n");
    assert_eq!(found.problems.len(), 3, "{text}");
    assert!(text.contains("column `amount` is decimal but its field is BIGINT"), "{text}");
    assert!(text.contains("column `at` (datetime) has no field"), "{text}");
    assert!(text.contains("field `legacy` is NOT NULL"), "{text}");
    let err = MultiTopicSink::connect(base(&emu), cfg.clone(), Some(pool.clone()), &tables, Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("orders_t") && err.contains("`amount`"), "{err}");

    // Two tables on one TUPLE topic (to be created): a configuration error; on BLOB: fine.
    let both = vec![(schema.clone(), "orders".to_owned()), (schema.clone(), "items".to_owned())];
    let shared = topics("shared_topic", Some(RecordKind::Tuple), Some(Layout::Dts), FailureMode::Fail);
    let found = multi::inspect(&base(&emu), &shared, Some(&pool), &both).await;
    assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
    assert!(found.problems[0].contains("TUPLE topic for 2 tables"), "{:?}", found.problems);
    let err = MultiTopicSink::connect(base(&emu), shared, Some(pool.clone()), &both, Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("both route to this TUPLE topic"), "{err}");
    let blob = topics("shared_blob", Some(RecordKind::Blob), None, FailureMode::Fail);
    let found = multi::inspect(&base(&emu), &blob, Some(&pool), &both).await;
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    MultiTopicSink::connect(base(&emu), blob, Some(pool.clone()), &both, Default::default())
        .await
        .expect("shared BLOB topic");
    // Without creation a missing topic is named.
    let missing = topics("nowhere_{table}", None, None, FailureMode::Fail);
    let found = multi::inspect(&base(&emu), &missing, Some(&pool), &both).await;
    assert_eq!(found.problems.len(), 2, "{:?}", found.problems);
    assert!(found.problems[0].contains("nowhere_items") && found.problems[0].contains("does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_a_field_cannot_hold_fail_or_go_to_the_dead_letter_topic() {
    recorder();
    let db = server().await;
    for mode in [FailureMode::Fail, FailureMode::Skip] {
        let emu = emulator().await;
        let schema = db.fresh_schema("topics_edge").await;
        let mut c = db.admin_conn().await;
        exec(
            &mut c,
            &[
                &format!("CREATE TABLE `{schema}`.edge (id INT PRIMARY KEY, b BIGINT, dt DATETIME(6))"),
                &format!("CREATE TABLE `{schema}`.other (id INT PRIMARY KEY)"),
            ],
        )
        .await;
        // An existing topic mapping DATETIME → TIMESTAMP (range ends at 9999-12-31T23:59:59).
        create_dts_topic(&emu, &format!("t_{schema}_edge"), &[("id", "INTEGER"), ("b", "BIGINT"), ("dt", "TIMESTAMP")])
            .await;
        let dir = tempfile::tempdir().unwrap();
        let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
        let mut cfg = topics("t_{db}_{table}", Some(RecordKind::Tuple), Some(Layout::Dts), mode);
        cfg.dead_letter_topic = format!("dl_{schema}");
        let run = start(&db, &schema, &emu, cfg, &offsets).await.expect("connects");
        exec(
            &mut c,
            &[
                &format!("INSERT INTO `{schema}`.edge VALUES (1, 9223372036854775807, '0001-01-01 00:00:00')"),
                &format!("INSERT INTO `{schema}`.other VALUES (1)"),
                &format!("INSERT INTO `{schema}`.edge VALUES (2, -9223372036854775808, '2026-01-01 00:00:00')"),
                &format!("INSERT INTO `{schema}`.edge VALUES (3, 0, '9999-12-31 23:59:59.999999')"),
                // The last instant pydatahub's TIMESTAMP range holds (`tuple::TIMESTAMP_MAX_US`).
                &format!("INSERT INTO `{schema}`.edge VALUES (4, -9223372036854775807, '9999-12-31 15:59:59')"),
                &format!("INSERT INTO `{schema}`.other VALUES (2)"),
            ],
        )
        .await;
        let edge_topic = format!("t_{schema}_edge");
        match mode {
            FailureMode::Fail => {
                let res =
                    tokio::time::timeout(Duration::from_secs(30), run.pipeline.task).await.expect("stops").unwrap();
                let err = format!("{:#}", res.expect_err("the collector stops"));
                assert!(err.contains(&format!("{schema}.edge.b")), "{err}");
                assert!(err.contains("-9223372036854775808"), "{err}");
                assert!(err.contains("event at binlog ") && err.contains(" row 0"), "{err}");
                assert!(err.contains(&edge_topic), "{err}");
                // Nothing after the unfit row was acknowledged past it.
                let stored: Vec<_> = emu.all_records(PROJECT, &edge_topic);
                assert!(stored.len() <= 1, "{stored:?}");
            }
            FailureMode::Skip => {
                wait_caught_up(&db, &offsets, 30).await;
                run.stop().await;
                let kept = read_lines(&emu, &edge_topic);
                let ids: Vec<i64> = kept.iter().map(|l| l["data"][8].as_i64().unwrap()).collect();
                let mut sorted = ids.clone();
                sorted.sort();
                assert_eq!(sorted, [1, 4], "rows that fit are written: {kept:?}");
                let dead = read_lines(&emu, &format!("dl_{schema}"));
                assert_eq!(dead.len(), 2, "{dead:?}");
                use base64::Engine as _;
                let mut docs: Vec<Json> = dead
                    .iter()
                    .map(|l| {
                        serde_json::from_slice(
                            &base64::engine::general_purpose::STANDARD.decode(l["data"].as_str().unwrap()).unwrap(),
                        )
                        .unwrap()
                    })
                    .collect();
                docs.sort_by_key(|d| d["event"]["after"]["id"].as_i64());
                assert_eq!(docs[0]["event"]["after"]["id"], 2, "{}", docs[0]);
                assert_eq!(docs[0]["event"]["after"]["b"], json!(-9223372036854775808i64), "the full event, unchanged");
                assert!(docs[0]["reason"].as_str().unwrap().contains(&format!("{schema}.edge.b")), "{}", docs[0]);
                assert_eq!(docs[1]["event"]["after"]["dt"], "9999-12-31 23:59:59.999999");
                assert!(docs[1]["reason"].as_str().unwrap().contains("9999-12-31 23:59:59.999999"), "{}", docs[1]);
                assert_eq!(docs[1]["topic"], edge_topic.as_str());
                assert!(docs[1]["file"].as_str().unwrap().contains('.') && docs[1]["pos"].as_u64().unwrap() > 0);
                assert_eq!(read_lines(&emu, &format!("t_{schema}_other")).len(), 2);
                let text = recorder().render();
                let series = format!("cdc_dead_letter_events_total{{topic=\"{edge_topic}\"}} 2");
                assert!(text.contains(&series), "{series} in\n{text}");
                assert!(
                    text.contains(&format!("cdc_sink_topic_records_total{{topic=\"t_{schema}_other\"}} 2")),
                    "{text}"
                );
            }
        }
    }
}

/// The records of `topic` whose BLOB data contains `text`.
fn blob_count(emu: &EmulatorHandle, topic: &str, text: &str) -> usize {
    emu.all_records(PROJECT, topic)
        .iter()
        .filter(|(_, r)| matches!(&r.data, datahub_emulator::RecordData::Blob(b) if String::from_utf8_lossy(b).contains(text)))
        .count()
}

/// The binlog position (file index, pos of its rows event) of the first record of `topic`
/// whose BLOB data contains `text`.
fn blob_position(emu: &EmulatorHandle, topic: &str, text: &str) -> (u64, u64) {
    let data = emu
        .all_records(PROJECT, topic)
        .into_iter()
        .find_map(|(_, r)| match r.data {
            datahub_emulator::RecordData::Blob(b) if String::from_utf8_lossy(&b).contains(text) => Some(b),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no record with {text} in {topic}"));
    let ev: Json = serde_json::from_slice(&data).unwrap();
    let src = &ev["source"];
    order(&BinlogPosition::new(src["file"].as_str().unwrap(), src["pos"].as_u64().unwrap()))
}

/// Waits up to `secs` for `topic` to hold a record containing `text`.
async fn wait_for_blob(emu: &EmulatorHandle, topic: &str, text: &str, secs: u64) -> bool {
    for _ in 0..secs * 20 {
        if blob_contains(emu, topic, text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// PutRecordsByShard on `topic` fails with ServiceUnavailable until the faults are cleared.
fn fail_topic(emu: &EmulatorHandle, topic: &str) {
    emu.faults().add_for_topic(
        topic,
        FaultRule {
            op: Some(EmuOp::PutRecordsByShard),
            kind: FaultKind::Error { code: "ServiceUnavailable".into(), status: None, message: None },
            times: FaultTimes::Always,
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_one_topic_let_the_others_flow_hold_the_checkpoint_and_lose_nothing() {
    recorder();
    let db = server().await;
    let emu = emulator().await;
    let schema = db.fresh_schema("topics_fault").await;
    let mut c = create_tables(&db, &schema).await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = FileOffsetStore::new(dir.path().join("offsets.json"));
    let cfg = topics("f_{table}", Some(RecordKind::Blob), None, FailureMode::Fail);
    let run = start(&db, &schema, &emu, cfg.clone(), &offsets).await.expect("connects");
    write_rows(&mut c, &schema).await;
    wait_caught_up(&db, &offsets, 30).await;

    // Phase 1: f_w_text fails; one transaction holds rows of three topics, then transactions
    // of the other tables follow.
    fail_topic(&emu, "f_w_text");
    exec(
        &mut c,
        &[
            "START TRANSACTION",
            &format!("INSERT INTO `{schema}`.w_text (a, b, v) VALUES (10, 'f', 'during fault')"),
            &format!("INSERT INTO `{schema}`.w_bulk VALUES (10, 10, 'during fault')"),
            &format!("UPDATE `{schema}`.w_text SET v = 'again' WHERE a = 10"),
            &format!("INSERT INTO `{schema}`.w_nopk VALUES (10, 'during')"),
            "COMMIT",
        ],
    )
    .await;
    assert!(
        wait_for_blob(&emu, "f_w_bulk", "during fault", 10).await,
        "the unfaulted topic is written during the fault"
    );
    // Inside the faulted transaction (other tests write to the server too: its end before the
    // transaction is no bound).
    let faulted = blob_position(&emu, "f_w_bulk", "during fault");
    // Later transactions, each its own batch: the healthy topics take them while f_w_text
    // still fails (one batch in flight for all topics would hold them behind it).
    for i in 0..5 {
        exec(
            &mut c,
            &[
                "START TRANSACTION",
                &format!("INSERT INTO `{schema}`.w_bulk VALUES ({}, {i}, 'later {i}')", 20 + i),
                &format!("UPDATE `{schema}`.w_nopk SET s = 'later {i}' WHERE n = 10"),
                "COMMIT",
            ],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    exec(&mut c, &[&format!("UPDATE `{schema}`.w_text SET v = 'queued behind' WHERE a = 10")]).await;
    assert!(
        wait_for_blob(&emu, "f_w_bulk", "later 4", 10).await,
        "later batches reach the healthy topics while another topic fails"
    );
    assert!(wait_for_blob(&emu, "f_w_nopk", "later 4", 10).await);
    assert!(!blob_contains(&emu, "f_w_text", "during fault"), "the faulted topic has nothing of it");
    // The checkpoint stays before the first transaction f_w_text has not acknowledged.
    let held = offsets.load().unwrap().unwrap().position().cloned().unwrap();
    assert!(order(&held) < faulted, "checkpoint {held:?} stays before the faulted transaction ({faulted:?})");
    {
        let topics = run.registry.read().unwrap();
        assert!(topics["f_w_text"].retrying.is_some(), "/health shows the failing topic: {:?}", topics["f_w_text"]);
        assert!(topics["f_w_bulk"].retrying.is_none(), "{:?}", topics["f_w_bulk"]);
    }
    let text = recorder().render();
    assert!(
        text.lines().any(|l| l.starts_with("cdc_sink_topic_requests_total{topic=\"f_w_text\",outcome=\"error\"")
            || l.starts_with("cdc_sink_topic_requests_total{topic=\"f_w_text\",outcome=\"retry\"")),
        "failed requests are counted for the faulted topic:\n{text}"
    );
    let queued = |text: &str, topic: &str| -> f64 {
        let series = format!("cdc_sink_topic_queued_bytes{{topic=\"{topic}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0.0, |v| v.parse().unwrap())
    };
    assert!(queued(&text, "f_w_text") > 0.0, "bytes wait on the failing topic's writer:\n{text}");
    assert_eq!(queued(&text, "f_w_bulk"), 0.0, "nothing waits on a healthy topic");

    emu.faults().clear();
    wait_caught_up(&db, &offsets, 60).await;
    assert!(run.registry.read().unwrap()["f_w_text"].retrying.is_none());
    assert_eq!(queued(&recorder().render(), "f_w_text"), 0.0, "the backlog is written once the topic recovers");
    // Only the failing topic's part was re-sent: the others hold each record once.
    assert_eq!(blob_count(&emu, "f_w_bulk", "during fault"), 1, "no duplicate from the re-sends");
    assert_eq!(blob_count(&emu, "f_w_bulk", "later 3"), 1, "no duplicate from the re-sends");
    // The insert, and the first update's before image.
    assert_eq!(blob_count(&emu, "f_w_nopk", "during"), 2, "no duplicate from the re-sends");
    // The insert, and the update whose before image holds the text: each once.
    assert_eq!(blob_count(&emu, "f_w_text", "during fault"), 2, "the faulted topic got them once it recovered");

    // Phase 2: shutdown while f_w_text fails ends cleanly with the checkpoint before what it
    // lacks; the restart sends it again (the healthy topics get their part twice).
    fail_topic(&emu, "f_w_text");
    exec(
        &mut c,
        &[
            "START TRANSACTION",
            &format!("INSERT INTO `{schema}`.w_text (a, b, v) VALUES (11, 'g', 'second fault')"),
            &format!("INSERT INTO `{schema}`.w_bulk VALUES (11, 11, 'second fault')"),
            "COMMIT",
        ],
    )
    .await;
    assert!(wait_for_blob(&emu, "f_w_bulk", "second fault", 10).await);
    let second = blob_position(&emu, "f_w_bulk", "second fault");
    run.stop().await;
    let held = offsets.load().unwrap().unwrap().position().cloned().unwrap();
    assert!(order(&held) < second, "checkpoint {held:?} after a shutdown during the fault ({second:?})");
    assert!(!blob_contains(&emu, "f_w_text", "second fault"));
    emu.faults().clear();
    let run = start(&db, &schema, &emu, cfg, &offsets).await.expect("connects");
    wait_caught_up(&db, &offsets, 60).await;
    run.stop().await;
    assert!(blob_count(&emu, "f_w_text", "second fault") >= 1, "delivered after the restart");
    for (t, key) in TABLES {
        verify_topic(&mut c, &emu, &format!("f_{t}"), &schema, t, key).await;
    }
}
