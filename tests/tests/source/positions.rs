//! Positions against the real MariaDB: rotation (FLUSH BINARY LOGS) mid-stream, restarting
//! from a saved Commit position and from a GTID set, and a purged position.

use std::time::Duration;

use cdc_core::position::{BinlogPosition, StartPosition};
use cdc_core::source::{BinlogSource, SourceError, SourceMessage};
use cdc_core::status::Status;
use cdc_tests::mariadb::{collect_events, collect_until_commit, exec, server, start_source, start_source_at};

fn ids(evs: &[cdc_core::event::ChangeEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| serde_json::to_string(e.after.as_ref().or(e.before.as_ref()).unwrap().get("id").unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_mid_stream_keeps_every_event_and_names_the_new_file() {
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("rotate").await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE t (id INT PRIMARY KEY)",
            "INSERT INTO t VALUES (1)",
            "FLUSH BINARY LOGS",
            "INSERT INTO t VALUES (2)",
        ],
    )
    .await;
    let msgs = collect_until_commit(&mut src.rx, 2, Duration::from_secs(20)).await;
    let evs: Vec<_> = msgs.iter().flat_map(|m| m.events()).cloned().collect();
    assert_eq!(ids(&evs), vec!["1", "2"]);
    let f1 = BinlogPosition::new(evs[0].source.file.to_string(), 4);
    let f2 = BinlogPosition::new(evs[1].source.file.to_string(), 4);
    assert_eq!(f2.file_index(), f1.file_index().map(|i| i + 1), "{} then {}", f1.file, f2.file);
    assert!(!evs[1].source.file.contains(|c: char| c.is_control()), "file name without CRC bytes");
    let SourceMessage::Commit(last) = msgs.last().unwrap() else { panic!("ends with a commit") };
    assert_eq!(last.position().cloned().unwrap().file, f2.file);
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_commit_position_reads_only_what_follows() {
    let srv = server().await;
    let db = srv.fresh_schema("resume").await;
    let mut cfg = srv.source_config("resume");
    cfg.schemas = vec![db.clone()];
    let mut src = start_source(cfg.clone(), StartPosition::Latest).await;
    let mut c = srv.admin_conn().await;
    exec(&mut c, &[&format!("USE `{db}`"), "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)"]).await;
    let msgs = collect_until_commit(&mut src.rx, 1, Duration::from_secs(20)).await;
    let SourceMessage::Commit(saved) = msgs.last().unwrap().clone() else { panic!("commit") };
    src.stop().await.unwrap();

    exec(&mut c, &["INSERT INTO t VALUES (2)", "FLUSH BINARY LOGS", "INSERT INTO t VALUES (3)"]).await;

    // From the saved file:pos.
    cfg.server_id = cdc_tests::mariadb::unique_server_id();
    let mut again = start_source(cfg.clone(), StartPosition::At(saved.position().cloned().unwrap())).await;
    let evs = collect_events(&mut again.rx, 2, Duration::from_secs(20)).await;
    assert_eq!(ids(&evs), vec!["2", "3"], "only the rows after the saved commit");
    again.stop().await.unwrap();

    // From the saved GTID state (MariaDB @slave_connect_state).
    let gtid = saved.gtid_set().cloned().expect("gtid state");
    cfg.server_id = cdc_tests::mariadb::unique_server_id();
    let start = StartPosition::Gtid(gtid);
    let mut by_gtid = start_source(cfg, start).await;
    let evs = collect_events(&mut by_gtid.rx, 2, Duration::from_secs(20)).await;
    assert_eq!(ids(&evs), vec!["2", "3"], "only the rows after the saved GTID");
    assert!(!evs[0].source.file.is_empty());
    by_gtid.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_position_is_reported_as_such() {
    let srv = server().await;
    let cfg = srv.source_config("purged");
    // `binlog.000000` never exists: the server answers exactly as for a purged file.
    let gone = BinlogPosition::new("binlog.000000", 4);
    let status = Status::new();
    let source = BinlogSource::new(cfg.clone(), status.clone());
    match source.resolve_start(&StartPosition::At(gone.clone())).await {
        Err(SourceError::PositionPurged { position, oldest }) => {
            assert_eq!(position, gone);
            assert!(oldest.starts_with("binlog."), "{oldest}");
        }
        other => panic!("expected PositionPurged, got {other:?}"),
    }
    // And while streaming (the server's error 1236 is recognised).
    let cp = cdc_core::checkpoint::Checkpoint::at(gone.clone(), None, 0, 0);
    let run = start_source_at(source, cp, status.clone()).await;
    let res = tokio::time::timeout(Duration::from_secs(20), run.handle).await.expect("run ends").unwrap();
    match res {
        Err(e @ SourceError::PositionPurged { .. }) => {
            assert!(e.to_string().contains("binlog.000000"), "{e}");
            assert!(!e.is_transient());
        }
        other => panic!("expected PositionPurged, got {other:?}"),
    }
    assert!(matches!(status.snapshot().source, cdc_core::status::StageState::Failed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earliest_and_latest_resolve_to_the_servers_binlog_list() {
    let srv = server().await;
    let source = BinlogSource::new(srv.source_config("resolve"), Status::new());
    let mut c = srv.admin_conn().await;
    let logs: Vec<mysql_async::Row> = mysql_async::prelude::Queryable::query(&mut c, "SHOW BINARY LOGS").await.unwrap();
    let first: String = logs[0].get(0).unwrap();
    let earliest = source.resolve_start(&StartPosition::Earliest).await.unwrap();
    assert_eq!(earliest.position(), Some(&BinlogPosition::new(first, 4)));
    let latest = source.resolve_start(&StartPosition::Latest).await.unwrap();
    let last: String = logs[logs.len() - 1].get(0).unwrap();
    let at = latest.position().expect("a file position");
    assert!(at.file >= last, "{at} vs {last}");
    assert!(at.pos > 4);
    let gtid = latest.gtid_set().expect("@@gtid_binlog_pos");
    assert_eq!(gtid.flavor, cdc_core::position::GtidFlavor::Mariadb, "{gtid}");
}
