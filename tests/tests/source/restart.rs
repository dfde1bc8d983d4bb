//! A real server restart mid-stream, on a MariaDB instance of this test's own
//! (`scripts/test-mariadb --name srcrestart --port 33069`, so the shared test server is not
//! disturbed): the source reports Connecting while the server is down, reconnects with backoff
//! and loses no row.

use std::time::Duration;

use cdc_core::status::StageState;
use cdc_tests::mariadb::{collect_events, exec, test_mariadb, TestServer};

const PORT: u16 = 33069;

fn script(cmd: &'static str) {
    test_mariadb(&[cmd, "--name", "srcrestart", "--port", &PORT.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_is_survived_without_losing_a_row() {
    tokio::task::spawn_blocking(|| script("start")).await.unwrap();
    let srv = TestServer { host: "127.0.0.1".into(), port: PORT };
    let (db, mut src, mut c) = srv.capture_fresh_schema("restart").await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)"])
        .await;
    let before = collect_events(&mut src.rx, 2, Duration::from_secs(20)).await;
    assert_eq!(before.len(), 2);
    drop(c);

    tokio::task::spawn_blocking(|| script("stop")).await.unwrap();
    let mut saw_connecting = false;
    for _ in 0..100 {
        if matches!(src.status.snapshot().source, StageState::Connecting(Some(_))) {
            saw_connecting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_connecting, "source reports Connecting with a reason while the server is down");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::spawn_blocking(|| script("start")).await.unwrap();

    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "INSERT INTO t VALUES (3)", "DELETE FROM t WHERE id = 1"]).await;
    let after = collect_events(&mut src.rx, 2, Duration::from_secs(30)).await;
    let ops: Vec<String> = after
        .iter()
        .map(|e| format!("{}{}", e.op, serde_json::to_string(e.after.as_ref().or(e.before.as_ref()).unwrap()).unwrap()))
        .collect();
    assert_eq!(ops, vec![r#"c{"id":3}"#, r#"d{"id":1}"#]);
    assert_eq!(src.status.snapshot().source, StageState::Running);
    src.stop().await.unwrap();
    drop(c);
    tokio::task::spawn_blocking(|| script("stop")).await.unwrap();
}
