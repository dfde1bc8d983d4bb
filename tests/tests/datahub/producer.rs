//! The DataHub producer (`cdc_core::datahub::DataHubSink`) against the in-process DataHub
//! emulator: delivery as BLOB records with attributes, per-key shard affinity and order,
//! retries of throttling and server errors, fatal auth errors, JSON partial failures, sealed and
//! split shards, exhausted retries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cdc_core::datahub::{
    BlobRecord, Compression, Credentials, CursorType, DataHubConfig, DataHubError, DataHubSink, ErrorClass, ErrorCode,
    RetryPolicy, WriteProtocol,
};
use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::sink::{Sink, SinkErrorKind};
use datahub_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Field, FieldType, Op as EmuOp, RecordData, StoredRecord, TopicSpec,
};

const PROJECT: &str = "cdc_project";
const TOPIC: &str = "events";
const ID: &str = "test_id";
const KEY: &str = "test_key_secret";

async fn emulator(shards: u32) -> EmulatorHandle {
    Emulator::start(EmulatorConfig::single(PROJECT, TOPIC, shards, ID, KEY), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

fn config(emu: &EmulatorHandle) -> DataHubConfig {
    let mut cfg = DataHubConfig::new(emu.endpoint(), PROJECT, TOPIC, Credentials::new(ID, KEY));
    // Short sleeps so the tests run fast; the bounds are what matter.
    cfg.retry = RetryPolicy { max_attempts: 3, backoff_ms: 5, max_backoff_ms: 50 };
    cfg.request_timeout_ms = 5_000;
    cfg
}

/// Event `seq` of row `id` in `db.table`; `seq` is also its binlog position, so order can be
/// read back from the stored JSON.
fn event(table: &str, id: i64, seq: u64) -> ChangeEvent {
    let columns: Arc<[Arc<str>]> = vec![Arc::from("id"), Arc::from("v")].into();
    let row = Row { columns, values: vec![Value::Int(id), Value::String(format!("value {seq} ü").into())] };
    let op = if seq % 3 == 2 { Op::Update } else { Op::Create };
    ChangeEvent {
        op,
        before: (op == Op::Update).then(|| row.clone()),
        after: Some(row),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "test".into(),
                server_id: 1,
                db: "shop".into(),
                table: table.into(),
                file: "binlog.000001".into(),
                pos: seq,
                gtid: None,
                ts_ms: 1_700_000_000_000,
                origin: cdc_core::event::Origin::Binlog,
            },
            0,
        ),
        ts_ms: 1_700_000_000_001,
        transaction: None,
        key_columns: vec![0usize].into(),
    }
}

/// `n` events over `keys` rows of two tables, positions from `first_seq`.
fn events(n: u64, keys: i64, first_seq: u64) -> Vec<ChangeEvent> {
    (0..n)
        .map(|i| {
            let seq = first_seq + i;
            let id = (seq as i64 * 7) % keys;
            event(if id % 2 == 0 { "orders" } else { "users" }, id, seq)
        })
        .collect()
}

fn blob(r: &StoredRecord) -> &[u8] {
    match &r.data {
        RecordData::Blob(b) => b,
        other => panic!("expected a BLOB record, got {other:?}"),
    }
}

/// (partition key, binlog position) of a stored record, from its JSON.
fn key_and_seq(r: &StoredRecord) -> (String, u64) {
    let v: serde_json::Value = serde_json::from_slice(blob(r)).expect("record data is JSON");
    let table = v["source"]["table"].as_str().unwrap().to_owned();
    let row = if v["after"].is_null() { &v["before"] } else { &v["after"] };
    (format!("{table}/{}", row["id"]), v["source"]["pos"].as_u64().unwrap())
}

/// Per shard, per key: the positions in stored (sequence) order.
fn per_key_logs(emu: &EmulatorHandle) -> BTreeMap<String, BTreeMap<String, Vec<u64>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for (shard, r) in emu.all_records(PROJECT, TOPIC) {
        let (key, seq) = key_and_seq(&r);
        out.entry(shard).or_default().entry(key).or_default().push(seq);
    }
    out
}

/// Every key's positions, batch order expected: (key → sorted positions sent).
fn sent_by_key(batch: &[ChangeEvent]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in batch {
        let id = e.after.as_ref().unwrap().values[0].clone();
        let Value::Int(id) = id else { unreachable!() };
        out.entry(format!("{}/{id}", e.source.table)).or_default().push(e.source.pos);
    }
    out
}

/// True when `want` is a subsequence of `log` (the log may hold extra, duplicated copies).
fn is_subsequence(want: &[u64], log: &[u64]) -> bool {
    let mut it = log.iter();
    want.iter().all(|w| it.any(|l| l == w))
}

/// True when the last copies of the records in `log` appear in increasing order.
fn last_copies_in_order(log: &[u64]) -> bool {
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, s) in log.iter().enumerate() {
        last.insert(*s, i);
    }
    let mut by_pos: Vec<(u64, usize)> = last.into_iter().collect();
    by_pos.sort();
    by_pos.windows(2).all(|w| w[0].1 < w[1].1)
}

async fn delivers_in_order(protocol: WriteProtocol, compression: Compression) {
    let emu = emulator(4).await;
    let mut cfg = config(&emu);
    cfg.protocol = protocol;
    cfg.compression = compression;
    cfg.max_records_per_request = 7; // several requests per shard and batch
    let mut sink = DataHubSink::connect(cfg).await.expect("connects");
    let b1 = events(300, 40, 0);
    let b2 = events(200, 40, 300);
    let ack1 = sink.send(&b1).await.expect("batch 1 acknowledged");
    let ack2 = sink.send(&b2).await.expect("batch 2 acknowledged");
    assert_eq!(ack1.records, 300);
    assert_eq!(ack2.records, 200);
    assert_eq!(ack1.bytes, b1.iter().map(|e| e.to_json_bytes().len()).sum::<usize>());
    assert!(ack1.requests >= 300 / 7, "{ack1:?}");

    // Byte-exact contract JSON and attributes, each event exactly once.
    let all: Vec<ChangeEvent> = b1.iter().chain(&b2).cloned().collect();
    let mut expected: HashMap<Vec<u8>, &ChangeEvent> = all.iter().map(|e| (e.to_json_bytes(), e)).collect();
    let stored = emu.all_records(PROJECT, TOPIC);
    assert_eq!(stored.len(), 500);
    for (shard, r) in &stored {
        let e = expected.remove(blob(r)).expect("stored data equals an event's contract JSON, once");
        assert_eq!(r.attributes.get("op").map(String::as_str), Some(e.op.code()));
        assert_eq!(r.attributes.get("db").map(String::as_str), Some("shop"));
        assert_eq!(r.attributes.get("table").map(String::as_str), Some(&*e.source.table));
        assert_eq!(shard, sink.router().route(&e.partition_key()), "routed by the MD5 of the partition key");
        assert!(r.partition_key.is_none(), "the shard is chosen by the client");
    }
    assert!(expected.is_empty());

    // Each key on exactly one shard, in send order; several shards used.
    let logs = per_key_logs(&emu);
    assert!(logs.len() >= 3, "keys spread over shards: {:?}", logs.keys());
    let mut seen = BTreeSet::new();
    let sent = sent_by_key(&all);
    for keys in logs.values() {
        for (key, log) in keys {
            assert!(seen.insert(key.clone()), "key {key} on two shards");
            assert_eq!(log, &sent[key], "order of key {key}");
        }
    }
    assert_eq!(seen.len(), sent.len());
}

#[tokio::test]
async fn events_arrive_as_blob_records_with_attributes_each_key_on_one_shard_in_order() {
    delivers_in_order(WriteProtocol::PbByShard, Compression::Lz4).await;
}

#[tokio::test]
async fn json_put_records_without_compression_delivers_the_same() {
    delivers_in_order(WriteProtocol::JsonPutRecords, Compression::None).await;
}

#[tokio::test]
async fn throttling_backs_off_and_succeeds() {
    let emu = emulator(2).await;
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "LimitExceeded", 2);
    let batch: Vec<ChangeEvent> = (0..10).map(|i| event("orders", 42, i)).collect();
    let ack = sink.send(&batch).await.expect("succeeds after two throttled attempts");
    assert_eq!(ack.records, 10);
    assert_eq!(ack.requests, 3, "two throttled attempts and one success");
    assert_eq!(emu.request_count_of(EmuOp::PutRecordsByShard), 3);
    let logs = per_key_logs(&emu);
    let log: Vec<&Vec<u64>> = logs.values().flat_map(|k| k.values()).collect();
    assert_eq!(log, [&(0..10).collect::<Vec<u64>>()], "written once, in order");
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_and_counted() {
    let emu = emulator(1).await;
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "InternalServerError", 2);
    let ack = sink.send(&events(20, 5, 0)).await.expect("500 InternalServerError is retried");
    assert_eq!(ack.requests, 3);
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "ServiceUnavailable", 1);
    let ack = sink.send(&events(20, 5, 20)).await.expect("503 ServiceUnavailable is retried");
    assert_eq!(ack.requests, 2);
    emu.faults().drop_next(Some(EmuOp::PutRecordsByShard), 1);
    let ack = sink.send(&events(20, 5, 40)).await.expect("a dropped connection is retried");
    assert_eq!(ack.requests, 2);
    assert_eq!(emu.request_count_of(EmuOp::PutRecordsByShard), 7);
    assert_eq!(emu.all_records(PROJECT, TOPIC).len(), 60);
}

#[tokio::test]
async fn unauthorized_is_fatal_and_not_retried() {
    let emu = emulator(2).await;
    // Wrong secret: connect fails at GetTopic with a fatal Unauthorized.
    let mut cfg = config(&emu);
    cfg.credentials = Credentials::new(ID, "not_the_key");
    let err = DataHubSink::connect(cfg).await.unwrap_err();
    assert!(matches!(&err, DataHubError::Service { code: ErrorCode::Unauthorized, .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(!err.to_string().contains("not_the_key"), "the secret never shows: {err}");
    assert_eq!(emu.request_count_of(EmuOp::GetTopic), 0, "refused before it is counted as authenticated");

    // An Unauthorized answer to a write: one request, a fatal sink error, nothing stored.
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    emu.faults().fail_next(Some(EmuOp::PutRecordsByShard), "Unauthorized", 1);
    let err = sink.send(&[event("orders", 1, 0)]).await.unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Fatal, "{err}");
    assert_eq!(err.code.as_deref(), Some("Unauthorized"));
    assert_eq!(emu.request_count_of(EmuOp::PutRecordsByShard), 1, "not retried");
    assert!(emu.all_records(PROJECT, TOPIC).is_empty());
}

#[tokio::test]
async fn partial_failures_are_resent_from_the_first_failed_index_keeping_key_order() {
    let emu = emulator(2).await;
    let mut cfg = config(&emu);
    cfg.protocol = WriteProtocol::JsonPutRecords;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    // Every 3rd record of the next 4 PutRecords requests fails with LimitExceeded.
    emu.faults().fail_every_kth_record(3, "LimitExceeded", 4);
    let batch = events(60, 3, 0);
    let ack = sink.send(&batch).await.expect("partial failures are re-sent");
    assert_eq!(ack.records, 60);
    let logs = per_key_logs(&emu);
    let sent = sent_by_key(&batch);
    let mut stored_total = 0;
    let mut duplicates = false;
    for keys in logs.values() {
        for (key, log) in keys {
            stored_total += log.len();
            assert!(is_subsequence(&sent[key], log), "key {key}: sent {:?} not in order in {log:?}", sent[key]);
            assert!(last_copies_in_order(log), "key {key}: last copies out of order in {log:?}");
            duplicates |= log.len() > sent[key].len();
        }
    }
    assert!(stored_total > 60 && duplicates, "records after a failed index were re-sent (at-least-once)");
}

#[tokio::test]
async fn a_split_shard_is_followed_and_key_order_holds() {
    let emu = emulator(2).await;
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    let b1 = events(100, 30, 0);
    sink.send(&b1).await.unwrap();
    // Split shard 0 behind the sink's back: its ListShard view is now stale.
    let (left, right) = emu.faults().split_shard(PROJECT, TOPIC, "0", None).expect("split");
    let b2 = events(100, 30, 100);
    let ack = sink.send(&b2).await.expect("follows the split");
    assert_eq!(ack.records, 100);
    assert!(sink.router().shard_ids().all(|s| s != "0"), "refreshed: shard 0 is no longer routed to");
    let logs = per_key_logs(&emu);
    assert!(logs.contains_key(&left) || logs.contains_key(&right), "children were written: {:?}", logs.keys());
    // Per key: all of batch 1 on one shard, batch 2 on one shard, nothing lost or duplicated,
    // and the parent's part precedes the child's (the parent is closed now).
    let sent = sent_by_key(&b1.iter().chain(&b2).cloned().collect::<Vec<_>>());
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for shard in ["0", "1", left.as_str(), right.as_str()] {
        for (key, log) in logs.get(shard).cloned().unwrap_or_default() {
            got.entry(key).or_default().extend(log);
        }
    }
    assert_eq!(got, sent);
    // A sealed shard without children: its keys move to another ACTIVE shard.
    emu.faults().seal_shard(PROJECT, TOPIC, &left).unwrap();
    let b3 = events(60, 30, 200);
    sink.send(&b3).await.expect("follows the seal");
    assert_eq!(emu.all_records(PROJECT, TOPIC).len(), 260);
    assert!(
        emu.records(PROJECT, TOPIC, &left).iter().all(|r| key_and_seq(r).1 < 200),
        "nothing written after the seal"
    );
}

#[tokio::test]
async fn exhausted_retries_are_transient_and_only_acknowledged_records_are_stored() {
    let emu = emulator(3).await;
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    let b1 = events(50, 10, 0);
    sink.send(&b1).await.expect("first batch acknowledged");
    emu.faults().fail_always(Some(EmuOp::PutRecordsByShard), "LimitExceeded", 429);
    let b2 = events(50, 10, 50);
    let err = sink.send(&b2).await.unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Transient, "{err}");
    assert_eq!(err.code.as_deref(), Some("LimitExceeded"));
    let shards_of_b2: BTreeSet<String> =
        b2.iter().map(|e| sink.router().route(&e.partition_key()).to_owned()).collect();
    assert_eq!(
        emu.request_count_of(EmuOp::PutRecordsByShard) as usize,
        shards_of_b2.len() * (1 + 3),
        "3 attempts per shard after the 1 successful request per shard of batch 1 (one request each)"
    );
    // Exactly the acknowledged batch is stored.
    let stored: BTreeSet<u64> = emu.all_records(PROJECT, TOPIC).iter().map(|(_, r)| key_and_seq(r).1).collect();
    assert_eq!(stored, (0..50).collect());
    // Faults gone: the pipeline's re-send of the batch is acknowledged.
    emu.faults().clear();
    assert_eq!(sink.send(&b2).await.unwrap().records, 50);
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried_at_least_once() {
    let emu = emulator(1).await;
    let mut cfg = config(&emu);
    cfg.request_timeout_ms = 300;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    emu.faults().delay_next(Some(EmuOp::PutRecordsByShard), 1_000, 1);
    let batch = events(10, 2, 0);
    let ack = sink.send(&batch).await.expect("a timed-out request is retried");
    assert_eq!(ack.requests, 2);
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await; // let the slow request finish
    for (key, log) in per_key_logs(&emu).remove("0").unwrap() {
        assert!(is_subsequence(&sent_by_key(&batch)[&key], &log), "{key}: {log:?}");
        assert!(last_copies_in_order(&log), "{key}: {log:?}");
    }
}

#[tokio::test]
async fn check_missing_and_tuple_topics() {
    let mut emu_cfg = EmulatorConfig::single(PROJECT, TOPIC, 2, ID, KEY);
    emu_cfg.projects[0].topics.push(TopicSpec::tuple("rows", 1, vec![Field::new("id", FieldType::Bigint)]));
    let emu = Emulator::start(emu_cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    sink.check().await.expect("GetTopic + ListShard");
    assert_eq!(sink.router().shard_ids().count(), 2);
    let mut cfg = config(&emu);
    cfg.topic = "missing_topic".into();
    let err = DataHubSink::connect(cfg).await.unwrap_err();
    assert!(matches!(&err, DataHubError::Service { code: ErrorCode::NoSuchTopic, .. }), "{err}");
    assert!(!err.is_retryable());
    let mut cfg = config(&emu);
    cfg.topic = "rows".into();
    let err = DataHubSink::connect(cfg).await.unwrap_err();
    assert!(matches!(&err, DataHubError::UnsupportedTopic { record_type, .. } if record_type == "TUPLE"), "{err}");
    assert!(err.to_string().contains("BLOB topics only"), "{err}");
    assert!(!err.to_sink_error().is_transient());
}

#[tokio::test]
async fn records_read_back_with_get_cursor_and_get_records() {
    let emu = emulator(2).await;
    let mut sink = DataHubSink::connect(config(&emu)).await.unwrap();
    let batch = events(40, 6, 0);
    sink.send(&batch).await.unwrap();
    let client = sink.client().clone();
    let mut read = 0;
    for shard in ["0", "1"] {
        let cursor = client.get_cursor(PROJECT, TOPIC, shard, CursorType::Oldest).await.unwrap();
        let got = client.get_blob_records(PROJECT, TOPIC, shard, &cursor.cursor, 1000).await.unwrap();
        let stored = emu.records(PROJECT, TOPIC, shard);
        assert_eq!(got.records.len(), stored.len());
        for (r, s) in got.records.iter().zip(&stored) {
            assert_eq!(r.data, blob(s));
            assert_eq!(r.attributes, s.attributes);
            assert_eq!(r.sequence, s.sequence);
        }
        read += got.records.len();
    }
    assert_eq!(read, 40);
    let project = client.get_project(PROJECT).await.unwrap();
    assert!(project.create_time > 0);

    // The low-level writes: JSON PutRecords with explicit ShardId, PB PutRecordsByShard.
    let record = |text: &str| BlobRecord {
        data: text.as_bytes().to_vec(),
        attributes: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
    };
    let result = client
        .put_records(PROJECT, TOPIC, &[("1".to_owned(), record("json-a")), ("1".to_owned(), record("json-b"))])
        .await
        .unwrap();
    assert_eq!(result.failed_record_count, 0);
    client.put_records_by_shard(PROJECT, TOPIC, "1", &[record("pb-c")]).await.unwrap();
    let tail: Vec<Vec<u8>> =
        emu.records(PROJECT, TOPIC, "1").iter().rev().take(3).map(|r| blob(r).to_vec()).rev().collect();
    assert_eq!(tail, [b"json-a".to_vec(), b"json-b".to_vec(), b"pb-c".to_vec()]);
    assert_eq!(emu.records(PROJECT, TOPIC, "1").last().unwrap().attributes["k"], "v");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cfg = DataHubConfig::new(&endpoint, PROJECT, TOPIC, Credentials::new(ID, KEY));
    cfg.connect_timeout_ms = 500;
    let err = DataHubSink::connect(cfg).await.unwrap_err();
    assert!(matches!(err, DataHubError::Transport { .. }), "{err}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains(&endpoint) && text.contains("GetTopic"), "{text}");
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn an_sts_token_is_sent_and_signed() {
    let emu = emulator(1).await;
    let mut cfg = config(&emu);
    cfg.credentials.security_token = Some("sts_token_value".into());
    // The emulator rebuilds the string to sign from every x-datahub-* header it receives, so the
    // token header must be part of the signature for this to be accepted.
    let mut sink = DataHubSink::connect(cfg).await.expect("signed with the token header");
    sink.send(&events(5, 2, 0)).await.unwrap();
    assert_eq!(emu.all_records(PROJECT, TOPIC).len(), 5);
}

#[tokio::test]
async fn the_shard_list_is_refreshed_on_a_timer() {
    let emu = emulator(2).await;
    let mut cfg = config(&emu);
    cfg.shard_refresh_interval_ms = 50;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    let listed = emu.request_count_of(EmuOp::ListShard);
    emu.faults().split_shard(PROJECT, TOPIC, "1", None).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let batch = events(100, 30, 0);
    let ack = sink.send(&batch).await.unwrap();
    assert_eq!(emu.request_count_of(EmuOp::ListShard), listed + 1, "one timed refresh");
    assert!(sink.router().shard_ids().all(|s| s != "1"));
    assert_eq!(ack.requests, emu.request_count_of(EmuOp::PutRecordsByShard) as usize);
    assert_eq!(ack.requests, sink.router().shard_ids().count(), "no request hit the sealed shard");
    assert!(emu.records(PROJECT, TOPIC, "1").is_empty());
}

#[tokio::test]
async fn a_record_larger_than_a_request_is_a_fatal_error_and_nothing_is_sent() {
    let emu = emulator(1).await;
    let mut cfg = config(&emu);
    cfg.max_request_bytes = 2048;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    let mut big = event("orders", 1, 0);
    big.after.as_mut().unwrap().values[1] = Value::String("x".repeat(4000).into());
    let err = sink.send(&[big]).await.unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Fatal);
    assert_eq!(err.code.as_deref(), Some("RecordTooLarge"));
    assert_eq!(emu.request_count_of(EmuOp::PutRecordsByShard), 0);
    // Requests are cut to stay under the bound: 20 events of ~300 bytes need several requests.
    let ack = sink.send(&events(20, 1, 1)).await.unwrap();
    assert!(ack.requests >= 3, "{ack:?}");
    assert_eq!(emu.all_records(PROJECT, TOPIC).len(), 20);
}

#[tokio::test]
async fn a_shard_split_in_the_middle_of_a_batch_is_followed_in_key_order() {
    let emu = emulator(2).await;
    let mut cfg = config(&emu);
    cfg.max_records_per_request = 10;
    let mut sink = DataHubSink::connect(cfg).await.unwrap();
    // Every write takes 50 ms, so a shard's 10 requests take about 0.5 s.
    emu.faults().add(datahub_emulator::FaultRule {
        op: Some(EmuOp::PutRecordsByShard),
        kind: datahub_emulator::FaultKind::Delay { ms: 50 },
        times: datahub_emulator::FaultTimes::Always,
    });
    let batch = events(200, 40, 0);
    let sent = sent_by_key(&batch);
    let on_zero: usize = batch.iter().filter(|e| sink.router().route(&e.partition_key()) == "0").count();
    assert!(on_zero > 30, "enough records on shard 0 for several requests");
    let task = tokio::spawn(async move {
        let r = sink.send(&batch).await;
        (sink, r)
    });
    // Split shard 0 once its first request is stored.
    while emu.records(PROJECT, TOPIC, "0").is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (left, right) = emu.faults().split_shard(PROJECT, TOPIC, "0", None).unwrap();
    let (_sink, result) = task.await.unwrap();
    assert_eq!(result.expect("follows the split").records, 200);
    let parent = emu.records(PROJECT, TOPIC, "0").len();
    let children = emu.records(PROJECT, TOPIC, &left).len() + emu.records(PROJECT, TOPIC, &right).len();
    assert!(parent > 0 && parent < on_zero, "split mid-batch: {parent} of {on_zero} on the parent");
    assert_eq!(parent + children, on_zero, "nothing lost or duplicated");
    // Per key: the parent's part, then the child's part, is exactly the sent order.
    let logs = per_key_logs(&emu);
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for shard in ["0", left.as_str(), right.as_str(), "1"] {
        for (key, log) in logs.get(shard).cloned().unwrap_or_default() {
            got.entry(key).or_default().extend(log);
        }
    }
    assert_eq!(got, sent);
}
