//! The `cdc-collector` binary with per-table topics, against the real MariaDB and the DataHub
//! emulator: `validate` names each mismatch of an existing TUPLE topic with its table and a TUPLE
//! topic two tables share; `run` with `DATAHUB_TOPIC=ods_{db}_{table}` and
//! `DATAHUB_CREATE_TOPICS=true` creates one DTS-layout TUPLE topic per table, lists them with
//! their shard counts on `/health`, writes each table's rows to its own topic and counts them
//! per topic on `/metrics`; with a signal table configured, a snapshot signal row sends the
//! table's rows again (`op: r`) while it streams, and no topic is created for the signal table.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdc_core::datahub::model::{NewField, NewRecordType, NewTopic};
use cdc_core::datahub::tuple::Layout;
use cdc_core::datahub::{Credentials, DataHubClient, DataHubConfig};
use cdc_tests::mariadb::{self, exec, REPL_USER};
use common::{database_env, free_port, text, BIN};
use datahub_emulator::{Emulator, EmulatorConfig, RecordData};

const PROJECT: &str = "svc_project";
const ID: &str = "svc_access_id";
const KEY: &str = "svc-access-key-Tp31";

fn env(db: &mariadb::TestServer, schema: &str, endpoint: &str) -> Vec<(&'static str, String)> {
    let mut env = database_env(&db.host, db.port, schema);
    env.extend([
        ("DATAHUB_ENDPOINT", endpoint.to_owned()),
        ("DATAHUB_ACCESS_ID", ID.to_owned()),
        ("DATAHUB_ACCESS_KEY", KEY.to_owned()),
        ("DATAHUB_PROJECT", PROJECT.to_owned()),
        ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
        ("CDC_BATCH_LINGER_MS", "20".to_owned()),
        ("CDC_SNAPSHOT_MODE", "never".to_owned()),
    ]);
    env
}

async fn run_validate(vars: Vec<(&'static str, String)>) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let o = Command::new(BIN)
            .env_clear()
            .args(["validate", "--timeout-ms", "10000"])
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    })
    .await
    .unwrap()
}

async fn get(port: u16, path: &str) -> Option<String> {
    common::get(port, path).await.map(|(_, body)| body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_mismatches_and_run_creates_a_topic_per_table() {
    let db = mariadb::server().await;
    let mut cfg = EmulatorConfig::single(PROJECT, "unused", 1, ID, KEY);
    cfg.projects[0].topics.clear();
    let emu = Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let schema = db.fresh_schema("svc_topics").await;
    let mut c = db.admin_conn().await;
    exec(
        &mut c,
        &[
            &format!("CREATE TABLE `{schema}`.orders (id BIGINT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20))"),
            &format!("CREATE TABLE `{schema}`.items (id INT PRIMARY KEY, name VARCHAR(20))"),
        ],
    )
    .await;

    // An existing topic for `orders` whose `amount` is BIGINT and that lacks `note`.
    let client =
        DataHubClient::new(&DataHubConfig::new(emu.endpoint(), PROJECT, "t", Credentials::new(ID, KEY))).unwrap();
    let mut fields: Vec<NewField> =
        Layout::Dts.meta_schema().iter().map(|f| NewField::new(&f.name, f.field_type.as_str())).collect();
    fields.extend([NewField::new("id", "BIGINT"), NewField::new("amount", "BIGINT")]);
    let spec = NewTopic {
        shard_count: 1,
        lifecycle_days: 1,
        record_type: NewRecordType::Tuple(fields),
        comment: String::new(),
    };
    client.create_topic(PROJECT, "legacy_orders", &spec).await.unwrap();

    let mut vars = env(&db, &schema, &emu.endpoint());
    vars.push(("DATAHUB_TOPIC", "ods_{db}_{table}".into()));
    vars.push(("DATAHUB_TOPIC_MAP", format!("{schema}.orders=legacy_orders")));
    let (code, out) = run_validate(vars.clone()).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("PROBLEM: datahub: topic legacy_orders")
            && out.contains("column `amount` is decimal but its field is BIGINT"),
        "{out}"
    );
    assert!(out.contains("column `note` (varchar) has no field in the topic"), "{out}");
    assert!(out.contains(&format!("topic ods_{schema}_items ({schema}.items) does not exist")), "{out}");

    // Two tables on one TUPLE topic to be created: named.
    let mut shared = env(&db, &schema, &emu.endpoint());
    shared.extend([
        ("DATAHUB_TOPIC", "all_rows".to_owned()),
        ("DATAHUB_CREATE_TOPICS", "true".to_owned()),
        ("DATAHUB_RECORD_TYPE", "TUPLE".to_owned()),
    ]);
    let (code, out) = run_validate(shared).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("topic all_rows: TUPLE topic for 2 tables"), "{out}");

    // `run`: a created DTS topic per table, on /health, written, counted.
    let mon = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut vars = env(&db, &schema, &emu.endpoint());
    vars.extend([
        ("DATAHUB_TOPIC", "ods_{db}_{table}".to_owned()),
        ("DATAHUB_CREATE_TOPICS", "true".to_owned()),
        ("DATAHUB_RECORD_TYPE", "TUPLE".to_owned()),
        ("DATAHUB_SHARD_COUNT", "2".to_owned()),
        ("MONITORING_PORT", mon.to_string()),
        ("CDC_OFFSET_PATH", dir.path().join("offsets.json").display().to_string()),
        ("CDC_SNAPSHOT_SIGNAL_TABLE", format!("{schema}.ops_signal")),
    ]);
    // The collector creates the signal table and writes watermarks into it.
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut c, &[&format!("GRANT CREATE, INSERT ON `{schema}`.* TO '{REPL_USER}'@'{host}'")]).await;
    }
    let (code, out) = run_validate(vars.clone()).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("topic ods_{schema}_orders ({schema}.orders) will be created")), "{out}");
    let mut child = Command::new(BIN)
        .env_clear()
        .arg("run")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let health: serde_json::Value = loop {
        if let Some(body) = get(mon, "/health").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["status"] == "UP" {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "not UP in time");
        assert!(child.try_wait().unwrap().is_none(), "collector exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for t in ["orders", "items"] {
        let topic = &health["topics"][format!("ods_{schema}_{t}")];
        assert_eq!(topic["shards"], 2, "{health}");
        assert_eq!(topic["record_type"], "TUPLE", "{health}");
        assert_eq!(topic["layout"], "DTS", "{health}");
    }
    exec(
        &mut c,
        &[
            &format!("INSERT INTO `{schema}`.orders VALUES (1, 12.50, 'a'), (2, NULL, NULL)"),
            &format!("INSERT INTO `{schema}`.items VALUES (7, 'seven')"),
        ],
    )
    .await;
    let orders = format!("ods_{schema}_orders");
    let deadline = Instant::now() + Duration::from_secs(30);
    while emu.all_records(PROJECT, &orders).len() < 2
        || emu.all_records(PROJECT, &format!("ods_{schema}_items")).is_empty()
    {
        assert!(Instant::now() < deadline, "rows not written to their topics");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rec = emu.all_records(PROJECT, &format!("ods_{schema}_items"));
    let RecordData::Tuple(values) = &rec[0].1.data else { panic!("a TUPLE record") };
    assert_eq!(values[8..], [Some("7".to_owned()), Some("seven".to_owned())], "{values:?}");
    let metrics = get(mon, "/metrics").await.unwrap();
    assert!(metrics.contains(&format!("cdc_sink_topic_records_total{{topic=\"{orders}\"}} 2")), "{metrics}");

    // A snapshot signal while running: the orders rows come again, as reads.
    exec(&mut c, &[&format!("INSERT INTO `{schema}`.ops_signal (kind, data) VALUES ('snapshot', '{schema}.orders')")])
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while emu.all_records(PROJECT, &orders).len() < 4 {
        assert!(Instant::now() < deadline, "the signalled snapshot did not reach {orders}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health: serde_json::Value = serde_json::from_str(&get(mon, "/health").await.unwrap()).unwrap();
    assert!(
        health["topics"].get(format!("ods_{schema}_ops_signal")).is_none(),
        "a topic for the signal table: {health}"
    );
    let no_topic = client.get_topic(PROJECT, &format!("ods_{schema}_ops_signal")).await;
    assert!(no_topic.is_err(), "the signal table got a topic: {no_topic:?}");
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// SIGTERM to the child (graceful stop).
fn sigterm(child: &std::process::Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}
