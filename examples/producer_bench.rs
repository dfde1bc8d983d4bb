//! Throughput of the DataHub producer (`DataHubSink`) into the in-process DataHub emulator.
//! Prints records/s and MB/s (payload = contract JSON bytes) per protocol and compression; it
//! asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p cdc-examples --example producer_bench -- [events] [batch] [shards] [row_bytes]
//! ```
//! Defaults: 200,000 events, batches of 5,000 (the pipeline's batcher hands the sink batches),
//! 4 shards, ~200-byte string column. The emulator verifies every signature, decompresses,
//! decodes and stores every record on the same machine, so the figures are a lower bound of the
//! producer's own cost plus the emulator's, not a DataHub service figure.

use std::sync::Arc;
use std::time::Instant;

use cdc_core::datahub::{Compression, Credentials, DataHubConfig, DataHubSink, WriteProtocol};
use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::sink::Sink;
use datahub_emulator::{Emulator, EmulatorConfig};

fn events(n: usize, row_bytes: usize) -> Vec<ChangeEvent> {
    let columns: Arc<[Arc<str>]> = vec![Arc::from("id"), Arc::from("amount"), Arc::from("note")].into();
    let file: Arc<str> = Arc::from("binlog.000001");
    let (name, db, table): (Arc<str>, Arc<str>, Arc<str>) = ("bench".into(), "shop".into(), "orders".into());
    (0..n)
        .map(|i| ChangeEvent {
            op: Op::Create,
            before: None,
            after: Some(Row {
                columns: columns.clone(),
                values: vec![
                    Value::Int((i % 50_000) as i64),
                    Value::Decimal(format!("{}.{:02}", i % 1000, i % 100).into()),
                    Value::String(format!("{i:>width$}", width = row_bytes).into()),
                ],
            }),
            source: SourceInfo::new(
                RowsEventInfo {
                    name: name.clone(),
                    server_id: 1,
                    db: db.clone(),
                    table: table.clone(),
                    file: file.clone(),
                    pos: 4 + i as u64 * 300,
                    gtid: None,
                    ts_ms: 1_700_000_000_000,
                    origin: cdc_core::event::Origin::Binlog,
                },
                0,
            ),
            ts_ms: 1_700_000_000_000,
            transaction: None,
            key_columns: vec![0usize].into(),
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let n = args.first().copied().unwrap_or(200_000);
    let batch = args.get(1).copied().unwrap_or(5_000);
    let shards = args.get(2).copied().unwrap_or(4) as u32;
    let row_bytes = args.get(3).copied().unwrap_or(200);
    let evs = events(n, row_bytes);
    let payload: usize = evs.iter().map(|e| e.to_json_bytes().len()).sum();
    println!(
        "{n} events, {:.1} MB payload ({} B/event), batches of {batch}, {shards} shards",
        payload as f64 / 1e6,
        payload / n.max(1)
    );
    println!("{:<18} {:>8} {:>12} {:>8} {:>9}", "protocol", "compr", "records/s", "MB/s", "requests");
    for (protocol, compression) in [
        (WriteProtocol::PbByShard, Compression::Lz4),
        (WriteProtocol::PbByShard, Compression::None),
        (WriteProtocol::JsonPutRecords, Compression::Lz4),
        (WriteProtocol::JsonPutRecords, Compression::None),
    ] {
        let emu = Emulator::start(
            EmulatorConfig::single("bench_project", "events", shards, "id", "key"),
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let mut cfg = DataHubConfig::new(emu.endpoint(), "bench_project", "events", Credentials::new("id", "key"));
        cfg.protocol = protocol;
        cfg.compression = compression;
        let mut sink = DataHubSink::connect(cfg).await?;
        let started = Instant::now();
        let mut requests = 0;
        for chunk in evs.chunks(batch) {
            requests += sink.send(chunk).await.map_err(|e| anyhow::anyhow!(e))?.requests;
        }
        let secs = started.elapsed().as_secs_f64();
        let stored = emu.all_records("bench_project", "events").len();
        anyhow::ensure!(stored == n, "emulator holds {stored} records, expected {n}");
        println!(
            "{:<18} {:>8} {:>12.0} {:>8.1} {:>9}",
            format!("{protocol:?}"),
            format!("{compression:?}"),
            n as f64 / secs,
            payload as f64 / 1e6 / secs,
            requests
        );
        emu.shutdown().await;
    }
    Ok(())
}
