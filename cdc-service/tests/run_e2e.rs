//! End to end through the built binary: the project's MariaDB (`scripts/test-mariadb`) → the
//! `cdc-collector run` process → the in-process DataHub emulator. Checks readiness, `/health`
//! and `/metrics` while streaming, that every inserted row arrives, that SIGTERM drains and
//! stores the final checkpoint (exit 0), and that a restart resumes from it: rows written while
//! the collector was down arrive, and nothing acknowledged before the clean stop is sent again.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdc_tests::mariadb::{self, exec, TestServer, REPL_PASSWORD};
use cdc_tests::pipeline::Hub;
use common::{Collector, BIN};
use datahub_emulator::{EmulatorHandle, Op, RecordData};

const PROJECT: &str = "svc_project";
const TOPIC: &str = "svc_topic";
const ID: &str = "svc_access_id";
const KEY: &str = "svc-access-key-Hq42";
const HUB: Hub = Hub { project: PROJECT, topic: TOPIC, id: ID, key: KEY };

/// The collector against `db` and the DataHub at `endpoint`, stderr in `dir/collector.log`.
fn collector(db: &TestServer, schema: &str, endpoint: &str, dir: &std::path::Path, offsets: &str) -> Collector {
    Collector::new(db, schema, &HUB, endpoint, "svc-e2e", dir, dir.join(offsets))
}

/// The `after.id` of every change event the emulator holds for `schema`, in arrival order per
/// shard (concatenated).
fn ids(emu: &EmulatorHandle, schema: &str) -> Vec<i64> {
    emu.all_records(PROJECT, TOPIC)
        .into_iter()
        .filter_map(|(_, r)| match r.data {
            RecordData::Blob(b) => Some(serde_json::from_slice::<serde_json::Value>(&b).expect("record is JSON")),
            RecordData::Tuple(_) => None,
        })
        .filter(|v| v["source"]["db"] == schema)
        .map(|v| v["after"]["id"].as_i64().expect("after.id"))
        .collect()
}

async fn wait_ids(emu: &EmulatorHandle, schema: &str, n: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = ids(emu, schema);
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "only {} of {n} records arrived: {got:?}", got.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then wait (bounded, 40 s) for the exit; returns (exit code, the log so far).
async fn terminate(col: &mut Collector) -> (Option<i32>, String) {
    let (code, _) = col.sigterm_within(Duration::from_secs(40)).await;
    (code, col.log_text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_to_datahub_drains_on_sigterm_and_resumes_from_the_checkpoint() {
    let server = mariadb::server().await;
    let schema = server.fresh_schema("svc_e2e").await;
    let mut admin = server.admin_conn().await;
    exec(&mut admin, &[&format!("CREATE TABLE `{schema}`.t (id BIGINT PRIMARY KEY, v VARCHAR(40))")]).await;
    let emu = HUB.start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&server, &schema, &emu.endpoint(), dir.path(), "data/offsets.json");

    // First run: ready, then rows written in two transactions arrive.
    col.spawn();
    col.wait_ready().await;
    exec(
        &mut admin,
        &[
            "START TRANSACTION",
            &format!("INSERT INTO `{schema}`.t VALUES (1,'a'),(2,'b'),(3,'c')"),
            "COMMIT",
            &format!("INSERT INTO `{schema}`.t VALUES (4,'d')"),
        ],
    )
    .await;
    let mut got = wait_ids(&emu, &schema, 4).await;
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4]);

    let (code, body) = col.get("/health").await.unwrap();
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, h["status"].as_str()), (200, Some("UP")), "{h}");
    assert!(h["events_total"].as_u64().unwrap() >= 4, "{h}");
    assert!(h["current_position"]["file"].is_string(), "{h}");
    let (code, metrics) = col.get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("cdc_events_total"), "{metrics}");
    for body in [&body, &metrics] {
        assert!(!body.contains(KEY) && !body.contains(REPL_PASSWORD), "secret exposed");
    }

    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains(KEY) && !err.contains(REPL_PASSWORD), "secret in logs:\n{err}");
    let cp = col.checkpoint().expect("offsets stored");
    assert!(!cp.position().cloned().unwrap().file.is_empty() && cp.position().cloned().unwrap().pos > 4, "{cp:?}");

    // Written while the collector is down.
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.t VALUES (5,'e')")]).await;

    col.spawn();
    col.wait_ready().await;
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.t VALUES (6,'f')")]).await;
    let got = wait_ids(&emu, &schema, 6).await;
    // Give a re-send (which would be a bug after a clean stop) the chance to show up: wait for
    // the checkpoint of row 6, then count.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = col.get("/health").await.unwrap();
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        if h["events_acked_total"].as_u64() >= Some(2)
            && h["committed"]["resume"]["position"]["pos"].as_u64() > Some(cp.position().cloned().unwrap().pos)
        {
            break;
        }
        assert!(Instant::now() < deadline, "second run never checkpointed: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");
    let mut all = ids(&emu, &schema);
    all.sort_unstable();
    assert_eq!(all, [1, 2, 3, 4, 5, 6], "clean stop + restart must neither lose nor repeat rows (got {got:?})");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_passes_against_a_ready_database_and_datahub() {
    let server = mariadb::server().await;
    let emu = HUB.start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let col = collector(&server, "unused", &emu.endpoint(), dir.path(), "offsets.json");
    let base = col.env.clone();
    let run = move |extra: Vec<(&'static str, String)>| {
        let mut c = Command::new(BIN);
        c.env_clear().arg("validate").envs(base.clone()).envs(extra);
        c.output().unwrap()
    };
    let o = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(vec![])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("OK: configuration valid"), "{out}");
    assert!(out.contains(&format!("OK: database {}:{}: reachable", server.host, server.port)), "{out}");
    assert!(out.contains("credentials accepted"), "{out}");
    assert!(!out.contains(KEY) && !out.contains(REPL_PASSWORD), "{out}");

    // Wrong DataHub key and a topic that does not exist: both reported, exit 1.
    let o = tokio::task::spawn_blocking(move || {
        run(vec![("DATAHUB_ACCESS_KEY", "wrong-key-Vb55".into()), ("DATAHUB_TOPIC", "no_such_topic".into())])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.lines().any(|l| l.starts_with("PROBLEM: datahub: ")), "{out}");
    assert!(!out.contains("wrong-key-Vb55"), "{out}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_change_events_as_json_lines() {
    let server = mariadb::server().await;
    let schema = server.fresh_schema("svc_tail").await;
    let mut admin = server.admin_conn().await;
    exec(&mut admin, &[&format!("CREATE TABLE `{schema}`.t (id BIGINT PRIMARY KEY, v VARCHAR(40))")]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&server, &schema, "", dir.path(), "offsets.json");
    // No DataHub settings at all: `tail` does not need them.
    col.env.retain(|(k, _)| !k.starts_with("DATAHUB_"));
    col.spawn_args(&["tail"], Stdio::piped());
    let stdout = col.child.as_mut().unwrap().stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // `tail` starts at `latest`: keep inserting (bounded) until a row shows up, since the
    // process may not have resolved its start position when the first insert commits.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut id = 0;
    let line = loop {
        id += 1;
        exec(&mut admin, &[&format!("INSERT INTO `{schema}`.t VALUES ({id},'x')")]).await;
        if let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            break line;
        }
        assert!(Instant::now() < deadline, "no event printed");
        assert!(col.child.as_mut().unwrap().try_wait().unwrap().is_none(), "tail exited early");
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["op"], "c", "{v}");
    assert_eq!(v["source"]["db"], schema.as_str(), "{v}");
    assert_eq!(v["source"]["name"], "svc-e2e", "{v}");
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datahub_outage_shows_on_readiness_and_loses_nothing_across_a_restart() {
    let server = mariadb::server().await;
    let schema = server.fresh_schema("svc_outage").await;
    let mut admin = server.admin_conn().await;
    exec(&mut admin, &[&format!("CREATE TABLE `{schema}`.t (id BIGINT PRIMARY KEY, v VARCHAR(40))")]).await;
    let emu = HUB.start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&server, &schema, &emu.endpoint(), dir.path(), "offsets.json");
    col.spawn();
    col.wait_ready().await;

    // DataHub throttles every write from now on.
    for op in [Op::PutRecords, Op::PutRecordsByShard] {
        emu.faults().fail_always(Some(op), "LimitExceeded", 429);
    }
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.t VALUES (1,'a'),(2,'b'),(3,'c')")]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let reason = loop {
        if let Some((503, body)) = col.get("/health/ready").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let r = v["reason"].as_str().unwrap_or_default().to_owned();
            if r.contains("LimitExceeded") {
                break r;
            }
        }
        assert!(Instant::now() < deadline, "throttling never showed on /health/ready");
        assert!(col.child.as_mut().unwrap().try_wait().unwrap().is_none(), "collector exited during the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(reason.starts_with("sink not accepting"), "{reason}");
    let h: serde_json::Value = serde_json::from_str(&col.get("/health").await.unwrap().1).unwrap();
    assert_eq!(h["status"], "DEGRADED", "{h}");
    assert_eq!(h["sink"]["state"], "retrying", "{h}");
    assert_eq!(col.get("/health/live").await.unwrap().0, 200);
    assert!(ids(&emu, &schema).is_empty(), "a throttled write was stored");

    // Stop during the outage: the unacknowledged rows must not be checkpointed.
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");

    emu.faults().clear();
    col.spawn();
    col.wait_ready().await;
    let mut got = wait_ids(&emu, &schema, 3).await;
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, [1, 2, 3], "rows read before the outage must arrive after the restart");
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_longer_than_the_grace_period_exits_1_and_the_rows_are_read_again() {
    let server = mariadb::server().await;
    let schema = server.fresh_schema("svc_grace").await;
    let mut admin = server.admin_conn().await;
    exec(&mut admin, &[&format!("CREATE TABLE `{schema}`.t (id BIGINT PRIMARY KEY, v VARCHAR(40))")]).await;
    let emu = HUB.start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut col = collector(&server, &schema, &emu.endpoint(), dir.path(), "offsets.json");
    col.set("CDC_SHUTDOWN_GRACE_MS", "300");
    col.spawn();
    col.wait_ready().await;

    // The next writes hang far longer than the grace period.
    for op in [Op::PutRecords, Op::PutRecordsByShard] {
        emu.faults().delay_next(Some(op), 20_000, 1);
    }
    exec(&mut admin, &[&format!("INSERT INTO `{schema}`.t VALUES (7,'g')")]).await;
    // Wait until the row was read, then stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h: serde_json::Value = serde_json::from_str(&col.get("/health").await.unwrap().1).unwrap();
        if h["events_total"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "row never read: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whether the batch is already in flight or flushed by the drain, its write hangs.
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not drain within CDC_SHUTDOWN_GRACE_MS (300 ms)"), "{err}");

    // The unacknowledged row is read again after a restart.
    emu.faults().clear();
    col.set("CDC_SHUTDOWN_GRACE_MS", "30000");
    col.spawn();
    col.wait_ready().await;
    let got = wait_ids(&emu, &schema, 1).await;
    assert!(got.iter().all(|id| *id == 7), "{got:?}");
    let (code, err) = terminate(&mut col).await;
    assert_eq!(code, Some(0), "{err}");
    emu.shutdown().await;
}
