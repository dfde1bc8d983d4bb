//! Tests of the event contract: value texts, the envelope, partition keys, and the direct
//! writer against serde.

use std::sync::Arc;

use chrono::NaiveDate;

use super::*;

fn row(cols: &[&str], values: Vec<Value>) -> Row {
    Row { columns: cols.iter().map(|c| Arc::from(*c)).collect(), values }
}

#[test]
fn values_serialize_as_the_contract_says() {
    let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let dt = d.and_hms_micro_opt(23, 59, 59, 123_456).unwrap();
    let r = row(
        &["i", "u", "dec", "date", "dt0", "dt3", "ts", "time", "s", "b", "bit", "j", "n"],
        vec![
            Value::Int(-9_223_372_036_854_775_808),
            Value::UInt(18_446_744_073_709_551_615),
            Value::Decimal("-12.340000".into()),
            Value::Date(d),
            Value::DateTime { value: dt, precision: 0 },
            Value::DateTime { value: dt, precision: 3 },
            Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 },
            Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 0, precision: 0 },
            Value::String("héllo 😀".into()),
            Value::Bytes(vec![0, 1, 2, 255]),
            Value::Bit(21),
            Value::Json(Box::new(serde_json::json!({"a": [1, 2]}))),
            Value::Null,
        ],
    );
    let got = serde_json::to_string(&r).unwrap();
    assert_eq!(
        got,
        r#"{"i":-9223372036854775808,"u":18446744073709551615,"dec":"-12.340000","date":"2024-02-29","dt0":"2024-02-29 23:59:59","dt3":"2024-02-29 23:59:59.123","ts":"2024-03-01 12:00:00.789Z","time":"-838:59:59","s":"héllo 😀","b":"AAEC/w==","bit":21,"j":"{\"a\":[1,2]}","n":null}"#
    );
}

#[test]
fn envelope_has_the_contract_fields() {
    let ev = ChangeEvent {
        op: Op::Update,
        before: Some(row(&["id", "v"], vec![Value::Int(1), Value::String("a".into())])),
        after: Some(row(&["id", "v"], vec![Value::Int(1), Value::String("b".into())])),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "srv".into(),
                server_id: 7,
                db: "shop".into(),
                table: "orders".into(),
                file: "binlog.000001".into(),
                pos: 1234,
                gtid: Some("0-1-5".into()),
                ts_ms: 1_700_000_000_000,
                origin: Origin::Binlog,
            },
            0,
        ),
        ts_ms: 1_700_000_000_123,
        transaction: None,
        key_columns: Arc::from(vec![0usize]),
    };
    let v: serde_json::Value = serde_json::from_slice(&ev.to_json_bytes()).unwrap();
    assert_eq!(v["op"], "u");
    assert_eq!(v["before"]["v"], "a");
    assert_eq!(v["after"]["v"], "b");
    assert_eq!(v["source"]["connector"], "mysql");
    assert_eq!(v["source"]["contract"], 2, "the contract version is in the envelope");
    assert_eq!(v["source"]["file"], "binlog.000001");
    assert_eq!(v["source"]["pos"], 1234);
    assert_eq!(v["source"]["gtid"], "0-1-5");
    assert_eq!(v["source"]["snapshot"], "false");
    assert!(v["transaction"].is_null());
    assert_eq!(ev.partition_key(), "shop\u{1}orders\u{1}1");
}

#[test]
fn json_documents_are_strings_of_their_text() {
    // Every document shape, scalars too: a string document keeps its quotes and a `null`
    // document is the text `null`, not a JSON null (which would read as SQL NULL).
    let cases = [
        (serde_json::json!({"a": [1, 2.5], "b": null}), r#""{\"a\":[1,2.5],\"b\":null}""#),
        (serde_json::json!("x\"y"), r#""\"x\\\"y\"""#),
        (serde_json::json!(null), r#""null""#),
        (serde_json::json!(12), r#""12""#),
        (serde_json::json!([true]), r#""[true]""#),
    ];
    for (doc, want) in cases {
        let text = serde_json::to_string(&Value::Json(Box::new(doc.clone()))).unwrap();
        assert_eq!(text, want);
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&back).unwrap(), doc, "the text parses back");
    }
}

#[test]
fn partition_keys_keep_their_v1_text() {
    // v2 changed the JSON of TIMESTAMP and JSON values, not their partition-key text: an
    // upgrade must not move a key to another shard.
    let key = |v: Value| {
        let mut s = String::new();
        v.write_key(&mut s);
        s
    };
    let dt = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(23, 59, 59, 123_456).unwrap();
    assert_eq!(key(Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 }), r#""2024-03-01T12:00:00.789Z""#);
    assert_eq!(key(Value::DateTime { value: dt, precision: 6 }), r#""2024-02-29 23:59:59.123456""#);
    assert_eq!(key(Value::Date(dt.date())), r#""2024-02-29""#);
    assert_eq!(key(Value::Json(Box::new(serde_json::json!({"a": [1]})))), r#"{"a":[1]}"#);
    assert_eq!(key(Value::Decimal("-1.50".into())), "-1.50");
    assert_eq!(key(Value::UInt(u64::MAX)), "18446744073709551615");
    assert_eq!(key(Value::Bytes(vec![0, 255])), "AP8=");
    assert_eq!(key(Value::Null), "\u{0}N");
}

#[test]
fn table_without_key_partitions_by_table() {
    let mut ev = envelope_event();
    ev.after = Some(row(&["v"], vec![Value::Int(3)]));
    ev.key_columns = Arc::from(Vec::<usize>::new());
    assert_eq!(ev.partition_key(), "d\u{1}t");
}

#[test]
fn write_json_matches_serde() {
    // The direct writer must produce exactly serde_json's bytes for every value shape,
    // including the edges that take the serde fallback.
    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    let dt = |y, us| d(y, 2, 28).and_hms_micro_opt(23, 59, 59, us).unwrap();
    let leap = d(2016, 12, 31).and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
    let mut values = vec![
        Value::Null,
        Value::Int(i64::MIN),
        Value::Int(-1),
        Value::Int(0),
        Value::UInt(u64::MAX),
        Value::Bit(21),
        Value::Float(1.5),
        Value::Float(-0.1),
        Value::Float(3.4e38),
        Value::Float(f32::NAN),
        Value::Double(0.1 + 0.2),
        Value::Double(1e300),
        Value::Double(-0.0),
        Value::Double(5e-324),
        Value::Double(f64::INFINITY),
        Value::Double(12345678.0),
        Value::Decimal("-12.340000".into()),
        Value::String(CompactString::default()),
        Value::String("plain ascii".into()),
        Value::String("héllo 😀 \"quoted\" back\\slash \n\t\u{1}\u{1f} \u{7f} \u{2028}".into()),
        Value::Date(d(2024, 2, 29)),
        Value::Date(d(1, 1, 1)),
        Value::Date(d(999, 12, 31)),
        Value::Date(d(12345, 1, 1)),
        Value::Date(d(-5, 1, 1)),
        Value::DateTime { value: leap, precision: 3 },
        Value::DateTime { value: d(10000, 1, 1).and_hms_opt(0, 0, 0).unwrap(), precision: 0 },
        Value::Bytes(vec![]),
        Value::Bytes(vec![0]),
        Value::Bytes(vec![0, 1]),
        Value::Bytes(vec![0, 1, 2, 255, 254, 62, 63]),
        Value::Json(Box::new(serde_json::json!({"a": [1, 2.5, "x\"y"], "b": null}))),
        Value::Json(Box::new(serde_json::json!("a \"quoted\" \u{1} string"))),
        Value::Json(Box::new(serde_json::json!(null))),
        Value::Time { negative: false, hours: 0, minutes: 0, seconds: 0, micros: 0, precision: 0 },
        Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 999_999, precision: 6 },
        Value::Time { negative: false, hours: 5, minutes: 7, seconds: 9, micros: 120, precision: 4 },
        Value::Time { negative: false, hours: 1, minutes: 100, seconds: 200, micros: 1_000_001, precision: 6 },
    ];
    for p in 0..=7 {
        values.push(Value::DateTime { value: dt(2024, 123_456), precision: p });
        values.push(Value::DateTime { value: dt(987, 7), precision: p });
        values.push(Value::Timestamp { micros: 1_709_294_400_789_012, precision: p });
        values.push(Value::Timestamp { micros: -1, precision: p });
        values.push(Value::Timestamp { micros: 0, precision: p });
    }
    values.push(Value::Timestamp { micros: i64::MAX, precision: 0 });
    values.push(Value::Timestamp { micros: 300_000_000_000_000_000, precision: 2 });
    values.push(Value::Timestamp { micros: -62_167_219_200_000_001, precision: 6 });
    let names: Vec<String> = (0..values.len()).map(|i| format!("c{i}")).collect();
    let mut names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    names[1] = "we\"ird\\name\u{0}";
    let r = row(&names, values);
    let source = |gtid: Option<&str>| {
        SourceInfo::new(
            RowsEventInfo {
                name: "srv \"x\"".into(),
                server_id: u32::MAX,
                db: "shop".into(),
                table: "orders".into(),
                file: "binlog.000001".into(),
                pos: u64::MAX,
                gtid: gtid.map(Arc::from),
                ts_ms: -1,
                origin: Origin::Binlog,
            },
            u32::MAX,
        )
    };
    let events = [
        ChangeEvent {
            op: Op::Update,
            before: Some(r.clone()),
            after: Some(r.clone()),
            source: source(Some("0-1-5")),
            ts_ms: i64::MAX,
            transaction: Some(TransactionInfo { id: "0-1-5".into(), total_order: 7, data_collection_order: 3 }),
            key_columns: Arc::from(vec![0usize]),
        },
        ChangeEvent {
            op: Op::Create,
            before: None,
            after: Some(row(&[], vec![])),
            source: source(None),
            ts_ms: 0,
            transaction: None,
            key_columns: Arc::from(Vec::<usize>::new()),
        },
        ChangeEvent {
            op: Op::Delete,
            before: Some(r),
            after: None,
            source: source(None),
            ts_ms: 1,
            transaction: None,
            key_columns: Arc::from(Vec::<usize>::new()),
        },
        ChangeEvent { op: Op::Read, ..ChangeEvent::clone(&envelope_event()) },
    ];
    for ev in &events {
        let reference = serde_json::to_vec(ev).unwrap();
        let mut direct = b"prefix".to_vec();
        ev.write_json(&mut direct);
        assert_eq!(String::from_utf8_lossy(&direct[6..]), String::from_utf8_lossy(&reference), "op {:?}", ev.op);
        assert_eq!(&direct[..6], b"prefix", "appends, keeps what was in the buffer");
        assert_eq!(ev.to_json_bytes(), reference);
    }
}

fn envelope_event() -> ChangeEvent {
    ChangeEvent {
        op: Op::Create,
        before: None,
        after: Some(row(&["id"], vec![Value::Int(1)])),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "n".into(),
                server_id: 1,
                db: "d".into(),
                table: "t".into(),
                file: "f".into(),
                pos: 4,
                gtid: None,
                ts_ms: 0,
                origin: Origin::Binlog,
            },
            0,
        ),
        ts_ms: 0,
        transaction: None,
        key_columns: Arc::from(vec![0usize]),
    }
}
