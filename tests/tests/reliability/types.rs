//! Regression tests for decoding bugs the reliability workload found, against the real MariaDB.
//!
//! - Negative TIME(1)/TIME(2) values with a fraction: mysql_common 0.37 underflows a u32 there
//!   (panic in debug builds, a wrong value in release); `cdc-core/src/source/value.rs` reads
//!   those columns itself.

use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_tests::mariadb::{collect_events, exec, server, start_source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_time_with_one_or_two_fraction_digits_decodes_exactly() {
    let db = server().await;
    let schema = db.fresh_schema("rel_time").await;
    let mut c = db.admin_conn().await;
    exec(&mut c, &[&format!("CREATE TABLE `{schema}`.t (id INT PRIMARY KEY, t1 TIME(1), t2 TIME(2), t4 TIME(4))")])
        .await;
    let mut cfg = db.source_config("rel-time");
    cfg.schemas = vec![schema.clone()];
    let mut src = start_source(cfg, StartPosition::Latest).await;
    let rows = [
        (1, "-00:00:01.5", "-00:00:01.50", "-00:00:01.5000"),
        (2, "-838:59:58.9", "-838:59:58.99", "-838:59:58.9999"),
        (3, "-12:34:56.1", "-12:34:56.01", "-12:34:56.0001"),
        (4, "-00:00:00.1", "-00:00:00.01", "-00:00:00.0001"),
        (5, "-01:00:00.0", "-01:00:00.00", "-01:00:00.0000"),
        (6, "838:59:59.0", "00:00:00.99", "12:00:00.5000"),
    ];
    for (id, a, b, d) in rows {
        exec(&mut c, &[&format!("INSERT INTO `{schema}`.t VALUES ({id},'{a}','{b}','{d}')")]).await;
    }
    let events = collect_events(&mut src.rx, rows.len(), Duration::from_secs(20)).await;
    src.stop().await.expect("source ends cleanly");
    assert_eq!(events.len(), rows.len(), "every row decoded (a decoding panic ends the stream)");
    for (ev, (id, a, b, d)) in events.iter().zip(rows) {
        let json = serde_json::to_value(ev).unwrap();
        let after = &json["after"];
        assert_eq!(after["id"], id);
        // Contract: `[-]HH:MM:SS.f` to the column's precision; compare without leading zeros of hours.
        let norm = |s: &str| s.replacen("-00:", "-0:", 1).trim_start_matches('0').to_owned();
        for (col, want) in [("t1", a), ("t2", b), ("t4", d)] {
            let got = after[col].as_str().unwrap_or_else(|| panic!("{col} of {id}: {after}"));
            assert_eq!(norm(got), norm(want), "{col} of row {id}: {after}");
        }
    }
}

/// The verifier can fail: real events of the all-types workload verify clean, and the same
/// events with one removed, one value changed, two of a key swapped, or one repeated are
/// reported as missing/different, reordered, and a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_reports_missing_different_reordered_and_duplicate_events() {
    use cdc_tests::verify::{verify_workload, TopicEvent};
    use cdc_tests::workload::{self, SeedGuard, WorkloadConfig};

    let seed = workload::seed_from_env();
    let _guard = SeedGuard(seed);
    let db = server().await;
    let schema = db.fresh_schema("rel_verify").await;
    let mut c = db.admin_conn().await;
    workload::create_tables(&mut c, &schema).await;
    let mut cfg = db.source_config("rel-verify");
    cfg.schemas = vec![schema.clone()];
    let mut src = start_source(cfg, StartPosition::Latest).await;
    let mut w = WorkloadConfig::new(seed, schema.clone());
    w.workers = 1;
    w.txn_per_sec = 0.0;
    w.max_txns = Some(40);
    w.rollback_fraction = 0.0;
    w.key_space = 30;
    workload::start(&db, &w).join().await;
    // A marker row last, so every workload event is received before it.
    exec(&mut c, &[&format!("INSERT INTO `{schema}`.w_bulk VALUES (999999, 1, 'end')")]).await;
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !events.iter().any(|e: &serde_json::Value| e["after"]["id"] == 999999) {
        assert!(std::time::Instant::now() < deadline, "marker row never arrived");
        for ev in collect_events(&mut src.rx, 1, Duration::from_millis(500)).await {
            events.push(serde_json::to_value(&ev).unwrap());
        }
    }
    src.stop().await.expect("source ends cleanly");
    let topic: Vec<TopicEvent> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| TopicEvent { shard: "0".into(), sequence: i as i64, event, attributes: Default::default() })
        .collect();
    let report = verify_workload(&mut c, &topic, &schema).await;
    assert!(report.is_clean() && report.duplicates == 0, "{report}");

    // The last event of a w_nums key still in the table (a create or update, nothing after it).
    let key = |e: &TopicEvent| (e.table(), e.image()["id"].clone(), e.image()["a"].clone(), e.image()["b"].clone());
    let last_of_live_key = (0..topic.len())
        .rev()
        .find(|&i| {
            topic[i].table().ends_with(".w_nums")
                && topic[i].event["op"] != "d"
                && topic[i + 1..].iter().all(|later| key(later) != key(&topic[i]))
        })
        .expect("a w_nums row survives");
    let mut dropped = topic.clone();
    dropped.remove(last_of_live_key);
    let r = verify_workload(&mut c, &dropped, &schema).await;
    assert!(!r.missing.is_empty() || !r.different.is_empty(), "a dropped event went unnoticed: {r}");

    let mut changed = topic.clone();
    changed[last_of_live_key].event["after"]["d"] = serde_json::json!("-1.000001");
    changed[last_of_live_key].event["after"]["bl"] = serde_json::json!("AAAA");
    let r = verify_workload(&mut c, &changed, &schema).await;
    assert!(r.different.iter().any(|d| d.1 == "d"), "a changed DECIMAL went unnoticed: {r}");

    // Two events of one key swapped.
    let (i, j) = (0..topic.len())
        .flat_map(|i| (i + 1..topic.len()).map(move |j| (i, j)))
        .find(|&(i, j)| key(&topic[i]) == key(&topic[j]) && topic[i].id() != topic[j].id())
        .expect("a key with two events");
    let mut swapped = topic.clone();
    let (a, b) = (swapped[i].event.clone(), swapped[j].event.clone());
    swapped[i].event = b;
    swapped[j].event = a;
    let r = verify_workload(&mut c, &swapped, &schema).await;
    assert!(!r.reorders.is_empty(), "a per-key reorder went unnoticed: {r}");

    let mut dup = topic.clone();
    dup.push(TopicEvent { sequence: dup.len() as i64, ..topic[0].clone() });
    let r = verify_workload(&mut c, &dup, &schema).await;
    assert_eq!(r.duplicates, 1, "{r}");
}
