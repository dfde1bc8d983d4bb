//! The `datahub-emulator` binary: flags, topics file, `--fault`, `--jsonl`, endpoint on stdout, and
//! a start with no topics that clients then create (CreateTopic, AppendField, DeleteTopic).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cdc_core::datahub::sign;
use serde_json::{json, Value};

/// The endpoint the emulator prints as the first line on its stdout.
fn printed_endpoint(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line.trim().to_owned()
}

async fn signed(method: &str, endpoint: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let date = sign::http_date(chrono::Utc::now());
    let sts = sign::string_to_sign(
        method,
        Some("application/json"),
        &date,
        [("x-datahub-client-version", "1.1")],
        &sign::canonical_resource(path, None),
    );
    let auth = sign::authorization(&sign::Credentials::new("BinId", "BinKey"), &sts);
    let r = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{endpoint}{path}"))
        .header("Content-Type", "application/json")
        .header("Date", date)
        .header("x-datahub-client-version", "1.1")
        .header("Authorization", auth)
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let t = r.text().await.unwrap();
    (s, if t.is_empty() { Value::Null } else { serde_json::from_str(&t).unwrap() })
}

#[tokio::test]
async fn binary_serves_topics_file_faults_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let topics = dir.path().join("topics.json");
    std::fs::write(
        &topics,
        json!([{"name":"bin_project","topics":[{"name":"orders","shard_count":2,
            "record_type":{"type":"TUPLE","fields":[{"name":"id","type":"BIGINT","notnull":true},{"name":"note","type":"STRING"}]}}]}])
        .to_string(),
    )
    .unwrap();
    let jsonl = dir.path().join("out.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-emulator"))
        .args(["--listen", "127.0.0.1:0", "--project", "bin_project", "--topic", "events", "--shards", "3"])
        .args(["--access-id", "BinId", "--topics-file"])
        .arg(&topics)
        .arg("--jsonl")
        .arg(&jsonl)
        .args(["--fault", r#"{"op":"GetTopic","kind":"error","code":"InternalServerError"}"#])
        .args(["--seal", "bin_project/events/2"])
        .env("DATAHUB_EMULATOR_ACCESS_KEY", "BinKey")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = printed_endpoint(&mut child);
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let (s, v) = signed("GET", &endpoint, "/projects/bin_project/topics/orders", None).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (500, Some("InternalServerError")), "--fault applies once");
    let (s, v) = signed("GET", &endpoint, "/projects/bin_project/topics/orders", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["RecordType"], "TUPLE");
    let (_, v) = signed("GET", &endpoint, "/projects/bin_project/topics/events/shards", None).await;
    assert_eq!(v["Shards"].as_array().unwrap().len(), 3);
    assert_eq!(v["Shards"][2]["State"], "CLOSED", "--seal");
    assert_eq!(v["Shards"][1]["State"], "ACTIVE");
    let (s, v) = signed(
        "POST",
        &endpoint,
        "/projects/bin_project/topics/orders/shards",
        Some(json!({"Action":"pub","Records":[{"ShardId":"1","Data":["7",null]}]})),
    )
    .await;
    assert_eq!((s, v["FailedRecordCount"].as_i64()), (200, Some(0)), "{v}");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&jsonl).unwrap().trim()).unwrap();
    assert_eq!(line["data"], json!(["7", null]));
    assert_eq!(line["shard_id"], "1");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn binary_starts_with_no_topics_and_creates_them() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-emulator"))
        .args(["--listen", "127.0.0.1:0", "--project", "empty_project", "--access-id", "BinId"])
        .env("DATAHUB_EMULATOR_ACCESS_KEY", "BinKey")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = printed_endpoint(&mut child);
    let (s, v) = signed("GET", &endpoint, "/projects/empty_project/topics", None).await;
    assert_eq!((s, v), (200, json!({"TopicNames": []})), "no --topic: no topics");
    let schema = json!({"fields":[{"name":"id","type":"bigint","notnull":true}]}).to_string();
    let create = json!({"ShardCount":2,"Lifecycle":3,"RecordType":"TUPLE","RecordSchema":schema,"Comment":"c"});
    let (s, _) = signed("POST", &endpoint, "/projects/empty_project/topics/orders", Some(create.clone())).await;
    assert_eq!(s, 201);
    let (s, v) = signed("POST", &endpoint, "/projects/empty_project/topics/ORDERS", Some(create)).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (409, Some("TopicAlreadyExist")), "{v}");
    let append = json!({"Action":"appendfield","FieldName":"note","FieldType":"string"});
    let (s, _) = signed("POST", &endpoint, "/projects/empty_project/topics/orders", Some(append.clone())).await;
    assert_eq!(s, 200);
    let (s, v) = signed("POST", &endpoint, "/projects/empty_project/topics/orders", Some(append)).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (400, Some("InvalidParameter")), "{v}");
    let (_, v) = signed("GET", &endpoint, "/projects/empty_project/topics/orders", None).await;
    let schema: Value = serde_json::from_str(v["RecordSchema"].as_str().unwrap()).unwrap();
    assert_eq!(
        schema,
        json!({"fields":[{"name":"id","type":"BIGINT","notnull":true},{"name":"note","type":"STRING"}]}),
        "upper-case types, the appended field nullable"
    );
    assert_eq!(
        (v["ShardCount"].as_i64(), v["Lifecycle"].as_i64(), v["Comment"].as_str()),
        (Some(2), Some(3), Some("c"))
    );
    let (s, _) = signed("DELETE", &endpoint, "/projects/empty_project/topics/orders", None).await;
    assert_eq!(s, 200);
    let (s, v) = signed("GET", &endpoint, "/projects/empty_project/topics/orders", None).await;
    assert_eq!((s, v["ErrorCode"].as_str()), (404, Some("NoSuchTopic")));
    child.kill().unwrap();
    child.wait().unwrap();
}
