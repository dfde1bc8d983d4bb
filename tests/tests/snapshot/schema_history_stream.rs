//! The schema history on the live stream (issue 14), on servers whose TABLE_MAPs carry no
//! column names (`binlog_row_metadata` NO_LOG — the OceanBase binlog service's shape — and
//! MINIMAL): the collector is stopped, a series of DDLs interleaved with DML runs, the collector
//! restarts from its checkpoint (also once in the middle of the series) and every row event
//! carries exactly the columns and values its table had at its binlog position. A DDL the
//! history cannot read stops the source with the documented message.

use std::sync::Arc;
use std::time::Duration;

use cdc_core::checkpoint::Checkpoint;
use cdc_core::event::ChangeEvent;
use cdc_core::position::StartPosition;
use cdc_core::schema_history::HistoryProvider;
use cdc_core::source::{BinlogSource, SourceError, SourceMessage};
use cdc_core::status::Status;
use cdc_tests::mariadb::{exec, server_minimal, server_nolog, start_source_at, TestServer};
use serde_json::{json, Value as Json};

/// Reads messages until `n` row events arrived and a commit followed; returns the events and
/// the last commit's checkpoint.
async fn read(rx: &mut tokio::sync::mpsc::Receiver<SourceMessage>, n: usize) -> (Vec<ChangeEvent>, Checkpoint) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(SourceMessage::Events(v))) => events.extend(v),
            Ok(Some(SourceMessage::Commit(cp))) => {
                if events.len() >= n {
                    return (events, cp);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("{} of {n} events, then nothing", events.len()),
        }
    }
}

/// The after image as a JSON object (column name → value).
fn image(ev: &ChangeEvent) -> Json {
    let v: Json = serde_json::from_slice(&ev.to_json_bytes()).unwrap();
    v["after"].clone()
}

async fn series(srv: TestServer, label: &str) {
    let schema = srv.fresh_schema(&format!("hist_{label}")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut admin = srv.admin_conn().await;
    exec(
        &mut admin,
        &[&format!("USE `{schema}`"), "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), e ENUM('x','y'))"],
    )
    .await;

    // First run: seeds the history at the start position, reads one row.
    let cfg = srv.source_config_with_history("hist", &schema, &path);
    let source = BinlogSource::new(cfg, Status::new());
    let start = source.resolve_start(&StartPosition::Latest).await.unwrap();
    let mut run = start_source_at(source, start, Status::new()).await;
    exec(&mut admin, &["INSERT INTO t VALUES (1, 'one', 'y')"]).await;
    let (evs, cp) = read(&mut run.rx, 1).await;
    assert_eq!(image(&evs[0]), json!({"id": 1, "a": "one", "e": "y"}));
    run.stop().await.unwrap();

    // The collector is stopped: the series runs (each step: DDL, then a row of the new shape).
    let steps: Vec<(&str, &str, Json)> = vec![
        (
            "ALTER TABLE t ADD COLUMN f0 INT NOT NULL DEFAULT 0 FIRST",
            "INSERT INTO t VALUES (10, 2, 'two', 'x')",
            json!({"f0": 10, "id": 2, "a": "two", "e": "x"}),
        ),
        (
            "ALTER TABLE t ADD COLUMN b INT AFTER a",
            "INSERT INTO t VALUES (11, 3, 'three', -3, 'y')",
            json!({"f0": 11, "id": 3, "a": "three", "b": -3, "e": "y"}),
        ),
        (
            "ALTER TABLE t DROP COLUMN a",
            "INSERT INTO t VALUES (12, 4, -4, 'x')",
            json!({"f0": 12, "id": 4, "b": -4, "e": "x"}),
        ),
        (
            "ALTER TABLE t CHANGE b bb BIGINT",
            "INSERT INTO t VALUES (13, 5, 9000000000, 'y')",
            json!({"f0": 13, "id": 5, "bb": 9000000000i64, "e": "y"}),
        ),
        (
            "ALTER TABLE t MODIFY e ENUM('x','y','z')",
            "INSERT INTO t VALUES (14, 6, 6, 'z')",
            json!({"f0": 14, "id": 6, "bb": 6, "e": "z"}),
        ),
        (
            "ALTER TABLE t RENAME COLUMN f0 TO g",
            "INSERT INTO t VALUES (15, 7, 7, 'x')",
            json!({"g": 15, "id": 7, "bb": 7, "e": "x"}),
        ),
        (
            "ALTER TABLE t ADD COLUMN c VARCHAR(3) CHARACTER SET latin1, DROP PRIMARY KEY, ADD PRIMARY KEY (id, g)",
            "INSERT INTO t VALUES (16, 8, 8, 'y', 'é')",
            json!({"g": 16, "id": 8, "bb": 8, "e": "y", "c": "é"}),
        ),
        (
            "ALTER TABLE t MODIFY c VARCHAR(30) CHARACTER SET utf8mb4",
            "INSERT INTO t VALUES (17, 9, 9, 'z', '日本')",
            json!({"g": 17, "id": 9, "bb": 9, "e": "z", "c": "日本"}),
        ),
        (
            "RENAME TABLE t TO t_old",
            "INSERT INTO t_old VALUES (18, 10, 10, 'x', 'old')",
            json!({"g": 18, "id": 10, "bb": 10, "e": "x", "c": "old"}),
        ),
        (
            "CREATE TABLE t (id INT PRIMARY KEY, note TEXT)",
            "INSERT INTO t VALUES (11, 'new t')",
            json!({"id": 11, "note": "new t"}),
        ),
        ("DROP TABLE t_old", "INSERT INTO t VALUES (12, 'after drop')", json!({"id": 12, "note": "after drop"})),
        ("DROP TABLE t", "CREATE TABLE t (k VARCHAR(5) PRIMARY KEY, n INT UNSIGNED)", Json::Null),
        ("INSERT INTO t VALUES ('a', 4294967295)", "INSERT INTO t VALUES ('b', 1)", json!({"k": "b", "n": 1})),
    ];
    for (ddl, dml, _) in &steps {
        exec(&mut admin, &[ddl, dml]).await;
    }
    let expected: Vec<(&str, Json)> = {
        let mut v = Vec::new();
        for (ddl, dml, want) in &steps {
            if ddl.starts_with("INSERT INTO t VALUES ('a'") {
                v.push(("t", json!({"k": "a", "n": 4294967295u64})));
            }
            if !want.is_null() {
                let table = if dml.contains("t_old") { "t_old" } else { "t" };
                v.push((table, want.clone()));
            }
        }
        v
    };

    // Second run from the checkpoint, stopped in the middle of the series; third run to the end.
    let half = expected.len() / 2;
    let cfg = srv.source_config_with_history("hist", &schema, &path);
    let mut run = start_source_at(BinlogSource::new(cfg, Status::new()), cp, Status::new()).await;
    let (first, mid) = read(&mut run.rx, half).await;
    run.stop().await.unwrap();
    let cfg = srv.source_config_with_history("hist", &schema, &path);
    let mut run = start_source_at(BinlogSource::new(cfg, Status::new()), mid.clone(), Status::new()).await;
    let got_before_mid = first.len();
    let (rest, _) = read(&mut run.rx, expected.len() - got_before_mid).await;
    run.stop().await.unwrap();

    let all: Vec<&ChangeEvent> = first.iter().chain(rest.iter()).collect();
    assert_eq!(
        all.len(),
        expected.len(),
        "one event per row written: {:?}",
        all.iter().map(|e| image(e)).collect::<Vec<_>>()
    );
    for (i, (ev, (table, want))) in all.iter().zip(&expected).enumerate() {
        assert_eq!(&*ev.source.table, *table, "event {i}");
        assert_eq!(image(ev), *want, "event {i} ({label}): the columns and values of its table at its position");
    }
    // The primary key followed the DDL: (id, g) for rows written after the key change.
    let keyed = all.iter().find(|e| image(e).get("c").is_some_and(|c| c == "é")).unwrap();
    let key_names: Vec<String> =
        keyed.key_columns.iter().map(|&i| keyed.after.as_ref().unwrap().columns[i].to_string()).collect();
    assert_eq!(key_names, ["id", "g"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_rows_carry_their_tables_columns_at_their_position_across_restarts() {
    series(server_nolog().await, "nolog").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_rows_carry_their_tables_columns_at_their_position_across_restarts() {
    series(server_minimal().await, "minimal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_the_history_cannot_read_stops_with_the_statement_its_position_and_the_ways_on() {
    let srv = server_nolog().await;
    let schema = srv.fresh_schema("hist_bad").await;
    let dir = tempfile::tempdir().unwrap();
    let mut admin = srv.admin_conn().await;
    exec(&mut admin, &[&format!("USE `{schema}`"), "CREATE TABLE t (id INT PRIMARY KEY, v INT)"]).await;
    let cfg = srv.source_config_with_history("hist", &schema, &dir.path().join("h.jsonl"));
    let source = BinlogSource::new(cfg, Status::new());
    let start = source.resolve_start(&StartPosition::Latest).await.unwrap();
    let mut run = start_source_at(source, start, Status::new()).await;
    // MariaDB system versioning adds hidden columns the history does not model: refused.
    exec(&mut admin, &["ALTER TABLE t ADD SYSTEM VERSIONING", "INSERT INTO t VALUES (1, 1)"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::timeout_at(deadline, run.rx.recv()).await.is_ok_and(|m| m.is_some()) {}
    let err = tokio::time::timeout(Duration::from_secs(10), run.handle).await.unwrap().unwrap().unwrap_err();
    assert!(matches!(err, SourceError::SchemaHistory(_)), "{err:?}");
    let text = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
    assert!(text.contains("SYSTEM VERSIONING") || text.contains("system versioning"), "names the statement: {text}");
    assert!(text.contains("Ways on"), "says what to do: {text}");
    assert!(text.contains("binlog.") || text.contains(':'), "names the position: {text}");

    // The documented way on for a statement that changes no columns is to skip it; skipping
    // this one (it adds hidden columns) is caught by the TABLE_MAP check at the next row
    // instead of mis-decoding it.
    let SourceError::SchemaHistory(inner) = &err else { unreachable!() };
    let Some(cdc_core::schema_history::HistoryError::Unsupported { position, .. }) = inner.downcast_ref() else {
        panic!("an unsupported-DDL error: {inner}")
    };
    let mut cfg = srv.source_config("hist");
    cfg.schemas = vec![schema.clone()];
    let provider =
        HistoryProvider::new(dir.path().join("h.jsonl"), vec![schema.clone()]).skip_statements(vec![position.clone()]);
    cfg.schema_provider = Some(Arc::new(tokio::sync::Mutex::new(Box::new(provider))));
    let mut again = start_source_at(BinlogSource::new(cfg, Status::new()), run.start.clone(), Status::new()).await;
    while tokio::time::timeout_at(deadline + Duration::from_secs(30), again.rx.recv()).await.is_ok_and(|m| m.is_some())
    {
    }
    let err = tokio::time::timeout(Duration::from_secs(10), again.handle).await.unwrap().unwrap().unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
    assert!(text.contains("TABLE_MAP") && text.contains("does not match the schema history"), "{text}");
    exec(&mut admin, &["ALTER TABLE t DROP SYSTEM VERSIONING"]).await;
}
