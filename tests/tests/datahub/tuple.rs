//! The DataHub producer on TUPLE topics (`cdc_core::datahub::tuple`) against the in-process
//! DataHub emulator, whose TUPLE checks (arity, every field's type and range, NOT NULL) are the
//! real service's: every field type with its exact stored text, NULL versus "", an UPDATE as two
//! records (before image, then after image) in per-key order over several shards, PB
//! PutRecordsByShard and JSON PutRecords, the DataWorks layout, and values that do not fit their
//! field failing the batch fatally with nothing stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};

use cdc_core::datahub::tuple::Layout;
use cdc_core::datahub::{Credentials, DataHubConfig, DataHubError, DataHubSink, RetryPolicy, WriteProtocol};
use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::sink::Sink;
use datahub_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Field, FieldType, RecordData, TopicSpec};

const PROJECT: &str = "cdc_project";
const ID: &str = "test_id";
const KEY: &str = "test_key_secret";
const DTS_TOPIC: &str = "shop_items_dts";
const DW_TOPIC: &str = "shop_items_dw";

/// The table's columns as the topic lists them (the row also has `ignored`, not in the topic).
const COLUMNS: [(&str, FieldType); 15] = [
    ("id", FieldType::Bigint),
    ("c_int", FieldType::Integer),
    ("c_small", FieldType::Smallint),
    ("c_tiny", FieldType::Tinyint),
    ("c_double", FieldType::Double),
    ("c_float", FieldType::Float),
    ("c_bool", FieldType::Boolean),
    ("c_ts", FieldType::Timestamp),
    ("c_str", FieldType::String),
    ("c_dec", FieldType::Decimal),
    ("c_json", FieldType::Json),
    ("c_datetime", FieldType::Timestamp),
    ("c_date", FieldType::String),
    ("c_time", FieldType::String),
    ("c_bytes", FieldType::String),
];

fn dts_fields() -> Vec<Field> {
    let mut f = vec![
        Field::not_null("new_dts_sync_dts_record_id", FieldType::Bigint),
        Field::not_null("new_dts_sync_dts_operation_flag", FieldType::String),
        Field::new("new_dts_sync_dts_instance_id", FieldType::String),
        Field::new("new_dts_sync_dts_db_name", FieldType::String),
        Field::new("new_dts_sync_dts_table_name", FieldType::String),
        Field::new("new_dts_sync_dts_utc_timestamp", FieldType::String),
        Field::new("new_dts_sync_dts_before_flag", FieldType::String),
        Field::new("new_dts_sync_dts_after_flag", FieldType::String),
    ];
    // `id` is NOT NULL, the rest nullable.
    f.extend(COLUMNS.iter().map(|(n, t)| if *n == "id" { Field::not_null(n, *t) } else { Field::new(n, *t) }));
    f
}

fn dataworks_fields() -> Vec<Field> {
    vec![
        Field::new("_sequence_id_", FieldType::String),
        Field::new("_operation_type_", FieldType::String),
        Field::new("_execute_time_", FieldType::Timestamp),
        Field::new("_before_image_", FieldType::String),
        Field::new("_after_image_", FieldType::String),
        Field::new("ID", FieldType::Bigint),
        Field::new("c_str", FieldType::String),
    ]
}

async fn emulator(shards: u32) -> EmulatorHandle {
    let mut cfg = EmulatorConfig::single(PROJECT, "events", 1, ID, KEY);
    cfg.projects[0].topics.push(TopicSpec::tuple(DTS_TOPIC, shards, dts_fields()));
    cfg.projects[0].topics.push(TopicSpec::tuple(DW_TOPIC, 1, dataworks_fields()));
    Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("emulator starts")
}

fn config(emu: &EmulatorHandle, topic: &str, protocol: WriteProtocol) -> DataHubConfig {
    let mut cfg = DataHubConfig::new(emu.endpoint(), PROJECT, topic, Credentials::new(ID, KEY));
    cfg.retry = RetryPolicy { max_attempts: 3, backoff_ms: 5, max_backoff_ms: 50 };
    cfg.request_timeout_ms = 5_000;
    cfg.protocol = protocol;
    cfg
}

fn row_columns() -> Arc<[Arc<str>]> {
    let mut c: Vec<Arc<str>> = COLUMNS.iter().map(|(n, _)| Arc::from(*n)).collect();
    c.push(Arc::from("ignored"));
    c.into()
}

/// A row with every column NULL but `id`.
fn null_row(id: i64) -> Vec<Value> {
    let mut v = vec![Value::Null; COLUMNS.len() + 1];
    v[0] = Value::Int(id);
    v
}

/// A row with a value of every kind.
fn full_row(id: i64) -> Vec<Value> {
    let dt = NaiveDateTime::parse_from_str("2024-02-29 23:59:58.123456", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    vec![
        Value::Int(id),
        Value::Int(-2_147_483_648),
        Value::UInt(32_767),
        Value::Int(-128),
        Value::Double(10.01),
        Value::Float(0.1),
        Value::Int(1),
        Value::Timestamp { micros: 1_455_869_335_000_001, precision: 6 },
        Value::String("héllo \"wörld\"".into()),
        Value::Decimal("-12345678901234567890.000100".into()),
        Value::Json(Box::new(serde_json::json!({"a": [1, "b", null], "n": 1.5}))),
        Value::DateTime { value: dt, precision: 6 },
        Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 500_000, precision: 1 },
        Value::Bytes(vec![0, 1, 2, 253, 254, 255]),
        Value::String("not in the topic".into()),
    ]
}

fn full_row_text(id: &str) -> Vec<Option<String>> {
    [
        id,
        "-2147483648",
        "32767",
        "-128",
        "10.01",
        "0.1",
        "true",
        "1455869335000001",
        "héllo \"wörld\"",
        "-12345678901234567890.000100",
        r#"{"a":[1,"b",null],"n":1.5}"#,
        "1709251198123456",
        "2024-02-29",
        "-838:59:59.5",
        "AAEC/f7/",
    ]
    .iter()
    .map(|s| Some((*s).to_owned()))
    .collect()
}

/// A change of `shop.items` at `pos` (row 0 of its rows event in `binlog.000007`).
fn event(op: Op, before: Option<Vec<Value>>, after: Option<Vec<Value>>, pos: u64) -> ChangeEvent {
    let columns = row_columns();
    let row = |values| Row { columns: columns.clone(), values };
    ChangeEvent {
        op,
        before: before.map(row),
        after: after.map(row),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "mysql-prod".into(),
                server_id: 1,
                db: "shop".into(),
                table: "items".into(),
                file: "binlog.000007".into(),
                pos,
                gtid: None,
                ts_ms: 1_700_000_000_999,
                origin: cdc_core::event::Origin::Binlog,
            },
            0,
        ),
        ts_ms: 1_700_000_001_000,
        transaction: None,
        key_columns: vec![0usize].into(),
    }
}

fn tuple(r: &datahub_emulator::StoredRecord) -> Vec<Option<String>> {
    match &r.data {
        RecordData::Tuple(v) => v.clone(),
        other => panic!("expected a TUPLE record, got {other:?}"),
    }
}

/// The DTS metadata values of a record of [`event`] at `pos`.
fn meta(op: &str, pos: u64, before: &str, after: &str) -> Vec<Option<String>> {
    let id = (7 * 1_000_000_000_000 + pos).to_string();
    [id.as_str(), op, "mysql-prod", "shop", "items", "1700000000", before, after]
        .iter()
        .map(|s| Some((*s).to_owned()))
        .collect()
}

fn expected(meta: Vec<Option<String>>, cols: Vec<Option<String>>) -> Vec<Option<String>> {
    meta.into_iter().chain(cols).collect()
}

async fn every_type_round_trips(protocol: WriteProtocol) {
    let emu = emulator(1).await;
    let mut sink = DataHubSink::connect(config(&emu, DTS_TOPIC, protocol)).await.unwrap();
    assert_eq!(sink.tuple_encoder().map(|e| e.layout()), Some(Layout::Dts));
    let mut empty = null_row(2);
    empty[8] = Value::String(Default::default());
    // Float extremes: f32::MAX must not be written as `3.4028235e38`-like text above f32::MAX.
    let mut extremes = null_row(3);
    extremes[4] = Value::Double(-f64::MAX);
    extremes[5] = Value::Float(f32::MAX);
    extremes[1] = Value::Int(i32::MAX.into());
    extremes[3] = Value::UInt(0);
    extremes[6] = Value::Bit(0);
    let batch = vec![
        event(Op::Create, None, Some(full_row(1)), 100),
        event(Op::Create, None, Some(empty.clone()), 200),
        event(Op::Update, Some(empty), Some(full_row(2)), 300),
        event(Op::Delete, Some(full_row(1)), None, 400),
        event(Op::Create, None, Some(extremes), 500),
    ];
    let ack = sink.send(&batch).await.expect("the emulator accepts every record");
    assert_eq!(ack.records, 5, "events, not TUPLE records");
    let stored = emu.all_records(PROJECT, DTS_TOPIC);
    let got: Vec<Vec<Option<String>>> = stored.iter().map(|(_, r)| tuple(r)).collect();
    let mut nulls: Vec<Option<String>> = vec![None; COLUMNS.len()];
    nulls[0] = Some("2".into());
    let mut null_and_empty = nulls.clone();
    null_and_empty[8] = Some(String::new());
    let want = vec![
        expected(meta("I", 100, "N", "Y"), full_row_text("1")),
        expected(meta("I", 200, "N", "Y"), null_and_empty.clone()),
        expected(meta("U", 300, "Y", "N"), null_and_empty),
        expected(meta("U", 300, "N", "Y"), full_row_text("2")),
        expected(meta("D", 400, "Y", "N"), full_row_text("1")),
        expected(meta("I", 500, "N", "Y"), {
            let mut v = vec![None; COLUMNS.len()];
            v[0] = Some("3".into());
            v[1] = Some("2147483647".into());
            v[3] = Some("0".into());
            v[4] = Some(format!("-179769313486231570{}", "0".repeat(291)));
            v[5] = Some("340282346638528860000000000000000000000".into());
            v[6] = Some("false".into());
            v
        }),
    ];
    assert_eq!(got, want);
    // NULL stays NULL and "" stays "" (§4.2: FieldData without value vs. empty value).
    assert_eq!((&got[1][16], &got[1][9]), (&Some(String::new()), &None));
    let attrs: Vec<(&str, &str)> =
        stored.iter().map(|(_, r)| (r.attributes["op"].as_str(), r.attributes["table"].as_str())).collect();
    assert_eq!(attrs, [("c", "items"), ("c", "items"), ("u", "items"), ("u", "items"), ("d", "items"), ("c", "items")]);
    assert!(stored.iter().all(|(_, r)| r.attributes["db"] == "shop"));
}

#[tokio::test]
async fn every_field_type_round_trips_over_pb() {
    every_type_round_trips(WriteProtocol::PbByShard).await;
}

#[tokio::test]
async fn every_field_type_round_trips_over_json() {
    every_type_round_trips(WriteProtocol::JsonPutRecords).await;
}

#[tokio::test]
async fn updates_keep_per_key_order_over_shards() {
    let emu = emulator(4).await;
    for protocol in [WriteProtocol::PbByShard, WriteProtocol::JsonPutRecords] {
        let mut cfg = config(&emu, DTS_TOPIC, protocol);
        cfg.max_records_per_request = 3; // an update's two records may straddle requests
        let mut sink = DataHubSink::connect(cfg).await.unwrap();
        let base = if protocol == WriteProtocol::PbByShard { 0 } else { 100_000 };
        let batch: Vec<ChangeEvent> = (0..60u64)
            .map(|i| {
                let id = (i % 7) as i64;
                let mut before = null_row(id);
                before[1] = Value::Int(i as i64 - 1);
                let mut after = null_row(id);
                after[1] = Value::Int(i as i64);
                event(Op::Update, Some(before), Some(after), base + 1000 + i * 10)
            })
            .collect();
        let ack = sink.send(&batch).await.unwrap();
        assert_eq!(ack.records, 60);
    }
    // Per shard and key: before/after pairs, alternating Y/N, positions (record ids) increasing.
    let stored = emu.all_records(PROJECT, DTS_TOPIC);
    assert_eq!(stored.len(), 240);
    let mut logs: BTreeMap<(String, String), Vec<Vec<Option<String>>>> = BTreeMap::new();
    for (shard, r) in &stored {
        let t = tuple(r);
        logs.entry((shard.clone(), t[8].clone().unwrap())).or_default().push(t);
    }
    let keys: std::collections::BTreeSet<&String> = logs.keys().map(|(_, k)| k).collect();
    assert_eq!(keys.len(), 7, "each key on exactly one shard");
    assert_eq!(logs.len(), 7);
    assert!(logs.keys().map(|(s, _)| s).collect::<std::collections::BTreeSet<_>>().len() > 1, "keys spread");
    for log in logs.values() {
        let mut last_id = 0i64;
        for pair in log.chunks(2) {
            let [b, a] = pair else { panic!("odd record count") };
            assert_eq!((b[0].as_ref(), b[6].as_deref(), b[7].as_deref()), (a[0].as_ref(), Some("Y"), Some("N")));
            assert_eq!((a[6].as_deref(), a[7].as_deref()), (Some("N"), Some("Y")));
            let v: i64 = a[9].as_ref().unwrap().parse().unwrap();
            assert_eq!(b[9].as_ref().unwrap().parse::<i64>().unwrap(), v - 1);
            let id: i64 = a[0].as_ref().unwrap().parse().unwrap();
            assert!(id > last_id, "record ids increase per key");
            last_id = id;
        }
    }
}

#[tokio::test]
async fn values_that_do_not_fit_are_fatal_and_nothing_is_stored() {
    let emu = emulator(2).await;
    for protocol in [WriteProtocol::PbByShard, WriteProtocol::JsonPutRecords] {
        let mut sink = DataHubSink::connect(config(&emu, DTS_TOPIC, protocol)).await.unwrap();
        let good = event(Op::Create, None, Some(full_row(1)), 100);
        let cases: Vec<(usize, Value, &str)> = vec![
            (0, Value::UInt(u64::MAX), "shop.items.id: UNSIGNED integer value 18446744073709551615 is out of range"),
            (1, Value::String("12".into()), "shop.items.c_int: string value (2 bytes) cannot be written as INTEGER"),
            (2, Value::Int(40_000), "shop.items.c_small: integer value 40000 is out of range (-32768..=32767)"),
            (5, Value::Double(0.1), "shop.items.c_float: DOUBLE value 0.1 is not exactly representable"),
            (6, Value::Int(2), "shop.items.c_bool: integer value 2 is neither 0 nor 1"),
            (7, Value::Date(NaiveDate::MIN), "shop.items.c_ts: DATE value -262143-01-01 is out of range"),
            (0, Value::Null, "shop.items.id: NULL value for a NOT NULL field (TUPLE field type BIGINT)"),
        ];
        for (col, value, message) in cases {
            let mut row = full_row(2);
            row[col] = value;
            let bad = event(Op::Create, None, Some(row), 200);
            let err = sink.write(&[good.clone(), bad.clone()]).await.unwrap_err();
            assert!(matches!(err, DataHubError::Tuple(_)), "{err:?}");
            assert!(err.to_string().starts_with(message), "{err} / {message}");
            assert_eq!(err.code(), "MalformedRecord");
            let sink_err = sink.send(&[good.clone(), bad]).await.unwrap_err();
            assert!(!sink_err.is_transient(), "{sink_err}");
        }
        assert!(emu.all_records(PROJECT, DTS_TOPIC).is_empty(), "nothing of a failed batch is sent");
    }
}

#[tokio::test]
async fn dataworks_layout_and_schema_checks() {
    let emu = emulator(1).await;
    let mut sink = DataHubSink::connect(config(&emu, DW_TOPIC, WriteProtocol::JsonPutRecords)).await.unwrap();
    assert_eq!(sink.tuple_encoder().map(|e| e.layout()), Some(Layout::DataWorks));
    let mut row = null_row(5);
    row[8] = Value::String("x".into());
    sink.send(&[event(Op::Update, Some(row.clone()), Some(row), 64)]).await.unwrap();
    let got: Vec<Vec<Option<String>>> = emu.all_records(PROJECT, DW_TOPIC).iter().map(|(_, r)| tuple(r)).collect();
    let s = |x: &str| Some(x.to_owned());
    let id = "7000000000064";
    assert_eq!(
        got,
        vec![
            vec![s(id), s("U"), s("1700000000999000"), s("Y"), s("N"), s("5"), s("x")],
            vec![s(id), s("U"), s("1700000000999000"), s("N"), s("Y"), s("5"), s("x")],
        ]
    );
    // A TUPLE topic in no known layout is refused at connect, naming the reason.
    let mut cfg = EmulatorConfig::single(PROJECT, "events", 1, ID, KEY);
    cfg.projects[0].topics.push(TopicSpec::tuple("plain", 1, vec![Field::new("id", FieldType::Bigint)]));
    let emu2 = Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let err = DataHubSink::connect(config(&emu2, "plain", WriteProtocol::PbByShard)).await.unwrap_err();
    assert!(matches!(&err, DataHubError::UnsupportedTopic { .. }), "{err}");
    assert!(err.to_string().contains("neither the DTS layout"), "{err}");
}

#[tokio::test]
async fn a_shard_split_between_an_updates_two_records_keeps_them_in_order() {
    let emu = emulator(1).await;
    let mut cfg = config(&emu, DTS_TOPIC, WriteProtocol::PbByShard);
    cfg.max_records_per_request = 3; // odd: update pairs straddle requests
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    emu.faults().add(datahub_emulator::FaultRule {
        op: Some(datahub_emulator::Op::PutRecordsByShard),
        kind: datahub_emulator::FaultKind::Delay { ms: 30 },
        times: datahub_emulator::FaultTimes::Always,
    });
    // 40 updates of 8 keys: 80 records, 27 requests on the one shard.
    let batch: Vec<ChangeEvent> = (0..40u64)
        .map(|i| {
            let id = (i % 8) as i64;
            let (mut before, mut after) = (null_row(id), null_row(id));
            before[1] = Value::Int(2 * i as i64);
            after[1] = Value::Int(2 * i as i64 + 1);
            event(Op::Update, Some(before), Some(after), 1000 + i * 10)
        })
        .collect();
    let task = tokio::spawn(async move {
        let r = sink.send(&batch).await;
        (sink, r)
    });
    while emu.records(PROJECT, DTS_TOPIC, "0").is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (left, right) = emu.faults().split_shard(PROJECT, DTS_TOPIC, "0", None).unwrap();
    let (_sink, result) = task.await.unwrap();
    assert_eq!(result.expect("follows the split").records, 40, "events, each counted once");
    let parent = emu.records(PROJECT, DTS_TOPIC, "0");
    assert!(!parent.is_empty() && parent.len() < 80, "split mid-batch: {} on the parent", parent.len());
    // Per key: parent part then child part = before/after pairs in sent order (c_int 0,1,2,…).
    let mut per_key: BTreeMap<String, Vec<(String, String, i64)>> = BTreeMap::new();
    for shard in ["0", left.as_str(), right.as_str()] {
        for r in emu.records(PROJECT, DTS_TOPIC, shard) {
            let t = tuple(&r);
            let v = t[9].as_ref().unwrap().parse().unwrap();
            per_key.entry(t[8].clone().unwrap()).or_default().push((t[6].clone().unwrap(), t[7].clone().unwrap(), v));
        }
    }
    assert_eq!(per_key.len(), 8);
    let total: usize = per_key.values().map(Vec::len).sum();
    assert_eq!(total, 80, "nothing lost or duplicated");
    for (key, log) in per_key {
        let k: i64 = key.parse().unwrap();
        let want: Vec<(String, String, i64)> = (0..40i64)
            .filter(|i| i % 8 == k)
            .flat_map(|i| [("Y".to_owned(), "N".to_owned(), 2 * i), ("N".to_owned(), "Y".to_owned(), 2 * i + 1)])
            .collect();
        assert_eq!(log, want, "key {key}");
    }
}
