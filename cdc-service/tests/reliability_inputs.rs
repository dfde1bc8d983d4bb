//! Bad input, clear errors, through the real `cdc-collector` binary: every configuration
//! variable given an invalid value and every required one missing (`run` exits 2 naming it),
//! a wrong database password, a wrong DataHub key, a server with `binlog_format=STATEMENT` or
//! `binlog_row_image=MINIMAL` (set GLOBAL on a dedicated instance, `scripts/test-mariadb --name
//! rel_bad --port 33073`), a user without replication privileges: each gives one message naming
//! the problem (checked by its text), and no secret is ever printed.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cdc_tests::mariadb::{self, exec, TestServer, REPL_PASSWORD, REPL_USER};
use common::{free_port, text, BIN};
use datahub_emulator::{Emulator, EmulatorConfig};

const DB_PASSWORD: &str = "db-secret-Rt55";
const DH_KEY: &str = "dh-secret-Mm31";

/// A complete, valid configuration pointing at closed ports.
fn valid_env() -> Vec<(String, String)> {
    [
        ("DATABASE_HOST", "127.0.0.1".to_owned()),
        ("DATABASE_PORT", free_port().to_string()),
        ("DATABASE_USERNAME", "cdc_repl".to_owned()),
        ("DATABASE_PASSWORD", DB_PASSWORD.to_owned()),
        ("DATAHUB_ENDPOINT", format!("http://127.0.0.1:{}", free_port())),
        ("DATAHUB_ACCESS_ID", "AKID".to_owned()),
        ("DATAHUB_ACCESS_KEY", DH_KEY.to_owned()),
        ("DATAHUB_PROJECT", "proj".to_owned()),
        ("DATAHUB_TOPIC", "topic".to_owned()),
        ("MONITORING_PORT", free_port().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn run_with(env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(BIN)
        .env_clear()
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run cdc-collector")
}

/// Starts `cdc-collector run` with exactly `env`, stdout and stderr piped.
fn spawn_run(env: &[(String, String)]) -> Child {
    Command::new(BIN)
        .env_clear()
        .arg("run")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn with(mut env: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}

#[test]
fn every_invalid_setting_is_refused_by_name_with_its_value() {
    let cases: &[(&str, &str, &str)] = &[
        ("DATABASE_PORT", "0", "`0` is not a port number (1-65535)"),
        ("DATABASE_PORT", "65536", "`65536` is not a port number (1-65535)"),
        ("DATAHUB_ENDPOINT", "dh.example.com", "`dh.example.com` is not an http(s) URL"),
        ("DATAHUB_PROJECT", "1project", "`1project` must start with a letter"),
        ("DATAHUB_PROJECT", "ab", "be 3-32 characters"),
        ("DATAHUB_TOPIC", "my-topic", "`my-topic` must start with a letter, hold only letters, digits and `_`"),
        ("RETRY_MAX_ATTEMPTS", "0", "`0` is not a whole number of attempts in 1..=1000"),
        ("RETRY_BACKOFF_MS", "-5", "`-5` is not a whole number of milliseconds"),
        ("MONITORING_PORT", "http", "`http` is not a port number (1-65535)"),
        ("LOG_LEVEL", "verbose", "`verbose` is not one of TRACE, DEBUG, INFO, WARN, ERROR"),
        ("CDC_SERVER_ID", "0", "`0` is not a whole number of server ids"),
        ("CDC_START_POSITION", "binlog.000001:abc", "binlog.000001:abc"),
        ("CDC_BATCH_MAX_RECORDS", "10001", "`10001` is not a whole number of records"),
        ("CDC_BATCH_MAX_BYTES", "100", "`100` is not a whole number of bytes"),
        ("CDC_BATCH_LINGER_MS", "1s", "`1s` is not a whole number of milliseconds"),
        ("CDC_QUEUE_CAPACITY", "0", "`0` is not a whole number of messages"),
        ("CDC_HEARTBEAT_MS", "99999999999", "`99999999999` is not a whole number of milliseconds"),
        ("CDC_SHUTDOWN_GRACE_MS", "soon", "`soon` is not a whole number of milliseconds"),
        ("CDC_LIVENESS_TIMEOUT_MS", "5", "`5` is not a whole number of milliseconds in 1000..="),
        ("CDC_LOG_FORMAT", "xml", "`xml` is not `text` or `json`"),
        ("DATABASE_TABLES", "shop.(orders", "invalid table selector `shop.(orders`: regex parse error"),
    ];
    let mut failures = Vec::new();
    for (key, value, want) in cases {
        let o = run_with(&with(valid_env(), key, value), &["run"]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let named = err.lines().any(|l| l.contains(&format!("{key}: ")) && l.contains(want));
        if o.status.code() != Some(2) || !named {
            failures.push(format!("{key}={value}: exit {:?}, expected `{key}: …{want}…` in:\n{err}", o.status.code()));
        }
        assert!(!text(&o).contains(DB_PASSWORD) && !text(&o).contains(DH_KEY), "secret printed:\n{}", text(&o));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn every_missing_required_setting_is_named() {
    for key in [
        "DATABASE_HOST",
        "DATABASE_USERNAME",
        "DATAHUB_ENDPOINT",
        "DATAHUB_ACCESS_ID",
        "DATAHUB_ACCESS_KEY",
        "DATAHUB_PROJECT",
        "DATAHUB_TOPIC",
    ] {
        let mut env = valid_env();
        env.retain(|(k, _)| k != key);
        let o = run_with(&env, &["run"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", text(&o));
        assert!(err.contains(&format!("{key}: missing")), "{key}: {err}");
        assert!(!text(&o).contains(DB_PASSWORD) && !text(&o).contains(DH_KEY), "secret printed:\n{}", text(&o));
    }
    // An empty password is allowed (the default); an empty required value is missing.
    let o = run_with(&with(valid_env(), "DATABASE_HOST", ""), &["run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DATABASE_HOST: missing"), "{}", text(&o));
}

fn server_env(db: &TestServer, user: &str, password: &str, endpoint: &str) -> Vec<(String, String)> {
    let mut env = valid_env();
    for (k, v) in [
        ("DATABASE_HOST", db.host.clone()),
        ("DATABASE_PORT", db.port.to_string()),
        ("DATABASE_USERNAME", user.to_owned()),
        ("DATABASE_PASSWORD", password.to_owned()),
        ("DATAHUB_ENDPOINT", endpoint.to_owned()),
        ("DATAHUB_ACCESS_ID", "rel_id".to_owned()),
        ("DATAHUB_PROJECT", "rel_project".to_owned()),
        ("DATAHUB_TOPIC", "rel_topic".to_owned()),
        ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
    ] {
        env = with(env, k, &v);
    }
    env
}

async fn validate(env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || run_with(&env, &["validate", "--timeout-ms", "10000"])).await.unwrap()
}

fn problems(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("PROBLEM: ")).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_wrong_key_and_missing_privileges_are_named() {
    let db = mariadb::server().await;
    let emu = Emulator::start(
        EmulatorConfig::single("rel_project", "rel_topic", 1, "rel_id", DH_KEY),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();

    // Wrong database password: one database problem, the server's "Access denied", no secret.
    let o = validate(server_env(&db, REPL_USER, "wrong-pw-Ux90", &emu.endpoint())).await;
    let p = problems(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with(&format!("PROBLEM: database: {}:{}", db.host, db.port)), "{p:?}");
    assert!(p[0].contains("Access denied for user 'cdc_repl'"), "{p:?}");
    assert!(!text(&o).contains("wrong-pw-Ux90") && !text(&o).contains(DH_KEY), "{}", text(&o));

    // Wrong DataHub key: one datahub problem saying the credentials were refused.
    let mut env = server_env(&db, REPL_USER, REPL_PASSWORD, &emu.endpoint());
    env = with(env, "DATAHUB_ACCESS_KEY", "wrong-key-Pq12");
    let o = validate(env.clone()).await;
    let p = problems(&o);
    assert_eq!(p.len(), 1, "{}", text(&o));
    assert!(p[0].starts_with("PROBLEM: datahub: ") && p[0].contains("Unauthorized"), "{p:?}");
    assert!(!text(&o).contains("wrong-key-Pq12") && !text(&o).contains(REPL_PASSWORD), "{}", text(&o));
    // `run` with the wrong key: a fatal error (retrying cannot fix credentials), named, exit ≠ 0.
    let o = tokio::task::spawn_blocking(move || {
        let mut c = spawn_run(&env);
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "run kept going with a wrong DataHub key");
            std::thread::sleep(Duration::from_millis(50));
        }
        c.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Unauthorized"), "{}", text(&o));
    assert!(!text(&o).contains("wrong-key-Pq12"), "{}", text(&o));

    // A user without replication privileges: each missing grant named, with the GRANT to run.
    let user = format!("rel_noperm_{:06x}", rand::random::<u32>() % 0xffffff);
    let mut admin = db.admin_conn().await;
    exec(
        &mut admin,
        &[
            &format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'noperm-pw'"),
            &format!("CREATE USER '{user}'@'localhost' IDENTIFIED BY 'noperm-pw'"),
        ],
    )
    .await;
    let o = validate(server_env(&db, &user, "noperm-pw", &emu.endpoint())).await;
    let p = problems(&o);
    let who = format!("user {user}@{}", db.host);
    for want in [
        format!(
            "PROBLEM: database: REPLICATION SLAVE is not granted to {who} — GRANT REPLICATION SLAVE ON *.* TO the user"
        ),
        "PROBLEM: database: REPLICATION CLIENT (MariaDB: BINLOG MONITOR) is not granted to".to_string(),
        "PROBLEM: database: global SELECT".to_string(),
    ] {
        assert!(p.iter().any(|l| l.starts_with(&want)), "`{want}` not in {p:?}");
    }
    exec(&mut admin, &[&format!("DROP USER '{user}'@'127.0.0.1'"), &format!("DROP USER '{user}'@'localhost'")]).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_format_and_minimal_row_image_are_refused_with_what_to_set() {
    let db = tokio::task::spawn_blocking(|| TestServer::dedicated("rel_bad", 33073)).await.unwrap();
    let emu = Emulator::start(
        EmulatorConfig::single("rel_project", "rel_topic", 1, "rel_id", DH_KEY),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut admin = db.admin_conn().await;
    let env = server_env(&db, REPL_USER, REPL_PASSWORD, &emu.endpoint());
    let o = validate(env.clone()).await;
    assert_eq!(o.status.code(), Some(0), "the dedicated instance starts correct: {}", text(&o));

    for (set, want, reset) in [
        (
            "SET GLOBAL binlog_format='STATEMENT'",
            "PROBLEM: database: binlog_format is STATEMENT — set binlog_format=ROW",
            "SET GLOBAL binlog_format='ROW'",
        ),
        (
            "SET GLOBAL binlog_format='MIXED'",
            "PROBLEM: database: binlog_format is MIXED — set binlog_format=ROW",
            "SET GLOBAL binlog_format='ROW'",
        ),
        (
            "SET GLOBAL binlog_row_image='MINIMAL'",
            "PROBLEM: database: binlog_row_image is MINIMAL — set binlog_row_image=FULL",
            "SET GLOBAL binlog_row_image='FULL'",
        ),
    ] {
        exec(&mut admin, &[set]).await;
        let o = validate(env.clone()).await;
        let p = problems(&o);
        // `run` refuses too, with the same words.
        let dir = tempfile::tempdir().unwrap();
        let offsets = dir.path().join("offsets.json").display().to_string();
        let run_env = with(env.clone(), "CDC_OFFSET_PATH", &offsets);
        let r = tokio::task::spawn_blocking(move || {
            let mut c = spawn_run(&run_env);
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            c.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        exec(&mut admin, &[reset]).await;
        assert_eq!(o.status.code(), Some(1), "{set}: {}", text(&o));
        assert_eq!(p, vec![want.to_owned()], "{set}");
        let wanted = want.trim_start_matches("PROBLEM: database: ");
        assert_ne!(r.status.code(), Some(0), "{set}: run must not start: {}", text(&r));
        assert!(text(&r).contains(wanted), "{set}: run's message: {}", text(&r));
        assert!(!text(&r).contains(REPL_PASSWORD) && !text(&r).contains(DH_KEY), "{}", text(&r));
    }
    emu.shutdown().await;
}
