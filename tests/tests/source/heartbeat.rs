//! Replication lag on an idle server, on a MariaDB instance of this test's own
//! (`scripts/test-mariadb --name idle --port 33074`): the shared test server is never idle long
//! enough for a heartbeat while the suite runs. A row whose binlog timestamp is an hour old
//! makes the lag an hour; the next replication heartbeat (sent by the server when it has had
//! nothing to send for the heartbeat period, MySQL manual "MASTER_HEARTBEAT_PERIOD") says the
//! reader is caught up, and the lag must drop to 0 instead of growing while nothing happens.

use std::time::{Duration, Instant};

use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{collect_events, exec, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_drops_to_zero_at_the_first_heartbeat_of_an_idle_server() {
    let srv = tokio::task::spawn_blocking(|| TestServer::dedicated("idle", 33074)).await.unwrap();
    let (db, mut src, mut c) = srv.capture_fresh_schema("idle").await;
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT PRIMARY KEY)",
            // The binlog events of this session carry this timestamp (MySQL manual,
            // "timestamp" system variable).
            &format!("SET TIMESTAMP = {hour_ago}"),
            "INSERT INTO t VALUES (1)",
        ],
    )
    .await;
    drop(c);
    let rows = collect_events(&mut src.rx, 1, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), 1);
    let lag = src.status.snapshot().lag_ms.expect("a lag once an event was read");
    assert!(lag >= 3_500_000, "the row's binlog timestamp is an hour old, lag {lag} ms");

    // Nothing is written any more: within a few heartbeat periods (500 ms here) a heartbeat
    // arrives and the lag is 0.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut heartbeat = false;
    while Instant::now() < deadline && !heartbeat {
        if let Ok(Some(SourceMessage::Heartbeat { .. })) =
            tokio::time::timeout(Duration::from_millis(200), src.rx.recv()).await
        {
            heartbeat = true;
        }
    }
    assert!(heartbeat, "an idle server sends replication heartbeats");
    assert_eq!(src.status.snapshot().lag_ms, Some(0), "caught up after the heartbeat");
    src.stop().await.unwrap();
}
