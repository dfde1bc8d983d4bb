//! `cdc-collector validate` against `oceanbase-emulator` (OceanBase's binlog service behind ODP,
//! in front of the suite's MariaDB): the captured columns the service's value faults can corrupt
//! are listed as `WARNING:` lines naming `db.table.column`, the fault and the fix, and do not fail
//! validation; against the MariaDB itself there are none.

mod common;

use std::process::Command;
use std::time::Duration;

use cdc_tests::mariadb::{self, exec, REPL_PASSWORD};
use cdc_tests::pipeline::{oceanbase, Hub};
use common::{database_env, datahub_env, text, BIN};

const KEY: &str = "obv_secret_key";
const HUB: Hub = Hub { project: "obv_project", topic: "obv_topic", id: "obv_id", key: KEY };

fn validate(host: &str, port: u16, schema: &str, endpoint: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .env_clear()
        .arg("validate")
        .envs(database_env(host, port, schema))
        .envs(datahub_env(&HUB, endpoint))
        .envs([
            ("CDC_OFFSET_PATH", dir.path().join("offsets.json").display().to_string()),
            ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
            ("CDC_SNAPSHOT_MODE", "never".to_owned()),
        ])
        .output()
        .unwrap();
    (o.status.code(), text(&o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_the_columns_the_oceanbase_value_faults_can_corrupt() {
    let srv = mariadb::server().await;
    let (emu, ob) = oceanbase(&srv, Duration::from_millis(300)).await;
    let dh = HUB.start(1).await;
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
    let (host, port, endpoint) = (ob.host, ob.port, dh.endpoint());
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
