//! `cdc-collector validate` against `oceanbase-emulator` (OceanBase's binlog service behind ODP,
//! in front of the suite's MariaDB): the captured columns the service's value faults can corrupt
//! are listed as `WARNING:` lines naming `db.table.column`, the fault and the fix, and do not fail
//! validation; against the MariaDB itself there are none.

use std::process::Command;
use std::time::Duration;

use cdc_tests::mariadb::{self, exec, REPL_PASSWORD, REPL_USER};
use datahub_emulator::{Emulator as DataHub, EmulatorConfig};
use oceanbase_emulator::{Config, Emulator};

const BIN: &str = env!("CARGO_BIN_EXE_cdc-collector");
const PROJECT: &str = "obv_project";
const TOPIC: &str = "obv_topic";
const ID: &str = "obv_id";
const KEY: &str = "obv_secret_key";

fn validate(host: &str, port: u16, schema: &str, endpoint: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .env_clear()
        .arg("validate")
        .envs([
            ("DATABASE_HOST", host.to_owned()),
            ("DATABASE_PORT", port.to_string()),
            ("DATABASE_USERNAME", REPL_USER.to_owned()),
            ("DATABASE_PASSWORD", REPL_PASSWORD.to_owned()),
            ("DATABASE_SCHEMA", schema.to_owned()),
            ("DATAHUB_ENDPOINT", endpoint.to_owned()),
            ("DATAHUB_ACCESS_ID", ID.to_owned()),
            ("DATAHUB_ACCESS_KEY", KEY.to_owned()),
            ("DATAHUB_PROJECT", PROJECT.to_owned()),
            ("DATAHUB_TOPIC", TOPIC.to_owned()),
            ("CDC_OFFSET_PATH", dir.path().join("offsets.json").display().to_string()),
            ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
            ("CDC_SNAPSHOT_MODE", "never".to_owned()),
        ])
        .output()
        .unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code(), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_the_columns_the_oceanbase_value_faults_can_corrupt() {
    let srv = mariadb::server().await;
    let mut cfg = Config::new(srv.host.clone(), srv.port, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let dh = DataHub::start(EmulatorConfig::single(PROJECT, TOPIC, 1, ID, KEY), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("DataHub emulator starts");
    let schema = srv.fresh_schema("obvalidate").await;
    let mut c = srv.admin_conn().await;
    exec(
        &mut c,
        &[&format!(
            "CREATE TABLE `{schema}`.t (id INT PRIMARY KEY, e ENUM('a','ab'), big BIGINT UNSIGNED, \
             wide BIT(48), fine ENUM('x','y'), narrow BIT(8))"
        )],
    )
    .await;
    let (host, port, endpoint) = ("127.0.0.1".to_owned(), emu.local_addr().port(), dh.endpoint());
    let (s, e) = (schema.clone(), endpoint.clone());
    let (code, out) = tokio::task::spawn_blocking(move || validate(&host, port, &s, &e)).await.unwrap();
    eprintln!("validate through the emulator:\n{out}");
    assert_eq!(code, Some(0), "warnings do not fail validation: {out}");
    let warned: Vec<&str> = out.lines().filter(|l| l.starts_with("WARNING: database: column ")).collect();
    assert_eq!(warned.len(), 3, "{out}");
    assert!(warned[0].contains(&format!("column {schema}.t.e (enum('a','ab'))")), "{out}");
    assert!(warned[0].contains("'ab' arrives as 'a'") && warned[0].contains("VARCHAR"), "{out}");
    assert!(warned[1].contains(&format!("column {schema}.t.big (bigint(20) unsigned)")), "{out}");
    assert!(warned[1].contains("v2.0.1_BP2"), "{out}");
    assert!(warned[2].contains(&format!("column {schema}.t.wide (bit(48))")), "{out}");
    assert!(!out.contains(KEY) && !out.contains(REPL_PASSWORD), "{out}");

    // The same tables straight from MariaDB: not an OceanBase server, no such warnings.
    let (host, port, s) = (srv.host.clone(), srv.port, schema.clone());
    let (code, out) = tokio::task::spawn_blocking(move || validate(&host, port, &s, &endpoint)).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("WARNING: database: column"), "{out}");
    emu.shutdown();
    dh.shutdown().await;
}
