//! Snapshot read speed: one table read by `cdc_core::snapshot::SnapshotReader` into typed
//! `ChangeEvent`s (optionally also encoded as contract JSON), rows/s and MB/s of JSON, printed
//! as one JSON line: a standalone check of the reader alone. `scripts/bench` measures the
//! snapshot through the service's source instead (`collector snapshot` / `snapshot-e2e`, in
//! `cdc-core/benches/collector.rs`), beside `mydumper` and `mariadb-dump --quick`.
//!
//! ```text
//! cargo run --release -p cdc-core --example snapshot_bench -- \
//!     --addr 127.0.0.1:33064 --user cdc_admin --password cdc_admin_pw --db bench --table narrow \
//!     [--chunk-rows 8192] [--encode] [--fill 1000000]
//! ```
//!
//! `--fill N` first (re)creates `db.table` as the bench's 11-column `narrow` table (same DDL
//! and generator as `bench/run.py`) with N rows from MariaDB's SEQUENCE engine.

use std::time::Instant;

use cdc_core::snapshot::{SnapshotConfig, SnapshotProgress, SnapshotReader, TableId};
use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NARROW_DDL: &str = "CREATE TABLE narrow (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY, i INT, u INT UNSIGNED, b BIGINT, d DECIMAL(12,2), f DOUBLE,
  s VARCHAR(64) CHARACTER SET utf8mb4, dt DATETIME(6), ts TIMESTAMP(3) NULL,
  e ENUM('new','paid','shipped','done'), t TEXT NULL) ENGINE=InnoDB";

const NARROW_SELECT: &str =
    "SELECT seq, (seq*7919) % 2000000 - 1000000, (seq*104729) % 4000000000, seq*1000003 - 250000000000,
  ((seq*37) % 10000000) / 100, seq * 1.000001 / 7, CONCAT('customer-', LPAD(seq, 8, '0'), '-ünïcødé ✓'),
  TIMESTAMP('2024-01-01 00:00:00.123456') + INTERVAL seq SECOND,
  IF(seq % 10 = 0, NULL, FROM_UNIXTIME(1700000000 + seq + 0.125)), ELT(1 + seq % 4, 'new','paid','shipped','done'),
  IF(seq % 5 = 0, NULL, REPEAT('lorem ipsum ', 1 + seq % 8))
  FROM (SELECT CAST(seq AS SIGNED) AS seq FROM seq_{a}_to_{b}) q";

struct Args {
    addr: String,
    user: String,
    password: String,
    db: String,
    table: String,
    chunk_rows: usize,
    encode: bool,
    fill: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:33064".into(),
        user: "cdc_admin".into(),
        password: "cdc_admin_pw".into(),
        db: "bench".into(),
        table: "narrow".into(),
        chunk_rows: 8192,
        encode: false,
        fill: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?,
            "--user" => a.user = value()?,
            "--password" => a.password = value()?,
            "--db" => a.db = value()?,
            "--table" => a.table = value()?,
            "--chunk-rows" => a.chunk_rows = value()?.parse().map_err(|e| format!("--chunk-rows: {e}"))?,
            "--fill" => a.fill = Some(value()?.parse().map_err(|e| format!("--fill: {e}"))?),
            "--encode" => a.encode = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let (host, port) = a.addr.rsplit_once(':').ok_or("--addr is host:port")?;
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port.parse()?)
        .user(Some(a.user.clone()))
        .pass(Some(a.password.clone()))
        .prefer_socket(false)
        .into();
    if let Some(n) = a.fill {
        let mut c = mysql_async::Conn::new(opts.clone()).await?;
        c.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", a.db)).await?;
        c.query_drop(format!("USE `{}`", a.db)).await?;
        c.query_drop(format!("DROP TABLE IF EXISTS `{}`", a.table)).await?;
        c.query_drop(NARROW_DDL.replacen("narrow", &format!("`{}`", a.table), 1)).await?;
        c.query_drop("SET NAMES utf8mb4").await?;
        let t = Instant::now();
        let step = 100_000u64;
        let mut lo = 1;
        while lo <= n {
            let hi = (lo + step - 1).min(n);
            let select = NARROW_SELECT.replace("{a}", &lo.to_string()).replace("{b}", &hi.to_string());
            c.query_drop(format!("INSERT INTO `{}` {select}", a.table)).await?;
            lo = hi + 1;
        }
        eprintln!("filled {}.{} with {n} rows in {:.1} s", a.db, a.table, t.elapsed().as_secs_f64());
    }

    let conn = mysql_async::Conn::new(opts).await?;
    let mut cfg = SnapshotConfig::new("bench");
    cfg.chunk_rows = a.chunk_rows;
    let start = Instant::now();
    let reader = SnapshotReader::open(conn, cfg, SnapshotProgress::new([TableId::new(&a.db, &a.table)])).await?;
    let (tx, mut rx) = mpsc::channel(4);
    let task = tokio::spawn(reader.run(tx, CancellationToken::new()));
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(1024);
    while let Some(chunk) = rx.recv().await {
        rows += chunk.events.len() as u64;
        if a.encode {
            for ev in &chunk.events {
                buf.clear();
                ev.write_json(&mut buf);
                bytes += buf.len() as u64;
            }
        }
    }
    task.await??;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"tool\":\"cdc-core snapshot{}\",\"rows\":{rows},\"seconds\":{secs:.3},\"rows_per_s\":{:.0},\"json_mb\":{:.1},\"json_mb_per_s\":{:.1},\"chunk_rows\":{}}}",
        if a.encode { " + JSON" } else { "" },
        rows as f64 / secs,
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        a.chunk_rows
    );
    Ok(())
}
