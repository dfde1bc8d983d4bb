//! Tests of TUPLE topics: conversions, record ids, layouts and the records of each operation.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use prost::Message as _;

use super::*;
use crate::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use crate::sink::datahub::config::WriteProtocol;
use crate::sink::datahub::pb;

fn ok(v: Value, ty: FieldType) -> Option<String> {
    convert(&v, ty).unwrap_or_else(|e| panic!("{v:?} as {ty}: {e}"))
}

fn err(v: Value, ty: FieldType) -> String {
    convert(&v, ty).expect_err(&format!("{v:?} as {ty} must fail"))
}

#[test]
fn integers_are_range_checked_per_type() {
    use FieldType::*;
    assert_eq!(ok(Value::Int(i64::MAX), Bigint).unwrap(), "9223372036854775807");
    assert_eq!(ok(Value::Int(-i64::MAX), Bigint).unwrap(), "-9223372036854775807");
    assert!(err(Value::Int(i64::MIN), Bigint).contains("out of range"));
    assert_eq!(ok(Value::UInt(i64::MAX as u64), Bigint).unwrap(), "9223372036854775807");
    let e = err(Value::UInt(u64::MAX), Bigint);
    assert!(e.contains("UNSIGNED integer value 18446744073709551615 is out of range"), "{e}");
    assert_eq!(ok(Value::Bit(0b1011), Bigint).unwrap(), "11");
    assert_eq!(ok(Value::Int(i32::MIN.into()), Integer).unwrap(), "-2147483648");
    assert!(err(Value::Int(i64::from(i32::MAX) + 1), Integer).contains("out of range"));
    assert_eq!(ok(Value::UInt(32767), Smallint).unwrap(), "32767");
    assert!(err(Value::UInt(32768), Smallint).contains("-32768..=32767"));
    assert_eq!(ok(Value::Int(-128), Tinyint).unwrap(), "-128");
    assert!(err(Value::Int(128), Tinyint).contains("out of range"));
    assert!(err(Value::String("12".into()), Bigint).contains("cannot be written as BIGINT"));
    assert!(err(Value::Decimal("1".into()), Integer).contains("cannot be written as INTEGER"));
    assert!(err(Value::Double(1.0), Bigint).contains("cannot be written"));
}

#[test]
fn floats_booleans_decimals() {
    use FieldType::*;
    assert_eq!(ok(Value::Double(1.5), Double).unwrap(), "1.5");
    assert_eq!(ok(Value::Double(1e20), Double).unwrap(), "100000000000000000000");
    assert_eq!(ok(Value::Double(0.1), Double).unwrap(), "0.1");
    assert_eq!(ok(Value::Float(0.1), Double).unwrap(), "0.1", "FLOAT's own shortest text, not 0.10000000149…");
    assert_eq!(ok(Value::Double(f64::NAN), Double).unwrap(), "NaN");
    assert_eq!(ok(Value::Double(f64::NEG_INFINITY), Double).unwrap(), "-Infinity");
    assert_eq!(ok(Value::Float(-2.25), Float).unwrap(), "-2.25");
    // f32::MAX's shortest text (3.4028235e38) read as a double is above f32::MAX.
    let max = ok(Value::Float(f32::MAX), Float).unwrap();
    assert_eq!(max.parse::<f64>().unwrap(), f64::from(f32::MAX));
    assert_eq!(max.parse::<f32>().unwrap(), f32::MAX);
    assert_eq!(ok(Value::Float(f32::MIN), Double).unwrap().parse::<f64>().unwrap(), f64::from(f32::MIN));
    assert_eq!(ok(Value::Double(0.5), Float).unwrap(), "0.5");
    assert!(err(Value::Double(0.1), Float).contains("not exactly representable"));
    assert!(err(Value::Int(1), Double).contains("cannot be written as DOUBLE"));
    for (text, parsed) in [("1.5", 1.5f64), ("100000000000000000000", 1e20)] {
        assert_eq!(text.parse::<f64>().unwrap(), parsed, "round trip");
    }
    assert_eq!(ok(Value::Int(1), Boolean).unwrap(), "true");
    assert_eq!(ok(Value::UInt(0), Boolean).unwrap(), "false");
    assert_eq!(ok(Value::Bit(1), Boolean).unwrap(), "true");
    assert!(err(Value::Int(2), Boolean).contains("neither 0 nor 1"));
    assert!(err(Value::String("true".into()), Boolean).contains("cannot be written as BOOLEAN"));
    assert_eq!(ok(Value::Decimal("-12.340000".into()), Decimal).unwrap(), "-12.340000");
    assert_eq!(ok(Value::UInt(u64::MAX), Decimal).unwrap(), "18446744073709551615");
    assert!(err(Value::Double(1.5), Decimal).contains("cannot be written as DECIMAL"));
}

#[test]
fn times_strings_json_and_null() {
    use FieldType::*;
    let dt = NaiveDateTime::parse_from_str("2024-02-29 23:59:58.123456", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    assert_eq!(ok(Value::DateTime { value: dt, precision: 6 }, Timestamp).unwrap(), "1709251198123456");
    assert_eq!(ok(Value::DateTime { value: dt, precision: 3 }, String).unwrap(), "2024-02-29 23:59:58.123");
    let d = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
    assert_eq!(ok(Value::Date(d), Timestamp).unwrap(), "86400000000");
    assert_eq!(ok(Value::Date(d), String).unwrap(), "1970-01-02");
    let ts = Value::Timestamp { micros: 1_455_869_335_000_001, precision: 6 };
    assert_eq!(ok(ts.clone(), Timestamp).unwrap(), "1455869335000001");
    assert_eq!(ok(ts, String).unwrap(), "2016-02-19T08:08:55.000001Z");
    let far = Value::Timestamp { micros: TIMESTAMP_MAX_US + 1, precision: 0 };
    assert!(err(far, Timestamp).contains("years 0001..=9999"));
    let time = Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 0, precision: 0 };
    assert_eq!(ok(time.clone(), String).unwrap(), "-838:59:59");
    assert!(err(time, Timestamp).contains("TIME value -838:59:59 cannot be written as TIMESTAMP"));
    assert_eq!(ok(Value::Bytes(vec![0, 255, 1]), String).unwrap(), "AP8B");
    assert_eq!(ok(Value::String("".into()), String).unwrap(), "", "empty string stays empty, not NULL");
    assert_eq!(ok(Value::Int(-3), String).unwrap(), "-3");
    let big = Value::String("x".repeat(MAX_STRING_BYTES + 1).into());
    assert!(err(big, String).contains("2 MB"));
    let j = Value::Json(Box::new(serde_json::json!({"a": [1, "b", null]})));
    assert_eq!(ok(j.clone(), Json).unwrap(), r#"{"a":[1,"b",null]}"#);
    assert_eq!(ok(j, String).unwrap(), r#"{"a":[1,"b",null]}"#);
    assert_eq!(ok(Value::String("q\"".into()), Json).unwrap(), r#""q\"""#);
    // The TUPLE texts of times and JSON are this module's, unchanged by event contract v2
    // (whose BLOB JSON writes TIMESTAMP with a space and JSON columns as strings).
    let ts = Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 };
    assert_eq!(ok(ts.clone(), String).unwrap(), "2024-03-01T12:00:00.789Z");
    assert_eq!(ok(ts, Json).unwrap(), r#""2024-03-01T12:00:00.789Z""#);
    let doc = Value::Json(Box::new(serde_json::json!("s")));
    assert_eq!((ok(doc.clone(), String).unwrap(), ok(doc, Json).unwrap()), (r#""s""#.into(), r#""s""#.into()));
    let t = Value::Time { negative: false, hours: 5, minutes: 7, seconds: 9, micros: 120, precision: 4 };
    assert_eq!(ok(t, String).unwrap(), "05:07:09.0001");
    assert_eq!(ok(Value::Int(-3), Json).unwrap(), "-3");
    assert_eq!(ok(Value::Decimal("1.50".into()), Json).unwrap(), r#""1.50""#);
    for ty in [Bigint, Integer, Smallint, Tinyint, Double, Float, Boolean, Timestamp, String, Decimal, Json] {
        assert_eq!(convert(&Value::Null, ty), Ok(None));
        assert_eq!(FieldType::parse(&ty.as_str().to_ascii_lowercase()), Some(ty));
    }
}

#[test]
fn record_ids_increase_with_file_offset_and_row() {
    assert_eq!(record_id("mysql-bin.000001", 4, 0), Ok(1_000_000_000_004));
    assert_eq!(record_id("binlog.000042", 1234, 2), Ok(42_000_000_001_236));
    assert!(record_id("binlog.000001", 999_999, 0).unwrap() < record_id("binlog.000002", 4, 0).unwrap());
    assert_eq!(record_id("binlog.999999", 0, 0), Ok(999_999_000_000_000_000));
    assert!(record_id("binlog", 4, 0).unwrap_err().contains("no numeric index"));
    assert!(record_id("binlog.000001", RECORD_ID_FILE_FACTOR, 0).is_err());
    assert!(record_id("binlog.99999999", 0, 0).unwrap_err().contains("too large"));
}

fn schema(fields: &[(&str, &str, bool)]) -> String {
    let fields: Vec<serde_json::Value> = fields
        .iter()
        .map(|(n, t, nn)| serde_json::json!({"name": n, "type": t, "notnull": nn, "comment": ""}))
        .collect();
    serde_json::json!({ "fields": fields }).to_string()
}

fn dts_schema(cols: &[(&str, &str, bool)]) -> String {
    let mut f: Vec<(&str, &str, bool)> = DTS_FIELDS.iter().map(|n| (*n, "STRING", false)).collect();
    f[0].1 = "bigint";
    f.extend_from_slice(cols);
    schema(&f)
}

fn event(op: Op, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> ChangeEvent {
    let columns: Arc<[Arc<str>]> = vec![Arc::from("ID"), Arc::from("name"), Arc::from("extra")].into();
    let row = |values| Row { columns: columns.clone(), values };
    ChangeEvent {
        op,
        before: before.map(row),
        after: after.map(row),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "srv".into(),
                server_id: 1,
                db: "shop".into(),
                table: "users".into(),
                file: "binlog.000003".into(),
                pos: 500,
                gtid: None,
                ts_ms: 1_700_000_000_123,
                origin: crate::event::Origin::Binlog,
            },
            1,
        ),
        ts_ms: 0,
        transaction: None,
        key_columns: vec![0usize].into(),
    }
}

#[test]
fn plain_layout_writes_the_columns_only_and_layouts_can_be_required() {
    let plain = TupleSchema::parse(&schema(&[("id", "BIGINT", true), ("name", "STRING", false)])).unwrap();
    let enc = TupleEncoder::with_layout(plain.clone(), Layout::Plain).unwrap();
    let recs = enc
        .records(&event(
            Op::Update,
            Some(vec![Value::Int(1), Value::String("a".into()), Value::Null]),
            Some(vec![Value::Int(1), Value::String("b".into()), Value::Null]),
        ))
        .unwrap();
    let values: Vec<_> = recs.iter().map(|r| r.values.clone()).collect();
    assert_eq!(
        values,
        [vec![Some("1".to_owned()), Some("a".to_owned())], vec![Some("1".to_owned()), Some("b".to_owned())]]
    );
    assert!(TupleEncoder::with_layout(plain, Layout::Dts).is_err(), "no DTS metadata fields");
    let dts = TupleSchema::parse(&dts_schema(&[("id", "BIGINT", true)])).unwrap();
    let e = TupleEncoder::with_layout(dts.clone(), Layout::Plain).unwrap_err().to_string();
    assert!(e.contains("the topic is in the DTS layout, not plain"), "{e}");
    assert_eq!(TupleEncoder::with_layout(dts, Layout::Dts).unwrap().layout(), Layout::Dts);
    assert_eq!("DataWorks".parse::<Layout>(), Ok(Layout::DataWorks));
    assert!("csv".parse::<Layout>().is_err());
    let created = TupleSchema { fields: Layout::DataWorks.meta_schema() };
    assert_eq!(Layout::detect(&created), Ok(Layout::DataWorks), "created metadata is detected back");
    let created = TupleSchema { fields: Layout::Dts.meta_schema() };
    assert_eq!(Layout::detect(&created), Ok(Layout::Dts));
}

#[test]
fn layouts_are_detected_from_leading_fields() {
    let dts = TupleSchema::parse(&dts_schema(&[("id", "BIGINT", true)])).unwrap();
    assert_eq!(Layout::detect(&dts), Ok(Layout::Dts));
    let upper = schema(&[
        ("_SEQUENCE_ID_", "STRING", false),
        ("_operation_type_", "string", false),
        ("_execute_time_", "BIGINT", false),
        ("_before_image_", "STRING", false),
        ("_after_image_", "STRING", false),
    ]);
    assert_eq!(TupleEncoder::from_record_schema(&upper).unwrap().layout(), Layout::DataWorks);
    let plain = TupleSchema::parse(&schema(&[("id", "BIGINT", false)])).unwrap();
    assert!(matches!(Layout::detect(&plain), Err(TupleError::Schema(m)) if m.contains("neither the DTS")));
    // Same names, a metadata field of the wrong type.
    let mut f: Vec<(&str, &str, bool)> = DTS_FIELDS.iter().map(|n| (*n, "STRING", false)).collect();
    f[6].1 = "BOOLEAN";
    let bad = schema(&f);
    let e = TupleEncoder::from_record_schema(&bad).unwrap_err().to_string();
    assert!(e.contains("new_dts_sync_dts_before_flag has type BOOLEAN"), "{e}");
    assert!(TupleSchema::parse(r#"{"fields":[{"name":"a","type":"VARCHAR"}]}"#).is_err());
    assert!(TupleSchema::parse(r#"{"fields":[]}"#).is_err());
    assert!(TupleSchema::parse("not json").is_err());
}

#[test]
fn dts_update_is_two_records_before_then_after() {
    let enc = TupleEncoder::from_record_schema(&dts_schema(&[
        ("id", "BIGINT", true),
        ("name", "STRING", false),
        ("missing", "STRING", false),
    ]))
    .unwrap();
    let e = event(
        Op::Update,
        Some(vec![Value::Int(7), Value::String("old".into()), Value::Int(1)]),
        Some(vec![Value::Int(7), Value::String("".into()), Value::Int(2)]),
    );
    let recs = enc.records(&e).unwrap();
    let s = |x: &str| Some(x.to_owned());
    let meta = |b: &str, a: &str| {
        vec![s("3000000000501"), s("U"), s("srv"), s("shop"), s("users"), s("1700000000"), s(b), s(a)]
    };
    let mut before = meta("Y", "N");
    before.extend([s("7"), s("old"), None]);
    let mut after = meta("N", "Y");
    after.extend([s("7"), s(""), None]);
    assert_eq!(recs.iter().map(|r| r.values.clone()).collect::<Vec<_>>(), vec![before, after]);
    assert_eq!(recs[0].attributes.get("op").map(String::as_str), Some("u"));
    let encoded = enc.encode_event(5, &e, WriteProtocol::PbByShard).unwrap();
    assert_eq!(encoded.iter().map(|r| (r.index, r.events)).collect::<Vec<_>>(), [(5, 0), (5, 1)]);
    // Insert and delete are one record each.
    let ins = enc.records(&event(Op::Create, None, Some(vec![Value::Int(1), Value::Null, Value::Null]))).unwrap();
    assert_eq!((ins.len(), &ins[0].values[1], &ins[0].values[6..8]), (1, &s("I"), &[s("N"), s("Y")][..]));
    let del = enc.records(&event(Op::Delete, Some(vec![Value::Int(1), Value::Null, Value::Null]), None)).unwrap();
    assert_eq!((del.len(), &del[0].values[1], &del[0].values[6..8]), (1, &s("D"), &[s("Y"), s("N")][..]));
    // NULL into the NOT NULL id: a typed error naming db.table.column.
    let e = enc.records(&event(Op::Create, None, Some(vec![Value::Null, Value::Null, Value::Null]))).unwrap_err();
    assert_eq!(e.to_string(), "shop.users.id: NULL value for a NOT NULL field (TUPLE field type BIGINT)");
}

#[test]
fn dataworks_and_time_units() {
    let enc = TupleEncoder::from_record_schema(&schema(&[
        ("_sequence_id_", "STRING", false),
        ("_operation_type_", "STRING", false),
        ("_execute_time_", "TIMESTAMP", false),
        ("_before_image_", "STRING", false),
        ("_after_image_", "STRING", false),
        ("name", "STRING", false),
    ]))
    .unwrap();
    let r = enc.records(&event(Op::Delete, Some(vec![Value::Int(1), Value::String("n".into()), Value::Null]), None));
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(r.unwrap()[0].values, vec![s("3000000000501"), s("D"), s("1700000000123000"), s("Y"), s("N"), s("n")]);
    let ms = schema(&[
        ("_sequence_id_", "BIGINT", false),
        ("_operation_type_", "STRING", false),
        ("_execute_time_", "BIGINT", false),
        ("_before_image_", "STRING", false),
        ("_after_image_", "STRING", false),
    ]);
    let r = TupleEncoder::from_record_schema(&ms).unwrap().records(&event(Op::Create, None, Some(vec![])));
    assert_eq!(r.unwrap()[0].values[2], s("1700000000123"));
}

#[test]
fn wire_forms_carry_null_and_empty_apart() {
    let mut attributes = BTreeMap::new();
    attributes.insert("op".to_owned(), "c".to_owned());
    let r = TupleRecord { values: vec![Some("1".into()), None, Some(String::new())], attributes };
    let entry = pb::RecordEntry::decode(r.wire(WriteProtocol::PbByShard).as_slice()).unwrap();
    let values: Vec<Option<Vec<u8>>> = entry.data.data.into_iter().map(|f| f.value).collect();
    assert_eq!(values, vec![Some(b"1".to_vec()), None, Some(vec![])]);
    assert_eq!(entry.attributes.unwrap().attributes[0].key, "op");
    let json = std::string::String::from_utf8(r.wire(WriteProtocol::JsonPutRecords)).unwrap();
    assert_eq!(json, r#""Data":["1",null,""],"Attributes":{"op":"c"}"#);
    assert_eq!(r.payload_bytes(), 1);
}
