//! A client can override `binlog_format` / `binlog_row_image` for its own session, which the
//! precheck (GLOBAL values) cannot see. Such changes must stop the source with a message that
//! says what happened and what to do — never be skipped or emitted with missing columns.

use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_core::source::SourceError;
use cdc_tests::mariadb::{exec, server, start_source};

async fn run_until_error(session_sets: &[&str], change: &str) -> SourceError {
    let db = server().await;
    let schema = db.fresh_schema("session_override").await;
    let mut c = db.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("USE `{schema}`"),
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), w INT)",
            "INSERT INTO t VALUES (1,'a',1)",
        ],
    )
    .await;
    let mut cfg = db.source_config("overrides");
    cfg.schemas = vec![schema.clone()];
    let running = start_source(cfg, StartPosition::Latest).await;
    let mut stmts: Vec<&str> = session_sets.to_vec();
    stmts.push(change);
    exec(&mut c, &stmts).await;
    let res =
        tokio::time::timeout(Duration::from_secs(20), running.handle).await.expect("the source stops").expect("task");
    res.expect_err("the source must not go on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_minimal_row_image_stops_the_source_with_a_clear_error() {
    let err = run_until_error(&["SET SESSION binlog_row_image='MINIMAL'"], "UPDATE t SET v='b' WHERE id=1").await;
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Decode { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(msg.contains("binlog_row_image") && msg.contains("FULL") && msg.contains("of 3 columns"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_statement_format_stops_the_source_with_a_clear_error() {
    let err = run_until_error(&["SET SESSION binlog_format='STATEMENT'"], "INSERT INTO t VALUES (2,'b',2)").await;
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Decode { .. }), "{err:?}");
    assert!(
        msg.contains("statement-based DML") && msg.contains("binlog_format=ROW") && msg.contains("INSERT INTO t"),
        "{msg}"
    );
}
