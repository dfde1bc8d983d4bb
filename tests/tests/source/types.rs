//! Value decoding against the real MariaDB (binlog_row_metadata=FULL): one row per type family,
//! compared as exact contract JSON.

use std::time::Duration;

use cdc_core::event::Op;
use cdc_core::position::StartPosition;
use cdc_tests::mariadb::{collect_events, exec, server, start_source};

const DDL: &str = "CREATE TABLE types (
    id INT UNSIGNED PRIMARY KEY,
    ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
    i INT, bi BIGINT, bu BIGINT UNSIGNED, y YEAR,
    dec1 DECIMAL(20,6), dec0 DECIMAL(5,0), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(3) NULL, tm TIME, tm6 TIME(6),
    c CHAR(10), vc VARCHAR(100), tx TEXT, cl CHAR(5) CHARACTER SET latin1,
    bn BINARY(4), vb VARBINARY(10), bl BLOB,
    e ENUM('small','medium','large'), st SET('a','b','c'), bt BIT(5), j JSON
) CHARACTER SET utf8mb4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_family_decodes_to_the_contract_json() {
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("types").await;
    exec(&mut c, &[&format!("USE `{db}`"), "SET time_zone = '+00:00'", "SET sql_mode = ''", DDL]).await;
    exec(
        &mut c,
        &[
            "INSERT INTO types VALUES (4294967295, -128, 255, -32768, 65535, -8388608, 16777215,
              -2147483648, -9223372036854775808, 18446744073709551615, 2024,
              '-12345678901234.567891', 99999, 1.5, -2.25,
              '1000-01-01', '2024-02-29 23:59:59.123456', '9999-12-31 23:59:59', '2024-03-01 12:00:00.789', '-838:59:59', '12:34:56.000001',
              'abc', '日本語 😀', 'héllo wörld 🎉', 'café',
              0x0102, 0x00ff, 0xdeadbeef,
              'medium', 'c,a', b'10101', '{\"a\": [1, 2], \"b\": null}')",
            "INSERT INTO types (id) VALUES (1)",
            "INSERT INTO types (id, dt, dtm, ts, y, bn, e, st, tm) VALUES (2, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, '', '', '', '00:00:00')",
        ],
    )
    .await;

    let events = collect_events(&mut src.rx, 3, Duration::from_secs(20)).await;
    assert_eq!(events.len(), 3, "three inserts");
    for e in &events {
        assert_eq!(e.op, Op::Create);
        assert!(e.before.is_none());
        assert_eq!(&*e.source.db, db.as_str());
        assert_eq!(&*e.source.table, "types");
        assert_eq!(&*e.key_columns, &[0]);
    }
    let full = serde_json::to_string(&events[0].after).unwrap();
    assert_eq!(
        full,
        concat!(
            r#"{"id":4294967295,"ti":-128,"tu":255,"si":-32768,"su":65535,"mi":-8388608,"mu":16777215,"#,
            r#""i":-2147483648,"bi":-9223372036854775808,"bu":18446744073709551615,"y":2024,"#,
            r#""dec1":"-12345678901234.567891","dec0":"99999","f":1.5,"d":-2.25,"#,
            r#""dt":"1000-01-01","dtm":"2024-02-29 23:59:59.123456","dtm0":"9999-12-31 23:59:59","ts":"2024-03-01 12:00:00.789Z","tm":"-838:59:59","tm6":"12:34:56.000001","#,
            r#""c":"abc","vc":"日本語 😀","tx":"héllo wörld 🎉","cl":"café","#,
            r#""bn":"AQIAAA==","vb":"AP8=","bl":"3q2+7w==","#,
            r#""e":"medium","st":"a,c","bt":21,"j":"{\"a\": [1, 2], \"b\": null}"}"#
        )
    );
    let nulls = serde_json::to_string(&events[1].after).unwrap();
    assert_eq!(
        nulls,
        concat!(
            r#"{"id":1,"ti":null,"tu":null,"si":null,"su":null,"mi":null,"mu":null,"i":null,"bi":null,"bu":null,"y":null,"#,
            r#""dec1":null,"dec0":null,"f":null,"d":null,"dt":null,"dtm":null,"dtm0":null,"ts":null,"tm":null,"tm6":null,"#,
            r#""c":null,"vc":null,"tx":null,"cl":null,"bn":null,"vb":null,"bl":null,"e":null,"st":null,"bt":null,"j":null}"#
        )
    );
    let zero = &events[2].after.as_ref().unwrap();
    let get = |n: &str| serde_json::to_string(zero.get(n).unwrap()).unwrap();
    assert_eq!(get("dt"), "null", "zero DATE is null");
    assert_eq!(get("dtm"), "null", "zero DATETIME is null");
    assert_eq!(get("ts"), "null", "zero TIMESTAMP is null");
    assert_eq!(get("y"), "0", "YEAR 0000");
    assert_eq!(get("bn"), "\"AAAAAA==\"", "empty BINARY(4) is four zero bytes");
    assert_eq!(get("e"), "\"\"", "invalid ENUM value is the empty string");
    assert_eq!(get("st"), "\"\"", "empty SET");
    assert_eq!(get("tm"), "\"00:00:00\"");

    let first = &events[0];
    assert!(first.source.file.starts_with("binlog."), "{}", first.source.file);
    assert!(first.source.pos > 4);
    assert_eq!(first.source.row, 0);
    let gtid = first.source.gtid.as_deref().expect("MariaDB sends GTIDs with capability 4");
    assert_eq!(gtid.split('-').count(), 3, "{gtid}");
    assert_eq!(first.transaction.as_ref().unwrap().id.as_ref(), gtid);
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geometry_before_strings_keeps_charsets_aligned() {
    // MariaDB counts GEOMETRY among the character columns of the charset metadata
    // (binlog-probe §4.6); a reader that does not would decode `txt` as bytes and `vb` as text.
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("geom").await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE g (id INT PRIMARY KEY, p POINT, txt LONGTEXT, ch CHAR(3), vb VARBINARY(4)) CHARACTER SET utf8mb4",
            "INSERT INTO g VALUES (1, ST_GeomFromText('POINT(1 2)'), 'ünï', 'äö', 0xff00)",
        ],
    )
    .await;
    let ev = collect_events(&mut src.rx, 1, Duration::from_secs(20)).await.remove(0);
    let row = ev.after.unwrap();
    assert_eq!(serde_json::to_string(row.get("txt").unwrap()).unwrap(), "\"ünï\"");
    assert_eq!(serde_json::to_string(row.get("ch").unwrap()).unwrap(), "\"äö\"");
    assert_eq!(serde_json::to_string(row.get("vb").unwrap()).unwrap(), "\"/wA=\"");
    // POINT: 4-byte SRID 0 + WKB (byte order, type 1, x=1.0, y=2.0), as base64.
    match row.get("p").unwrap() {
        cdc_core::event::Value::Bytes(b) => {
            assert_eq!(b.len(), 25);
            assert_eq!(&b[..9], &[0, 0, 0, 0, 1, 1, 0, 0, 0]);
        }
        v => panic!("{v:?}"),
    }
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_arrive_outside_transactions() {
    // The MINIMAL server is used by fewer tests, so it is idle long enough for heartbeats.
    let srv = cdc_tests::mariadb::server_minimal().await;
    let mut cfg = srv.source_config("hb");
    cfg.heartbeat_ms = 100;
    cfg.schemas = vec!["no_such_schema".into()];
    let mut src = start_source(cfg, StartPosition::Latest).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut heartbeat = None;
    while heartbeat.is_none() && tokio::time::Instant::now() < deadline {
        if let Ok(Some(cdc_core::source::SourceMessage::Heartbeat { position, .. })) =
            tokio::time::timeout(Duration::from_secs(1), src.rx.recv()).await
        {
            heartbeat = Some(position);
        }
    }
    let position = heartbeat.expect("a heartbeat within 20 s at 100 ms period");
    assert!(position.file.starts_with("binlog."), "{position}");
    assert!(position.pos >= 4);
    src.stop().await.unwrap();
}
