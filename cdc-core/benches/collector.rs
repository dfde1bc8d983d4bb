//! `collector` bench binary: measures cdc-collector's own stages against a running MariaDB (the
//! one `scripts/bench` generates the workload into) and, for the end-to-end and latency modes, a
//! running `datahub-emulator` process. It prints one JSON object of figures on stdout and asserts
//! nothing about speed; `scripts/bench` (through `bench/run.py`) runs it several times and
//! tabulates medians next to the peer tools.
//!
//! ```text
//! collector decode  --port P --file F --rows N [--table T] [--json | --json-serde]
//! collector e2e     --port P --file F --rows N [--table T] --endpoint URL
//! collector latency --port P --endpoint URL [--rate 10000] [--seconds 10] [--warmup 2]
//! collector snapshot     --port P --rows N [--table T] [--chunk-rows 8192]
//! collector snapshot-e2e --port P --rows N [--table T] [--chunk-rows 8192] --endpoint URL
//! ```
//!
//! * `decode`: the real [`BinlogSource`] (replication protocol from `F:4`, TABLE_MAP column
//!   plans, typed [`ChangeEvent`]s) into the pipeline's bounded channel (default capacity
//!   16 messages); a consumer counts rows and, with `--json`, renders each event's contract JSON into
//!   a reused buffer. Stops after `N` rows of table `T`.
//! * `e2e`: [`pipeline::run`] with the product's [`DataHubSink`] (default protocol, compression,
//!   batch limits and queue bound) into the emulator; stops once `N` rows are acknowledged.
//! * `latency`: the same pipeline started at the end of the binlog, while a writer commits
//!   `rate` rows/s (100-row transactions); for every row, the time from just before its
//!   COMMIT is sent to the moment the sink acknowledged the batch holding it. p50/p99 over the
//!   rows committed after the warm-up.
//! * `snapshot`: the service's snapshot source, [`SnapshotThenStream`] in mode `initial_only`
//!   (its `resolve_start` opens the consistent snapshot, its `run` reads `bench.T` through
//!   `SnapshotReader` in primary-key chunks of `--chunk-rows`, default the service's 8,192) into
//!   the pipeline's bounded channel; a consumer counts the `op: r` events (no sink). Timed from
//!   `resolve_start` to the channel's end; checks that `N` rows arrived.
//! * `snapshot-e2e`: [`pipeline::run`] with the same source into the product's
//!   [`DataHubSink`] (default protocol, compression, batch limits and queue bound), as the
//!   service runs it; stops once `N` rows are acknowledged.
//!
//! CPU seconds come from `/proc/self/stat` (utime + stime, all threads, 10 ms ticks), RSS from
//! `/proc/self/status` (`VmHWM` peak, `VmRSS` sampled every 50 ms; "steady" = median of the
//! samples of the second half of the run).

use std::error::Error;

/// The service binary's allocator (cdc-service/src/main.rs), so the figures are the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cdc_core::checkpoint::MemoryOffsetStore;
use cdc_core::datahub::{Credentials, DataHubConfig, DataHubSink};
use cdc_core::event::{ChangeEvent, Op, Value};
use cdc_core::pipeline::{self, PipelineConfig};
use cdc_core::position::{BinlogPosition, StartPosition};
use cdc_core::snapshot::{SnapshotConfig, SnapshotMode, SnapshotThenStream};

use cdc_core::checkpoint::Checkpoint;
use cdc_core::sink::{Sink, SinkAck, SinkError};
use cdc_core::source::{BinlogSource, ChangeSource, SourceConfig, SourceMessage};
use cdc_core::status::Status;
use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Command-line arguments (hand-parsed: the bench has no clap dependency).
struct Args {
    mode: String,
    port: u16,
    file: String,
    rows: u64,
    table: String,
    json: bool,
    /// Render JSON through serde_json's `Serialize` path (the reference the direct writer
    /// replaced) instead of `ChangeEvent::write_json`: the before/after comparison.
    json_serde: bool,
    endpoint: String,
    rate: u64,
    seconds: u64,
    warmup: u64,
    /// `e2e`/`latency`: pipeline overrides (`--queue` messages, `--batch-records` rows,
    /// `--batch-bytes` estimated bytes);
    /// default: `PipelineConfig::default()`.
    queue: Option<usize>,
    batch_records: Option<usize>,
    batch_bytes: Option<usize>,
    /// `snapshot`/`snapshot-e2e`: rows per chunk; default `SnapshotConfig::new`'s.
    chunk_rows: Option<usize>,
}

fn parse_args() -> BoxResult<Args> {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = it.next().ok_or("usage: collector decode|e2e|latency|snapshot|snapshot-e2e [options]")?;
    let mut a = Args {
        mode,
        port: 33064,
        file: String::new(),
        rows: 0,
        table: "narrow".into(),
        json: false,
        json_serde: false,
        endpoint: String::new(),
        rate: 10_000,
        seconds: 10,
        warmup: 2,
        queue: None,
        batch_records: None,
        batch_bytes: None,
        chunk_rows: None,
    };
    while let Some(flag) = it.next() {
        if flag == "--json" || flag == "--json-serde" {
            a.json = true;
            a.json_serde = flag == "--json-serde";
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => a.port = v.parse()?,
            "--file" => a.file = v,
            "--rows" => a.rows = v.parse()?,
            "--table" => a.table = v,
            "--endpoint" => a.endpoint = v,
            "--rate" => a.rate = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--warmup" => a.warmup = v.parse()?,
            "--queue" => a.queue = Some(v.parse()?),
            "--batch-records" => a.batch_records = Some(v.parse()?),
            "--batch-bytes" => a.batch_bytes = Some(v.parse()?),
            "--chunk-rows" => a.chunk_rows = Some(v.parse()?),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(a)
}

/// utime + stime of this process (all threads), seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// A `/proc/self/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples VmRSS every 50 ms until stopped; returns the samples (KiB).
fn rss_sampler(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            v.push(status_kib("VmRSS:"));
            std::thread::sleep(Duration::from_millis(50));
        }
        v
    })
}

fn steady_kib(samples: &[u64]) -> u64 {
    let mut tail: Vec<u64> = samples[samples.len() / 2..].to_vec();
    if tail.is_empty() {
        return status_kib("VmRSS:");
    }
    tail.sort_unstable();
    tail[tail.len() / 2]
}

fn source_config(a: &Args, tables: Vec<String>) -> SourceConfig {
    let mut cfg = SourceConfig::new("127.0.0.1", a.port, "cdc_repl", "cdc_repl_pw");
    cfg.server_id = 7700 + (std::process::id() % 1000);
    cfg.name = "bench".into();
    cfg.schemas = vec!["bench".into()];
    cfg.tables = tables;
    cfg
}

fn from_file(file: &str) -> Checkpoint {
    Checkpoint::at(BinlogPosition::new(file, 4), None, 0, 0)
}

/// Source → bounded channel → counting (and optionally JSON-rendering) consumer.
async fn decode(a: &Args) -> BoxResult<serde_json::Value> {
    let source = BinlogSource::new(source_config(a, vec![a.table.clone()]), Status::new());
    let (tx, mut rx) = mpsc::channel(PipelineConfig::default().channel_capacity);
    let cancel = CancellationToken::new();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(stop.clone());
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let task = tokio::spawn(source.run(from_file(&a.file), tx, cancel.clone()));
    let (mut rows, mut json_bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(msg) = rx.recv().await {
        if let SourceMessage::Events(events) = msg {
            rows += events.len() as u64;
            for ev in &events {
                if a.json_serde {
                    serde_json::to_writer(&mut buf, ev)?;
                    json_bytes += buf.len() as u64 + 1;
                    buf.clear();
                } else if a.json {
                    ev.write_json(&mut buf);
                    json_bytes += buf.len() as u64 + 1;
                    buf.clear();
                }
            }
            if rows >= a.rows {
                break;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    cancel.cancel();
    drop(rx);
    let _ = task.await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    Ok(serde_json::json!({
        "mode": if a.json_serde { "json-serde" } else if a.json { "json" } else { "decode" }, "rows": rows, "secs": secs, "cpu_s": cpu,
        "json_bytes": json_bytes, "rss_peak_kib": status_kib("VmHWM:"), "rss_steady_kib": steady_kib(&samples),
    }))
}

/// Wraps the product sink: counts acknowledged rows, records per-row acknowledgement times.
struct CountingSink {
    inner: DataHubSink,
    acked: Arc<AtomicU64>,
    target: u64,
    done: CancellationToken,
    /// For the latency mode: (commit instants by id, t0, latencies out).
    lat: Option<Arc<LatencyBook>>,
}

struct LatencyBook {
    t0: Instant,
    /// Commit time of row id `i` (ns since t0, 0 = not yet recorded), indexed by id.
    commit_ns: Vec<AtomicU64>,
    /// First id whose latency counts (after the warm-up).
    first_counted: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

impl Sink for CountingSink {
    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        let ack = self.inner.send(batch).await?;
        if let Some(book) = &self.lat {
            let now = book.t0.elapsed().as_nanos() as u64;
            let first = book.first_counted.load(Ordering::Relaxed);
            let mut out = book.latencies_us.lock().expect("latency lock");
            for ev in batch {
                let id = match ev.after.as_ref().and_then(|r| r.values.first()) {
                    Some(Value::UInt(v)) => *v,
                    Some(Value::Int(v)) => *v as u64,
                    _ => continue,
                };
                if id < first || id as usize >= book.commit_ns.len() {
                    continue;
                }
                let c = book.commit_ns[id as usize].load(Ordering::Acquire);
                if c > 0 {
                    out.push(now.saturating_sub(c) / 1000);
                }
            }
        }
        let total = self.acked.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        if self.target > 0 && total >= self.target {
            self.done.cancel();
        }
        Ok(ack)
    }

    async fn check(&mut self) -> Result<(), SinkError> {
        self.inner.check().await
    }
}

async fn connect_sink(endpoint: &str) -> BoxResult<DataHubSink> {
    let cfg = DataHubConfig::new(endpoint, "bench_project", "events", Credentials::new("bench_id", "bench_key"));
    Ok(DataHubSink::connect(cfg).await?)
}

/// Source → pipeline → DataHubSink → emulator, until `rows` are acknowledged.
async fn e2e(a: &Args) -> BoxResult<serde_json::Value> {
    let source = BinlogSource::new(source_config(a, vec![a.table.clone()]), Status::new());
    measured_run(a, "e2e", source, StartPosition::At(BinlogPosition::new(a.file.clone(), 4))).await
}

/// `source` → pipeline (from `start`) → DataHubSink → emulator until `rows` are acknowledged,
/// timed, with CPU seconds and RSS; the result is reported as `mode`.
async fn measured_run(
    a: &Args,
    mode: &str,
    source: impl ChangeSource,
    start: StartPosition,
) -> BoxResult<serde_json::Value> {
    let cancel = CancellationToken::new();
    let acked = Arc::new(AtomicU64::new(0));
    let sink = CountingSink {
        inner: connect_sink(&a.endpoint).await?,
        acked: acked.clone(),
        target: a.rows,
        done: cancel.clone(),
        lat: None,
    };
    let cfg = pipeline_config(a, start);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(stop.clone());
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    pipeline::run(source, sink, MemoryOffsetStore::new(), cfg, Status::new(), cancel.clone()).await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    Ok(serde_json::json!({
        "mode": mode, "rows": acked.load(Ordering::Relaxed), "secs": secs, "cpu_s": cpu,
        "rss_peak_kib": status_kib("VmHWM:"), "rss_steady_kib": steady_kib(&samples),
    }))
}

/// The default pipeline configuration starting at `start`, with the command line's overrides.
fn pipeline_config(a: &Args, start: StartPosition) -> PipelineConfig {
    let mut cfg = PipelineConfig { start, ..PipelineConfig::default() };
    if let Some(q) = a.queue {
        cfg.channel_capacity = q;
    }
    if let Some(n) = a.batch_records {
        cfg.batch.max_records = n;
    }
    if let Some(n) = a.batch_bytes {
        cfg.batch.max_bytes = n;
    }
    cfg
}

/// Fixed-rate writer + pipeline from the end of the binlog; per-row commit→ack latency.
async fn latency(a: &Args) -> BoxResult<serde_json::Value> {
    let url = format!("mysql://cdc_admin:cdc_admin_pw@127.0.0.1:{}/bench", a.port);
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS lat (id BIGINT UNSIGNED PRIMARY KEY, v INT, s VARCHAR(64), \
         dt DATETIME(6)) ENGINE=InnoDB",
    )
    .await?;
    conn.query_drop("TRUNCATE TABLE lat").await?;
    let per_txn = 100u64;
    let total = a.rate * (a.seconds + a.warmup);
    let book = Arc::new(LatencyBook {
        t0: Instant::now(),
        commit_ns: (0..=total + 1).map(|_| AtomicU64::new(0)).collect(),
        first_counted: AtomicU64::new(a.rate * a.warmup + 1),
        latencies_us: Mutex::new(Vec::with_capacity(total as usize)),
    });
    let source = BinlogSource::new(source_config(a, vec!["lat".into()]), Status::new());
    let cancel = CancellationToken::new();
    let acked = Arc::new(AtomicU64::new(0));
    let sink = CountingSink {
        inner: connect_sink(&a.endpoint).await?,
        acked: acked.clone(),
        target: total,
        done: cancel.clone(),
        lat: Some(book.clone()),
    };
    let cfg = pipeline_config(a, StartPosition::Latest);
    let status = Status::new();
    let pipe = tokio::spawn(pipeline::run(source, sink, MemoryOffsetStore::new(), cfg, status.clone(), cancel.clone()));
    // Wait until the source streams (its position is resolved and stored first).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(stop.clone());
    let cpu0 = cpu_seconds();
    let period = Duration::from_nanos(1_000_000_000 * per_txn / a.rate);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut next_id = 1u64;
    let mut sql = String::with_capacity(8 * 1024);
    while next_id <= total {
        tick.tick().await;
        sql.clear();
        sql.push_str("INSERT INTO lat VALUES ");
        let last = (next_id + per_txn - 1).min(total);
        for id in next_id..=last {
            if id > next_id {
                sql.push(',');
            }
            sql.push_str(&format!("({id},{},'row-{id}-payload',NOW(6))", id % 1000));
        }
        conn.query_drop("BEGIN").await?;
        conn.query_drop(&sql).await?;
        let c = book.t0.elapsed().as_nanos() as u64;
        for id in next_id..=last {
            book.commit_ns[id as usize].store(c, Ordering::Release);
        }
        conn.query_drop("COMMIT").await?;
        next_id = last + 1;
    }
    let write_secs = started.elapsed().as_secs_f64();
    // Everything committed; wait (bounded) for the last acknowledgements.
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => { cancel.cancel(); }
    }
    let cpu = cpu_seconds() - cpu0;
    pipe.await??;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    let mut l = book.latencies_us.lock().expect("latency lock").clone();
    l.sort_unstable();
    let pct = |p: f64| if l.is_empty() { 0.0 } else { l[((l.len() - 1) as f64 * p) as usize] as f64 / 1000.0 };
    Ok(serde_json::json!({
        "mode": "latency", "rows": acked.load(Ordering::Relaxed), "measured_rows": l.len(),
        "rate_target": a.rate, "rate_achieved": total as f64 / write_secs,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0), "cpu_s": cpu,
        "rss_peak_kib": status_kib("VmHWM:"), "rss_steady_kib": steady_kib(&samples),
    }))
}

/// The service's source for table `a.table`: the snapshot in mode `initial_only` (the rows, then
/// stop), configured as `cdc-service` configures it (`SnapshotConfig::new(name)`, chunk rows
/// overridable).
fn snapshot_source(a: &Args) -> SnapshotThenStream {
    let binlog = BinlogSource::new(source_config(a, vec![a.table.clone()]), Status::new());
    let mut cfg = SnapshotConfig::new("bench");
    if let Some(n) = a.chunk_rows {
        cfg.chunk_rows = n;
    }
    SnapshotThenStream::new(binlog, SnapshotMode::InitialOnly, cfg, Status::new())
}

/// Snapshot source → bounded channel → a consumer counting the `op: r` events.
async fn snapshot(a: &Args) -> BoxResult<serde_json::Value> {
    let source = snapshot_source(a);
    let (tx, mut rx) = mpsc::channel(PipelineConfig::default().channel_capacity);
    let cancel = CancellationToken::new();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(stop.clone());
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let from = source.resolve_start(&StartPosition::Latest).await?;
    let task = tokio::spawn(source.run(from, tx, cancel.clone()));
    let (mut rows, mut other) = (0u64, 0u64);
    while let Some(msg) = rx.recv().await {
        if let SourceMessage::Events(events) = msg {
            for ev in &events {
                if ev.op == Op::Read {
                    rows += 1;
                } else {
                    other += 1;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    task.await??;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    if rows != a.rows || other != 0 {
        return Err(format!("snapshot: {rows} read events and {other} others, expected {} read events", a.rows).into());
    }
    Ok(serde_json::json!({
        "mode": "snapshot", "rows": rows, "secs": secs, "cpu_s": cpu,
        "rss_peak_kib": status_kib("VmHWM:"), "rss_steady_kib": steady_kib(&samples),
    }))
}

/// Snapshot source → pipeline → DataHubSink → emulator, until `rows` are acknowledged.
async fn snapshot_e2e(a: &Args) -> BoxResult<serde_json::Value> {
    measured_run(a, "snapshot-e2e", snapshot_source(a), StartPosition::Latest).await
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> BoxResult<()> {
    let a = parse_args()?;
    let out = match a.mode.as_str() {
        "decode" => decode(&a).await?,
        "e2e" => e2e(&a).await?,
        "latency" => latency(&a).await?,
        "snapshot" => snapshot(&a).await?,
        "snapshot-e2e" => snapshot_e2e(&a).await?,
        other => return Err(format!("unknown mode {other}").into()),
    };
    println!("{out}");
    Ok(())
}
