//! ALTER TABLE mid-stream against the real MariaDB, with `binlog_row_metadata=FULL` (names from
//! the TABLE_MAP) and MINIMAL (names, key and ENUM labels from information_schema, re-read
//! after each DDL).

use std::time::Duration;

use cdc_core::event::{ChangeEvent, Op};
use cdc_tests::mariadb::{collect_events, exec, server, server_minimal, RunningSource, TestServer};

fn names(e: &ChangeEvent) -> Vec<String> {
    e.after.as_ref().or(e.before.as_ref()).unwrap().columns.iter().map(|c| c.to_string()).collect()
}

async fn one(src: &mut RunningSource) -> ChangeEvent {
    let mut evs = collect_events(&mut src.rx, 1, Duration::from_secs(20)).await;
    assert_eq!(evs.len(), 1, "an event within 20 s");
    evs.remove(0)
}

async fn alter_mid_stream(srv: TestServer, prefix: &str) {
    let (db, mut src, mut c) = srv.capture_fresh_schema(prefix).await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT UNSIGNED PRIMARY KEY, a VARCHAR(10), e ENUM('p','q'), b INT)",
            "INSERT INTO t VALUES (4294967295, 'x', 'q', 10)",
        ],
    )
    .await;
    let e1 = one(&mut src).await;
    assert_eq!(names(&e1), ["id", "a", "e", "b"]);
    assert_eq!(serde_json::to_string(&e1.after).unwrap(), r#"{"id":4294967295,"a":"x","e":"q","b":10}"#);
    assert_eq!(&*e1.key_columns, &[0]);

    exec(&mut c, &["ALTER TABLE t ADD COLUMN c VARCHAR(10) AFTER id", "INSERT INTO t VALUES (2, 'z', 'y', 'p', 20)"])
        .await;
    let e2 = one(&mut src).await;
    assert_eq!(serde_json::to_string(&e2.after).unwrap(), r#"{"id":2,"c":"z","a":"y","e":"p","b":20}"#);

    exec(&mut c, &["UPDATE t SET a = 'w' WHERE id = 4294967295"]).await;
    let e3 = one(&mut src).await;
    assert_eq!(e3.op, Op::Update);
    assert_eq!(serde_json::to_string(&e3.before).unwrap(), r#"{"id":4294967295,"c":null,"a":"x","e":"q","b":10}"#);
    assert_eq!(serde_json::to_string(&e3.after).unwrap(), r#"{"id":4294967295,"c":null,"a":"w","e":"q","b":10}"#);

    exec(&mut c, &["ALTER TABLE t DROP COLUMN a", "DELETE FROM t WHERE id = 2"]).await;
    let e4 = one(&mut src).await;
    assert_eq!(e4.op, Op::Delete);
    assert_eq!(serde_json::to_string(&e4.before).unwrap(), r#"{"id":2,"c":"z","e":"p","b":20}"#);
    assert_eq!(&*e4.key_columns, &[0]);
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_table_mid_stream_with_full_row_metadata() {
    alter_mid_stream(server().await, "ddlfull").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_table_mid_stream_with_minimal_row_metadata() {
    let srv = server_minimal().await;
    let mut c = srv.admin_conn().await;
    let meta: Option<String> =
        mysql_async::prelude::Queryable::query_first(&mut c, "SELECT @@binlog_row_metadata").await.unwrap();
    assert_eq!(meta.as_deref(), Some("MINIMAL"), "the minimal server sends no column names");
    alter_mid_stream(srv, "ddlmin").await;
}
