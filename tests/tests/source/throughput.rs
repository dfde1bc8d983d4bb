//! Decode throughput on the real MariaDB: 100,000 rows of an 11-column table (the probe's bench
//! shape) in one transaction, streamed and decoded by the source. Prints rows/s; asserts only
//! that every row arrived in order (no timed assertion: the machine is shared). Build with
//! `--release` for meaningful figures (`cargo test --release -p cdc-tests --test
//! source_throughput -- --nocapture`).

use std::time::{Duration, Instant};

use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{exec, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_throughput_figures() {
    let rows: u64 = 100_000;
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("bench").await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE bench (id BIGINT UNSIGNED PRIMARY KEY, a INT, b INT UNSIGNED, c BIGINT, d DECIMAL(12,2),
              e DOUBLE, f VARCHAR(64), g DATETIME(6), h TIMESTAMP(3) NULL, i ENUM('x','y','z'), j TEXT NULL)",
        ],
    )
    .await;
    let insert = Instant::now();
    exec(
        &mut c,
        &[&format!(
            "INSERT INTO bench SELECT seq, CAST(seq % 1000 AS SIGNED) - 500, seq * 7, seq * 1000003, seq / 100, seq / 3,
               CONCAT('name-', seq), '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678', ELT(1 + seq % 3, 'x', 'y', 'z'),
               IF(seq % 10 = 0, NULL, 'some text') FROM seq_1_to_{rows}"
        )],
    )
    .await;
    let insert_s = insert.elapsed().as_secs_f64();

    let mut first: Option<Instant> = None;
    let mut n = 0u64;
    let mut last_id = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while n < rows && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(30), src.rx.recv()).await {
            Ok(Some(SourceMessage::Events(events))) => {
                first.get_or_insert_with(Instant::now);
                for e in events {
                    let id = match e.after.as_ref().unwrap().values[0] {
                        cdc_core::event::Value::UInt(v) => v,
                        ref v => panic!("{v:?}"),
                    };
                    assert_eq!(id, last_id + 1, "rows in order");
                    last_id = id;
                    n += 1;
                }
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    assert_eq!(n, rows, "every row arrived");
    let secs = first.unwrap().elapsed().as_secs_f64().max(1e-9);
    println!(
        "source throughput: {rows} rows in {secs:.2} s after the first row = {:.0} rows/s (insert took {insert_s:.2} s; {} build)",
        rows as f64 / secs,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    src.stop().await.unwrap();
}
