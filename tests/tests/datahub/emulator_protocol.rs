//! Protocol tests of the DataHub emulator over real HTTP (reqwest) with the project's signer:
//! signature checks, body encodings, routing (§12), ListShard ranges (§3.3), TUPLE validation,
//! limits (§11), cursors, protobuf frames (§4), every fault kind, and cdc-core's topic calls
//! (CreateTopic, AppendField) against it.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cdc_core::datahub::sign;
use datahub_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Field, FieldType, Op, RecordData, ShardState, TopicSpec,
};
use serde_json::{json, Value};

const ID: &str = "ProtoId";
const KEY: &str = "ProtoSecret";
const P: &str = "proto_project";

/// A tiny signed DataHub client.
struct Dh {
    http: reqwest::Client,
    endpoint: String,
    id: String,
    key: String,
}

/// How to mangle a request (for the signature tests).
#[derive(Default, Clone)]
struct Opts {
    content_type: Option<&'static str>,
    extra: Vec<(&'static str, String)>,
    /// Send this Date instead of the signed one.
    date_override: Option<String>,
    /// Drop this header after signing.
    remove: Option<&'static str>,
    /// Content-Encoding plus raw size (signed).
    encoding: Option<(&'static str, usize)>,
}

impl Dh {
    fn new(emu: &EmulatorHandle) -> Self {
        Self::with_key(emu, ID, KEY)
    }

    fn with_key(emu: &EmulatorHandle, id: &str, key: &str) -> Self {
        Self { http: reqwest::Client::new(), endpoint: emu.endpoint(), id: id.into(), key: key.into() }
    }

    async fn send(&self, method: &str, path: &str, body: Vec<u8>, o: Opts) -> reqwest::Result<reqwest::Response> {
        let date = sign::http_date(chrono::Utc::now());
        let ct = o.content_type.unwrap_or("application/json");
        let mut headers: Vec<(&str, String)> = vec![("x-datahub-client-version", "1.1".into())];
        headers.extend(o.extra.iter().cloned());
        if let Some((enc, raw)) = o.encoding {
            headers.push(("x-datahub-content-raw-size", raw.to_string()));
            headers.push(("Content-Encoding", enc.into()));
        }
        let sts = sign::string_to_sign(
            method,
            Some(ct),
            &date,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            &sign::canonical_resource(path, None),
        );
        let auth = sign::authorization(&sign::Credentials::new(self.id.clone(), self.key.clone()), &sts);
        let mut all: Vec<(&str, String)> = vec![
            ("Content-Type", ct.into()),
            ("Date", o.date_override.clone().unwrap_or(date)),
            ("Authorization", auth),
        ];
        all.extend(headers);
        let mut rb = self.http.request(method.parse().unwrap(), format!("{}{path}", self.endpoint));
        for (k, v) in all {
            if o.remove.is_some_and(|r| r.eq_ignore_ascii_case(k)) {
                continue;
            }
            rb = rb.header(k, v);
        }
        rb.body(body).send().await
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = self.send(method, path, bytes, Opts::default()).await.expect("HTTP works");
        decode_json(r).await
    }

    async fn put(&self, topic: &str, records: Value) -> (u16, Value) {
        self.json(
            "POST",
            &format!("/projects/{P}/topics/{topic}/shards"),
            Some(json!({"Action":"pub","Records":records})),
        )
        .await
    }

    async fn cursor(&self, topic: &str, shard: &str, body: Value) -> (u16, Value) {
        self.json("POST", &format!("/projects/{P}/topics/{topic}/shards/{shard}"), Some(body)).await
    }

    async fn read_all(&self, topic: &str, shard: &str) -> Vec<Value> {
        let (s, c) = self.cursor(topic, shard, json!({"Action":"cursor","Type":"OLDEST"})).await;
        assert_eq!(s, 200, "{c}");
        let mut cursor = c["Cursor"].as_str().unwrap().to_owned();
        let mut out = Vec::new();
        loop {
            let (s, r) = self.cursor(topic, shard, json!({"Action":"sub","Cursor":cursor,"Limit":1000})).await;
            assert_eq!(s, 200, "{r}");
            let recs = r["Records"].as_array().unwrap();
            if recs.is_empty() {
                return out;
            }
            out.extend(recs.iter().cloned());
            cursor = r["NextCursor"].as_str().unwrap().to_owned();
        }
    }
}

async fn decode_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    assert!(r.headers().contains_key("x-datahub-request-id"), "every response has x-datahub-request-id");
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    if status >= 400 {
        assert_eq!(ct.as_deref(), Some("application/json"), "error Content-Type exactly application/json");
    }
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

fn tuple_fields() -> Vec<Field> {
    vec![
        Field::new("f_bigint", FieldType::Bigint),
        Field::new("f_integer", FieldType::Integer),
        Field::new("f_smallint", FieldType::Smallint),
        Field::new("f_tinyint", FieldType::Tinyint),
        Field::new("f_double", FieldType::Double),
        Field::new("f_float", FieldType::Float),
        Field::new("f_bool", FieldType::Boolean),
        Field::new("f_ts", FieldType::Timestamp),
        Field::new("f_string", FieldType::String),
        Field::new("f_decimal", FieldType::Decimal),
        Field::not_null("f_required", FieldType::String),
    ]
}

async fn start(jsonl: Option<std::path::PathBuf>) -> EmulatorHandle {
    let mut cfg = EmulatorConfig::single(P, "blob3", 3, ID, KEY);
    cfg.projects[0].topics.push(TopicSpec::tuple("tup", 2, tuple_fields()));
    cfg.projects[0].topics.push(TopicSpec::blob("blob1", 1));
    cfg.jsonl_path = jsonl;
    Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ---- hand-written protobuf (proto2 wire format) for the PB tests ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn ld(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | 2), out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// PutRecordsRequest with BLOB entries (data, optional shard id).
fn pb_put_blobs(entries: &[(&[u8], Option<&str>)]) -> Vec<u8> {
    let mut req = Vec::new();
    for (data, shard) in entries {
        let mut fd = Vec::new();
        ld(1, data, &mut fd); // FieldData.value
        let mut rd = Vec::new();
        ld(1, &fd, &mut rd); // RecordData.data
        let mut entry = Vec::new();
        if let Some(s) = shard {
            ld(1, s.as_bytes(), &mut entry); // RecordEntry.shard_id
        }
        ld(9, &rd, &mut entry); // RecordEntry.data
        ld(1, &entry, &mut req); // PutRecordsRequest.records
    }
    req
}

fn frame(payload: &[u8], crc: Option<u32>) -> Vec<u8> {
    let mut f = b"DHUB".to_vec();
    f.extend_from_slice(&crc.unwrap_or_else(|| crc32c::crc32c(payload)).to_be_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn pb_opts(action: &str) -> Opts {
    Opts {
        content_type: Some("application/x-protobuf"),
        extra: vec![("x-datahub-request-action", action.to_owned())],
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn signature_is_verified_on_every_request() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let path = format!("/projects/{P}/topics/blob3");
    let ok = dh.send("GET", &path, vec![], Opts::default()).await.unwrap();
    assert_eq!(ok.status(), 200);

    let refused = |what: &'static str| {
        move |(s, v): (u16, Value)| {
            assert_eq!(s, 401, "{what}: {v}");
            assert_eq!(v["ErrorCode"], "Unauthorized", "{what}");
            assert!(v["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()));
        }
    };
    let wrong_key = Dh::with_key(&emu, ID, "not-the-key");
    refused("wrong key")(decode_json(wrong_key.send("GET", &path, vec![], Opts::default()).await.unwrap()).await);
    let unknown_id = Dh::with_key(&emu, "OtherId", KEY);
    refused("unknown id")(decode_json(unknown_id.send("GET", &path, vec![], Opts::default()).await.unwrap()).await);
    // The Date header as sent differs from the signed one (one second later).
    let later = sign::http_date(chrono::Utc::now() + chrono::Duration::seconds(1));
    let o = Opts { date_override: Some(later), ..Default::default() };
    refused("tampered Date")(decode_json(dh.send("GET", &path, vec![], o).await.unwrap()).await);
    // A signed x-datahub-* header removed in transit.
    let o = Opts { remove: Some("x-datahub-client-version"), ..Default::default() };
    refused("missing signed header")(decode_json(dh.send("GET", &path, vec![], o).await.unwrap()).await);
    // An extra unsigned x-datahub-* header added in transit.
    let mut r = dh.http.get(format!("{}{path}", dh.endpoint));
    let date = sign::http_date(chrono::Utc::now());
    let sts =
        sign::string_to_sign("GET", Some("application/json"), &date, [("x-datahub-client-version", "1.1")], &path);
    r = r
        .header("Content-Type", "application/json")
        .header("Date", &date)
        .header("x-datahub-client-version", "1.1")
        .header("x-datahub-security-token", "injected")
        .header("Authorization", sign::authorization(&sign::Credentials::new(ID, KEY), &sts));
    refused("added x-datahub header")(decode_json(r.send().await.unwrap()).await);
    let o = Opts { remove: Some("Authorization"), ..Default::default() };
    refused("no Authorization")(decode_json(dh.send("GET", &path, vec![], o).await.unwrap()).await);
    // The Content-Type is signed too.
    let o = Opts { content_type: Some("application/json; charset=UTF-8"), ..Default::default() };
    let (s, _) = decode_json(dh.send("GET", &path, vec![], o).await.unwrap()).await;
    assert_eq!(s, 200, "Java's Content-Type, signed as sent, is accepted");
    // An old Date, correctly signed, is refused (clock skew).
    let mut r = dh.http.get(format!("{}{path}", dh.endpoint));
    let old = sign::http_date(chrono::Utc::now() - chrono::Duration::hours(1));
    let sts = sign::string_to_sign("GET", Some("application/json"), &old, [("x-datahub-client-version", "1.1")], &path);
    r = r
        .header("Content-Type", "application/json")
        .header("Date", &old)
        .header("x-datahub-client-version", "1.1")
        .header("Authorization", sign::authorization(&sign::Credentials::new(ID, KEY), &sts));
    refused("skewed Date")(decode_json(r.send().await.unwrap()).await);
    assert!(emu.all_records(P, "blob3").is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn compressed_bodies_are_accepted() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let path = format!("/projects/{P}/topics/blob3/shards");
    let body = json!({"Action":"pub","Records":[{"ShardId":"0","Data":b64(&[7u8; 600])}]}).to_string().into_bytes();
    let lz4 = lz4_flex::block::compress(&body);
    assert!(lz4.len() < body.len());
    let o = Opts { encoding: Some(("lz4", body.len())), ..Default::default() };
    let (s, v) = decode_json(dh.send("POST", &path, lz4.clone(), o).await.unwrap()).await;
    assert_eq!((s, v["FailedRecordCount"].as_i64()), (200, Some(0)), "{v}");

    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&body).unwrap();
    let zlib = z.finish().unwrap();
    for enc in ["deflate", "zlib"] {
        let o = Opts { encoding: Some((enc, body.len())), ..Default::default() };
        let (s, v) = decode_json(dh.send("POST", &path, zlib.clone(), o).await.unwrap()).await;
        assert_eq!(s, 200, "{enc}: {v}");
    }
    // Go PB clients: lz4 with raw size 0 on an empty GET body.
    let o = Opts { encoding: Some(("lz4", 0)), ..Default::default() };
    let (s, v) = decode_json(dh.send("GET", &path, vec![], o).await.unwrap()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Shards"].as_array().unwrap().len(), 3);
    // A wrong raw size is refused.
    let o = Opts { encoding: Some(("lz4", body.len() + 1)), ..Default::default() };
    let (s, v) = decode_json(dh.send("POST", &path, lz4, o).await.unwrap()).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")), "{v}");
    let recs = emu.records(P, "blob3", "0");
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r.data == RecordData::Blob(vec![7u8; 600])));
    assert_eq!(recs.iter().map(|r| r.sequence).collect::<Vec<_>>(), [0, 1, 2]);
    emu.shutdown().await;
}

#[tokio::test]
async fn list_shard_and_get_topic_have_the_documented_shape() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let (s, v) = dh.json("GET", &format!("/projects/{P}/topics/blob3/shards"), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["Protocol"], "http1.1");
    assert!(v["Interval"].is_i64());
    let shards = v["Shards"].as_array().unwrap();
    let begins: Vec<&str> = shards.iter().map(|s| s["BeginHashKey"].as_str().unwrap()).collect();
    assert_eq!(begins, ["0".repeat(32), "5".repeat(32), "A".repeat(32)]);
    let ends: Vec<&str> = shards.iter().map(|s| s["EndHashKey"].as_str().unwrap()).collect();
    assert_eq!(ends, ["5".repeat(32), "A".repeat(32), "F".repeat(32)]);
    assert!(shards.iter().all(|s| s["State"] == "ACTIVE" && s["ClosedTime"].is_i64()));
    assert_eq!(shards[0]["LeftShardId"], "4294967295");
    assert_eq!(shards[0]["RightShardId"], "1");

    let (s, t) = dh.json("GET", &format!("/projects/{P}/topics/tup"), None).await;
    assert_eq!(s, 200);
    assert_eq!(t["RecordType"], "TUPLE");
    let schema: Value =
        serde_json::from_str(t["RecordSchema"].as_str().expect("RecordSchema is a JSON string")).unwrap();
    assert_eq!(schema["fields"][0], json!({"name":"f_bigint","type":"BIGINT"}));
    assert_eq!(schema["fields"][10], json!({"name":"f_required","type":"STRING","notnull":true}));
    let (_, b) = dh.json("GET", &format!("/projects/{P}/topics/blob3"), None).await;
    assert_eq!((b["RecordType"].as_str(), b["ShardCount"].as_i64()), (Some("BLOB"), Some(3)));
    assert!(b.get("RecordSchema").is_none());

    // CreateTopic with pydatahub's lower-case types; GetTopic answers upper case.
    let body = json!({"ShardCount":2,"Lifecycle":3,"RecordType":"TUPLE","Comment":"c",
        "RecordSchema": json!({"fields":[{"name":"a","type":"bigint"}]}).to_string()});
    let (s, _) = dh.json("POST", &format!("/projects/{P}/topics/created"), Some(body.clone())).await;
    assert_eq!(s, 201);
    let (s, v) = dh.json("POST", &format!("/projects/{P}/topics/created"), Some(body)).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (409, Some("TopicAlreadyExist")));
    let (_, t) = dh.json("GET", &format!("/projects/{P}/topics/created"), None).await;
    assert_eq!(t["RecordSchema"], json!({"fields":[{"name":"a","type":"BIGINT"}]}).to_string());
    assert_eq!(emu.shards(P, "created").len(), 2);

    for (path, code) in [
        ("/projects/nope".to_owned(), "NoSuchProject"),
        (format!("/projects/{P}/topics/nope"), "NoSuchTopic"),
        ("/projects/nope/topics/blob3/shards".to_owned(), "NoSuchProject"),
    ] {
        let (s, v) = dh.json("GET", &path, None).await;
        assert_eq!((s, v["ErrorCode"].as_str()), (404, Some(code)), "{path}");
    }
    let (s, v) = dh.cursor("blob3", "9", json!({"Action":"cursor","Type":"OLDEST"})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (404, Some("NoSuchShard")));
    emu.shutdown().await;
}

#[tokio::test]
async fn records_are_routed_by_shard_id_partition_key_and_hash_key() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    // §12 example: MD5("user-0") = B01A0E23… → the shard starting at AAAA… (shard 2).
    // MD5("TestPartitionKey") = D35FF28C… → shard 2 as well.
    let recs = json!([
        {"PartitionKey":"user-0","Data":b64(b"pk0")},
        {"PartitionKey":"TestPartitionKey","Data":b64(b"pk1")},
        {"HashKey":"4FFFFFFFFFFFFFFD7FFFFFFFFFFFFFFD","Data":b64(b"hk0")},
        {"HashKey":"55555555555555555555555555555555","Data":b64(b"hk1")},
        {"HashKey":"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF","Data":b64(b"hk2")},
        {"ShardId":"1","PartitionKey":"user-0","Data":b64(b"sid")},
        {"HashKey":"xyz","Data":b64(b"bad")},
        {"Data":b64(b"none")},
    ]);
    let (s, v) = dh.put("blob3", recs).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["FailedRecordCount"], 2);
    assert_eq!(v["FailedRecords"][0]["Index"], 6);
    assert_eq!(v["FailedRecords"][1]["Index"], 7);
    assert_eq!(v["FailedRecords"][0]["ErrorCode"], "InvalidParameter");
    let data = |shard: &str| -> Vec<Vec<u8>> {
        emu.records(P, "blob3", shard)
            .into_iter()
            .map(|r| match r.data {
                RecordData::Blob(b) => b,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(data("0"), [b"hk0".to_vec()]);
    assert_eq!(data("1"), [b"hk1".to_vec(), b"sid".to_vec()]);
    assert_eq!(data("2"), [b"pk0".to_vec(), b"pk1".to_vec(), b"hk2".to_vec()]);
    assert_eq!(emu.records(P, "blob3", "2")[0].partition_key.as_deref(), Some("user-0"));
    // Deterministic: the same keys land on the same shards again.
    let keys: Vec<String> = (0..60).map(|i| format!("key-{i}")).collect();
    let batch: Vec<Value> = keys.iter().map(|k| json!({"PartitionKey":k,"Data":b64(k.as_bytes())})).collect();
    dh.put("blob3", json!(batch.clone())).await;
    dh.put("blob3", json!(batch)).await;
    let mut placed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (shard, r) in emu.all_records(P, "blob3") {
        if let Some(k) = r.partition_key.filter(|k| k.starts_with("key-")) {
            placed.entry(k).or_default().push(shard);
        }
    }
    assert_eq!(placed.len(), 60);
    assert!(placed.values().all(|v| v.len() == 2 && v[0] == v[1]), "{placed:?}");
    let used: std::collections::BTreeSet<&String> = placed.values().map(|v| &v[0]).collect();
    assert_eq!(used.len(), 3, "60 keys spread over all 3 shards");
    emu.shutdown().await;
}

#[tokio::test]
async fn tuple_records_are_validated() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let good = || {
        vec![
            json!("9223372036854775807"),
            json!("-2147483648"),
            json!("32767"),
            json!("-128"),
            json!("1.5e+00"),
            json!("1.0E10"),
            json!("true"),
            json!("1455869335000000"),
            json!(""),
            json!("-12.50"),
            json!("x"),
        ]
    };
    let (s, v) = dh.put("tup", json!([{"ShardId":"0","Data":good(),"Attributes":{"a":"b"}}])).await;
    assert_eq!((s, v["FailedRecordCount"].as_i64()), (200, Some(0)), "{v}");
    let mut nulls = vec![Value::Null; 10];
    nulls.push(json!("req"));
    let (s, _) = dh.put("tup", json!([{"ShardId":"0","Data":nulls}])).await;
    assert_eq!(s, 200);
    let bad_cases: Vec<(usize, Value)> = vec![
        (0, json!("-9223372036854775808")),
        (0, json!("12a")),
        (1, json!("2147483648")),
        (2, json!("40000")),
        (3, json!("128")),
        (4, json!("ten")),
        (5, json!("1e39")),
        (6, json!("yes")),
        (7, json!("253402271999000001")),
        (7, json!("1.5")),
        (9, json!("1.2.3")),
        (10, Value::Null),
        (0, json!(5)),
        (8, json!("x".repeat(2 * 1024 * 1024 + 1))),
    ];
    for (i, bad) in bad_cases {
        let mut d = good();
        d[i] = bad.clone();
        let (s, v) = dh.put("tup", json!([{"ShardId":"0","Data":d}])).await;
        assert_eq!(
            (s, v["ErrorCode"].as_str()),
            (400, Some("MalformedRecord")),
            "field {i} = {:.40}: {v}",
            bad.to_string()
        );
    }
    let mut short = good();
    short.pop();
    let (s, v) = dh.put("tup", json!([{"ShardId":"0","Data":short}])).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("MalformedRecord")));
    let (s, v) = dh.put("blob3", json!([{"ShardId":"0","Data":"not base64!"}])).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("MalformedRecord")));
    let (s, v) = dh.put("blob3", json!([{"ShardId":"0","Data":["a"]}])).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("MalformedRecord")));
    // Nothing of the refused requests was written; read back is exact.
    let recs = dh.read_all("tup", "0").await;
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["Data"], json!(good()));
    assert_eq!(recs[0]["Attributes"], json!({"a":"b"}));
    assert_eq!(recs[1]["Data"][0], Value::Null);
    assert_eq!(recs[1]["Data"][8], Value::Null, "NULL stays apart from \"\"");
    assert_eq!(recs[0]["Data"][8], json!(""));
    emu.shutdown().await;
}

#[tokio::test]
async fn limits_and_bad_requests() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let many: Vec<Value> = (0..10_001).map(|_| json!({"ShardId":"0","Data":"AA=="})).collect();
    let (s, v) = dh.put("blob1", json!(many)).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")), "{v}");
    let exactly: Vec<Value> = (0..10_000).map(|_| json!({"ShardId":"0","Data":"AA=="})).collect();
    let (s, _) = dh.put("blob1", json!(exactly)).await;
    assert_eq!(s, 200);
    let big = b64(&vec![1u8; 3_200_000]); // > 4 MB once base64-encoded
    let (s, v) = dh.put("blob1", json!([{"ShardId":"0","Data":big}])).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (429, Some("LimitExceeded")), "{v}");
    let path = format!("/projects/{P}/topics/blob1/shards");
    let r = dh.send("POST", &path, b"{not json".to_vec(), Opts::default()).await.unwrap();
    let (s, v) = decode_json(r).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")));
    let (s, v) = dh.json("POST", &format!("/projects/{P}/topics/blob1/shards"), Some(json!({"Action":"nope"}))).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")));
    // GetRecords returns at most 1000 records whatever the Limit.
    let (_, c) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"OLDEST"})).await;
    let (s, r) = dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":c["Cursor"],"Limit":5000})).await;
    assert_eq!(s, 200);
    assert_eq!(r["RecordCount"], 1000);
    assert_eq!(r["Records"].as_array().unwrap().len(), 1000);
    let (s, r) = dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":c["Cursor"],"Limit":0})).await;
    assert_eq!((s, r["ErrorCode"].as_str()), (400, Some("InvalidParameter")));
    assert_eq!(emu.records(P, "blob1", "0").len(), 10_000);
    emu.shutdown().await;
}

#[tokio::test]
async fn cursors_and_reads() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let (s, c) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"OLDEST"})).await;
    assert_eq!(s, 200);
    assert_eq!((c["Sequence"].as_i64(), c["RecordTime"].as_i64()), (Some(0), Some(0)), "empty shard");
    let (s, r) = dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":c["Cursor"],"Limit":10})).await;
    assert_eq!((s, r["RecordCount"].as_i64()), (200, Some(0)));
    assert_eq!(r["NextCursor"], c["Cursor"], "nothing read: the cursor does not move");
    let (s, v) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"SEQUENCE","Sequence":0})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("SeekOutOfRange")));

    for i in 0..5u8 {
        dh.put("blob1", json!([{"ShardId":"0","Data":b64(&[i])}])).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let stored = emu.records(P, "blob1", "0");
    let (_, l) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"LATEST"})).await;
    assert_eq!(l["Sequence"], 4);
    assert_eq!(l["RecordTime"], stored[4].system_time_ms);
    let (_, q) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"SEQUENCE","Sequence":2})).await;
    let (_, r) = dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":q["Cursor"],"Limit":2})).await;
    assert_eq!((r["StartSeq"].as_i64(), r["RecordCount"].as_i64()), (Some(2), Some(2)));
    assert_eq!(r["Records"][0]["Data"], b64(&[2]));
    assert_eq!(r["Records"][1]["Sequence"], 3);
    let (_, r2) = dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":r["NextCursor"],"Limit":10})).await;
    assert_eq!(r2["Records"][0]["Sequence"], 4);
    let (_, t) = dh
        .cursor("blob1", "0", json!({"Action":"cursor","Type":"SYSTEM_TIME","SystemTime":stored[3].system_time_ms}))
        .await;
    assert!(t["Sequence"].as_i64().unwrap() <= 3);
    assert_eq!(stored[t["Sequence"].as_i64().unwrap() as usize].system_time_ms, stored[3].system_time_ms);
    let (s, v) = dh
        .cursor(
            "blob1",
            "0",
            json!({"Action":"cursor","Type":"SYSTEM_TIME","SystemTime":stored[4].system_time_ms + 60_000}),
        )
        .await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("SeekOutOfRange")));
    let (s, v) = dh.cursor("blob1", "0", json!({"Action":"cursor","Type":"BOGUS"})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")));
    let (s, v) =
        dh.cursor("blob1", "0", json!({"Action":"sub","Cursor":"00000000000000000000000000000099","Limit":1})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidCursor")));
    // A cursor of shard 0 used on shard 1 is invalid.
    let (s, v) = dh.cursor("blob3", "1", json!({"Action":"sub","Cursor":q["Cursor"],"Limit":1})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidCursor")));
    emu.shutdown().await;
}

#[tokio::test]
async fn protobuf_put_and_get() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    // PB PutRecords with a Java-style CRC of 0.
    let req = pb_put_blobs(&[(b"a", Some("0")), (b"b", Some("2")), (b"", Some("7"))]);
    let r = dh
        .send("POST", &format!("/projects/{P}/topics/blob3/shards"), frame(&req, Some(0)), pb_opts("pub"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[..4], b"DHUB");
    assert_eq!(u32::from_be_bytes(body[4..8].try_into().unwrap()), crc32c::crc32c(&body[12..]), "response CRC");
    // failed_count = 1 (08 01), failed record {index 2, NoSuchShard}.
    assert_eq!(&body[12..14], [0x08, 0x01]);
    assert!(String::from_utf8_lossy(&body).contains("NoSuchShard"));
    assert_eq!(emu.records(P, "blob3", "2")[0].data, RecordData::Blob(b"b".to_vec()));

    // PutRecordsByShard, LZ4-compressed frame.
    let f = frame(&pb_put_blobs(&[(b"one", None), (b"two", None)]), None);
    let lz = lz4_flex::block::compress(&f);
    let mut o = pb_opts("pub");
    o.encoding = Some(("lz4", f.len()));
    let r = dh.send("POST", &format!("/projects/{P}/topics/blob3/shards/1"), lz, o).await.unwrap();
    assert_eq!(r.status(), 200);
    // A corrupt CRC is refused.
    let mut bad = frame(&pb_put_blobs(&[(b"x", None)]), None);
    bad[5] ^= 0xff;
    let r = dh.send("POST", &format!("/projects/{P}/topics/blob3/shards/1"), bad, pb_opts("pub")).await.unwrap();
    let (s, v) = decode_json(r).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")));
    // JSON PutRecordsByShard is not an SDK operation.
    let (s, _) = dh.cursor("blob3", "1", json!({"Action":"pub","Records":[]})).await;
    assert_eq!(s, 400);

    // PB GetRecords.
    let (_, c) = dh.cursor("blob3", "1", json!({"Action":"cursor","Type":"OLDEST"})).await;
    let mut get = Vec::new();
    ld(1, c["Cursor"].as_str().unwrap().as_bytes(), &mut get);
    get.extend_from_slice(&[0x10, 0x0a]); // limit = 10
    let r = dh
        .send("POST", &format!("/projects/{P}/topics/blob3/shards/1"), frame(&get, None), pb_opts("sub"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert_eq!(u32::from_be_bytes(body[4..8].try_into().unwrap()), crc32c::crc32c(&body[12..]));
    assert_eq!(u32::from_be_bytes(body[8..12].try_into().unwrap()) as usize, body.len() - 12);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("one") && text.contains("two"));
    let recs = emu.records(P, "blob3", "1");
    assert_eq!(
        recs.iter().map(|r| r.data.clone()).collect::<Vec<_>>(),
        [RecordData::Blob(b"one".to_vec()), RecordData::Blob(b"two".to_vec())]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn error_delay_and_drop_faults() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    let gt = format!("/projects/{P}/topics/blob3");
    emu.faults().fail_next(Some(Op::GetTopic), "LimitExceeded", 2);
    for _ in 0..2 {
        let (s, v) = dh.json("GET", &gt, None).await;
        assert_eq!((s, v["ErrorCode"].as_str()), (429, Some("LimitExceeded")));
    }
    assert_eq!(dh.json("GET", &gt, None).await.0, 200, "only the next 2 failed");
    // Other operations are not affected by an op-specific rule.
    emu.faults().fail_always(Some(Op::PutRecords), "ServiceUnavailable", 503);
    assert_eq!(dh.json("GET", &gt, None).await.0, 200);
    for _ in 0..3 {
        let (s, v) = dh.put("blob3", json!([{"ShardId":"0","Data":"AA=="}])).await;
        assert_eq!((s, v["ErrorCode"].as_str()), (503, Some("ServiceUnavailable")));
    }
    emu.faults().clear();
    assert_eq!(dh.put("blob3", json!([{"ShardId":"0","Data":"AA=="}])).await.0, 200);
    assert_eq!(emu.records(P, "blob3", "0").len(), 1);
    emu.faults().fail_next(None, "InternalServerError", 1);
    assert_eq!(dh.json("GET", &gt, None).await.0, 500);

    emu.faults().delay_next(Some(Op::ListShard), 300, 1);
    let t0 = Instant::now();
    assert_eq!(dh.json("GET", &format!("{gt}/shards"), None).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300), "the delay fault delays");

    emu.faults().drop_next(Some(Op::GetProject), 1);
    let r = dh.send("GET", &format!("/projects/{P}"), vec![], Opts::default()).await;
    let e = r.expect_err("the connection is closed without a response");
    assert!(e.is_request() || e.is_connect(), "{e:?}");
    assert_eq!(dh.json("GET", &format!("/projects/{P}"), None).await.0, 200, "next request is served");
    assert_eq!(emu.request_count_of(Op::GetProject), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn partial_failures_seal_and_split() {
    let emu = start(None).await;
    let dh = Dh::new(&emu);
    emu.faults().fail_every_kth_record(3, "LimitExceeded", 1);
    let recs: Vec<Value> = (0..7u8).map(|i| json!({"ShardId":"0","Data":b64(&[i])})).collect();
    let (s, v) = dh.put("blob3", json!(recs)).await;
    assert_eq!(s, 200);
    assert_eq!(v["FailedRecordCount"], 2);
    let idx: Vec<i64> = v["FailedRecords"].as_array().unwrap().iter().map(|f| f["Index"].as_i64().unwrap()).collect();
    assert_eq!(idx, [2, 5]);
    assert_eq!(v["FailedRecords"][0]["ErrorCode"], "LimitExceeded");
    let stored: Vec<RecordData> = emu.records(P, "blob3", "0").into_iter().map(|r| r.data).collect();
    assert_eq!(stored, [0u8, 1, 3, 4, 6].map(|i| RecordData::Blob(vec![i])));
    // PB PutRecords sees it too.
    emu.faults().fail_every_kth_record(1, "LimitExceeded", 1);
    let r = dh
        .send(
            "POST",
            &format!("/projects/{P}/topics/blob3/shards"),
            frame(&pb_put_blobs(&[(b"z", Some("1"))]), None),
            pb_opts("pub"),
        )
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[12..14], [0x08, 0x01], "PB failed_count = 1");
    assert!(emu.records(P, "blob3", "1").is_empty());

    // Seal shard 1 over the admin HTTP endpoint.
    let admin = reqwest::Client::new();
    let r = admin
        .post(format!("{}/__emulator/shards/seal", emu.endpoint()))
        .json(&json!({"project":P,"topic":"blob3","shard":"1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.shards(P, "blob3")[1].state, ShardState::Closed);
    let r = dh
        .send(
            "POST",
            &format!("/projects/{P}/topics/blob3/shards/1"),
            frame(&pb_put_blobs(&[(b"z", None)]), None),
            pb_opts("pub"),
        )
        .await
        .unwrap();
    let (s, v) = decode_json(r).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidShardOperation")));
    let (s, v) = dh.put("blob3", json!([{"ShardId":"1","Data":"AA=="},{"ShardId":"2","Data":"AA=="}])).await;
    assert_eq!(s, 200);
    assert_eq!(v["FailedRecordCount"], 1);
    assert_eq!(
        v["FailedRecords"][0],
        json!({"Index":0,"ErrorCode":"InvalidShardOperation","ErrorMessage":"The specified shard is not active."})
    );
    // Reading to the end of a CLOSED shard → InvalidShardOperation.
    let (_, c) = dh.cursor("blob3", "1", json!({"Action":"cursor","Type":"OLDEST"})).await;
    let (s, v) = dh.cursor("blob3", "1", json!({"Action":"sub","Cursor":c["Cursor"],"Limit":1})).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidShardOperation")));

    // Split shard 2 (AAAA… – FFFF…): two ACTIVE children with the halves, parent CLOSED.
    let (a, b) = emu.faults().split_shard(P, "blob3", "2", None).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("3", "4"));
    let (_, ls) = dh.json("GET", &format!("/projects/{P}/topics/blob3/shards"), None).await;
    let shards = ls["Shards"].as_array().unwrap();
    assert_eq!(shards.len(), 5);
    assert_eq!(shards[2]["State"], "CLOSED");
    assert_eq!(shards[3]["ParentShardIds"], json!(["2"]));
    assert_eq!(shards[3]["BeginHashKey"], "A".repeat(32));
    assert_eq!(shards[3]["EndHashKey"], "D5555555555555555555555555555554");
    assert_eq!(shards[4]["BeginHashKey"], "D5555555555555555555555555555554");
    assert_eq!(shards[4]["EndHashKey"], "F".repeat(32));
    assert!(shards[3]["State"] == "ACTIVE" && shards[4]["State"] == "ACTIVE");
    // user-0 (B01A…) now lands on child 3, TestPartitionKey (D35F…) on child 3, F… keys on 4.
    let (_, v) = dh
        .put("blob3", json!([{"PartitionKey":"user-0","Data":"AQ=="},{"HashKey":"E0000000000000000000000000000000","Data":"Ag=="},{"ShardId":"2","Data":"Aw=="}]))
        .await;
    assert_eq!(v["FailedRecordCount"], 1);
    assert_eq!(emu.records(P, "blob3", "3").len(), 1);
    assert_eq!(emu.records(P, "blob3", "4").len(), 1);
    // Admin rules over HTTP: add, list, clear.
    let r = admin
        .post(format!("{}/__emulator/faults", emu.endpoint()))
        .json(&json!({"op":"GetTopic","kind":"error","code":"Unauthorized","times":"always"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = dh.json("GET", &format!("/projects/{P}/topics/blob3"), None).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (401, Some("Unauthorized")));
    admin.delete(format!("{}/__emulator/faults", emu.endpoint())).send().await.unwrap();
    assert_eq!(dh.json("GET", &format!("/projects/{P}/topics/blob3"), None).await.0, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn stored_records_are_appended_to_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let emu = start(Some(path.clone())).await;
    let dh = Dh::new(&emu);
    let mut d: Vec<Value> = vec![Value::Null; 10];
    d.push(json!("r"));
    dh.put("tup", json!([{"ShardId":"1","Data":d,"Attributes":{"k":"v"}}])).await;
    dh.put("blob3", json!([{"PartitionKey":"user-0","Data":b64(b"hi")}])).await;
    let lines: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["topic"], "tup");
    assert_eq!(lines[0]["shard_id"], "1");
    assert_eq!(lines[0]["data"][10], "r");
    assert_eq!(lines[0]["attributes"], json!({"k":"v"}));
    assert_eq!(lines[1]["shard_id"], "2");
    assert_eq!(lines[1]["data"], b64(b"hi"));
    assert_eq!(lines[1]["partition_key"], "user-0");
    assert_eq!(lines[1]["sequence"], 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_gapless_sequences() {
    let emu = start(None).await;
    let mut tasks = Vec::new();
    for w in 0..8u8 {
        let dh = Dh::new(&emu);
        tasks.push(tokio::spawn(async move {
            for i in 0..25u8 {
                let (s, v) = dh
                    .put("blob1", json!([{"ShardId":"0","Data":b64(&[w, i])},{"ShardId":"0","Data":b64(&[w, i, 1])}]))
                    .await;
                assert_eq!((s, v["FailedRecordCount"].as_i64()), (200, Some(0)));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let recs = emu.records(P, "blob1", "0");
    assert_eq!(recs.iter().map(|r| r.sequence).collect::<Vec<_>>(), (0..400).collect::<Vec<i64>>());
    assert!(recs.windows(2).all(|w| w[0].system_time_ms <= w[1].system_time_ms));
    // The two records of one request are adjacent, and each writer's requests keep their order.
    for pair in recs.chunks(2) {
        let (RecordData::Blob(a), RecordData::Blob(b)) = (&pair[0].data, &pair[1].data) else { panic!() };
        assert_eq!((a.len(), &b[..2]), (2, &a[..]));
    }
    for w in 0..8u8 {
        let mine: Vec<u8> = recs
            .iter()
            .filter_map(|r| match &r.data {
                RecordData::Blob(b) if b.len() == 2 && b[0] == w => Some(b[1]),
                _ => None,
            })
            .collect();
        assert_eq!(mine, (0..25).collect::<Vec<u8>>());
    }
    emu.shutdown().await;
}

/// GET `/projects/{P}?z=1&a=2&flag` on `emu`, signed as if the resource were `resource`;
/// returns the status.
async fn get_signed_as(http: &reqwest::Client, emu: &EmulatorHandle, resource: &str) -> reqwest::StatusCode {
    let date = sign::http_date(chrono::Utc::now());
    let sts =
        sign::string_to_sign("GET", Some("application/json"), &date, [("x-datahub-client-version", "1.1")], resource);
    http.get(format!("{}/projects/{P}?z=1&a=2&flag", emu.endpoint()))
        .header("Content-Type", "application/json")
        .header("Date", &date)
        .header("x-datahub-client-version", "1.1")
        .header("Authorization", sign::authorization(&sign::Credentials::new(ID, KEY), &sts))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn query_strings_are_signed_in_the_sdk_forms() {
    let emu = start(None).await;
    let http = reqwest::Client::new();
    // pydatahub: decoded, sorted, `k` for an empty value; Go: sorted, `k=`; Java: raw.
    for resource in [
        format!("/projects/{P}?a=2&flag&z=1"),
        format!("/projects/{P}?a=2&flag=&z=1"),
        format!("/projects/{P}?z=1&a=2&flag"),
    ] {
        assert_eq!(get_signed_as(&http, &emu, &resource).await, 200, "resource form {resource}");
    }
    assert_eq!(get_signed_as(&http, &emu, &format!("/projects/{P}?a=3")).await, 401, "a different query is refused");
    emu.shutdown().await;
}

/// cdc-core's `DataHubClient::create_topic` / `append_field` against the emulator: signed
/// requests the emulator accepts, topics that read back as created, and the service's error
/// codes surfacing as `DataHubError::Service`.
#[tokio::test]
async fn cdc_core_client_creates_topics_and_appends_fields() {
    use cdc_core::datahub::model::{NewField, NewRecordType, NewTopic};
    use cdc_core::datahub::{Credentials, DataHubClient, DataHubConfig, DataHubError, ErrorCode};

    let emu = start(None).await;
    let client =
        DataHubClient::new(&DataHubConfig::new(emu.endpoint(), P, "unused", Credentials::new(ID, KEY))).unwrap();
    let mut id = NewField::new("id", "BIGINT");
    id.not_null = true;
    let tuple = NewTopic {
        shard_count: 3,
        lifecycle_days: 2,
        record_type: NewRecordType::Tuple(vec![id, NewField::new("note", "string")]),
        comment: "per-table topic".into(),
    };
    client.create_topic(P, "ods_shop_orders", &tuple).await.unwrap();
    let t = client.get_topic(P, "ods_shop_orders").await.unwrap();
    assert_eq!(
        (t.record_type.as_str(), t.shard_count, t.lifecycle, t.comment.as_str()),
        ("TUPLE", 3, 2, "per-table topic")
    );
    let schema: Value = serde_json::from_str(t.record_schema.as_deref().unwrap()).unwrap();
    assert_eq!(
        schema,
        json!({"fields":[{"name":"id","type":"BIGINT","notnull":true},{"name":"note","type":"STRING"}]})
    );
    assert_eq!(client.list_shard(P, "ods_shop_orders").await.unwrap().shards.len(), 3);

    client.append_field(P, "ods_shop_orders", "added_col", "DECIMAL").await.unwrap();
    let t = client.get_topic(P, "ods_shop_orders").await.unwrap();
    let schema: Value = serde_json::from_str(t.record_schema.as_deref().unwrap()).unwrap();
    assert_eq!(schema["fields"][2], json!({"name":"added_col","type":"DECIMAL"}), "appended last, nullable");

    let blob = NewTopic { shard_count: 1, lifecycle_days: 7, record_type: NewRecordType::Blob, comment: String::new() };
    client.create_topic(P, "raw_events", &blob).await.unwrap();
    assert!(client.get_topic(P, "raw_events").await.unwrap().is_blob());

    let code = |e: DataHubError| match e {
        DataHubError::Service { code, .. } => code,
        other => panic!("expected a DataHub error reply, got {other}"),
    };
    let again = client.create_topic(P, "ODS_SHOP_ORDERS", &blob).await.unwrap_err();
    assert_eq!(code(again), ErrorCode::Other("TopicAlreadyExist".into()));
    let bad_name = client.create_topic(P, "ods-shop", &blob).await.unwrap_err();
    assert_eq!(code(bad_name), ErrorCode::InvalidParameter);
    let too_many = NewTopic { shard_count: 257, ..blob.clone() };
    assert_eq!(code(client.create_topic(P, "many", &too_many).await.unwrap_err()), ErrorCode::InvalidParameter);
    let no_project = client.create_topic("no_such_project", "t", &blob).await.unwrap_err();
    assert_eq!(code(no_project), ErrorCode::NoSuchProject);
    let existing = client.append_field(P, "ods_shop_orders", "NOTE", "STRING").await.unwrap_err();
    assert_eq!(code(existing), ErrorCode::InvalidParameter);
    let on_blob = client.append_field(P, "raw_events", "f", "STRING").await.unwrap_err();
    assert_eq!(code(on_blob), ErrorCode::InvalidParameter);
    let missing = client.append_field(P, "no_such_topic", "f", "STRING").await.unwrap_err();
    assert_eq!(code(missing), ErrorCode::NoSuchTopic);
    assert_eq!(emu.request_count_of(Op::CreateTopic), 6);
    assert_eq!(emu.request_count_of(Op::AppendField), 4);
    emu.shutdown().await;
}
