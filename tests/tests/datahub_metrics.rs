//! The DataHub producer's metrics (`cdc_core::metrics` names), read back through the Prometheus
//! recorder the service installs, while it writes into the in-process emulator with injected
//! throttling, server errors and a fatal error. Its own test binary: it installs a global
//! recorder.

use cdc_core::datahub::{Credentials, DataHubConfig, DataHubSink, RetryPolicy};
use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::metrics as m;
use cdc_core::sink::Sink;
use datahub_emulator::{Emulator, EmulatorConfig, Op as EmuOp};
use metrics_exporter_prometheus::PrometheusBuilder;

fn event(id: i64, seq: u64) -> ChangeEvent {
    ChangeEvent {
        op: Op::Create,
        before: None,
        after: Some(Row {
            columns: vec!["id".into(), "v".into()].into(),
            values: vec![Value::Int(id), Value::String("x".repeat(100).into())],
        }),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "test".into(),
                server_id: 1,
                db: "shop".into(),
                table: "orders".into(),
                file: "binlog.000001".into(),
                pos: seq,
                gtid: None,
                ts_ms: 0,
                origin: cdc_core::event::Origin::Binlog,
            },
            0,
        ),
        ts_ms: 0,
        transaction: None,
        key_columns: vec![0usize].into(),
    }
}

/// The value of the sample line `name{labels} value` (labels as rendered, or "" for none).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn requests_retries_records_and_bytes_are_counted() {
    let recorder = PrometheusBuilder::new().install_recorder().expect("global recorder");
    let emu = Emulator::start(
        EmulatorConfig::single("cdc_project", "events", 1, "id", "key"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut cfg = DataHubConfig::new(emu.endpoint(), "cdc_project", "events", Credentials::new("id", "key"));
    cfg.retry = RetryPolicy { max_attempts: 3, backoff_ms: 1, max_backoff_ms: 10 };
    cfg.max_records_per_request = 10;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();

    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "LimitExceeded", 1);
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "InternalServerError", 1);
    let batch: Vec<ChangeEvent> = (0..25).map(|i| event(i % 4, i as u64)).collect();
    let ack = sink.send(&batch).await.unwrap();
    // Both rules fire on the first request (the emulator evaluates every rule); 3 requests of 10,
    // 10 and 5 records then succeed.
    assert_eq!(ack.requests, 4);
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "MalformedRecord", 1);
    sink.send(&batch[..1]).await.unwrap_err();

    let text = recorder.render();
    assert_eq!(sample(&text, &format!("{}{{outcome=\"ok\",code=\"\"}}", m::SINK_REQUESTS_TOTAL)), 3.0);
    assert_eq!(sample(&text, &format!("{}{{outcome=\"retry\",code=\"LimitExceeded\"}}", m::SINK_REQUESTS_TOTAL)), 1.0);
    assert_eq!(sample(&text, &format!("{}{{code=\"LimitExceeded\"}}", m::SINK_RETRIES_TOTAL)), 1.0);
    assert_eq!(
        sample(&text, &format!("{}{{outcome=\"error\",code=\"MalformedRecord\"}}", m::SINK_REQUESTS_TOTAL)),
        1.0
    );
    assert_eq!(sample(&text, m::SINK_RECORDS_TOTAL), 25.0);
    let bytes: usize = batch.iter().map(|e| e.to_json_bytes().len()).sum();
    assert_eq!(sample(&text, m::SINK_BYTES_TOTAL), bytes as f64);
    assert_eq!(sample(&text, &format!("{}_count", m::SINK_REQUEST_DURATION_SECONDS)), 5.0);
}
