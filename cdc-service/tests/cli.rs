//! The built `cdc-collector` binary, run as a process with a controlled environment
//! (`env_clear`): `validate` lists every problem and never prints secrets, `healthcheck` exit
//! codes against a running / stale / absent server, `run` refuses a broken configuration with
//! every problem, and `run` stays up (not ready, saying why) while the database and DataHub are
//! unreachable, then exits 0 on SIGTERM.

mod common;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cdc_core::status::{StageState, Status};
use cdc_service::http::AppState;
use cdc_service::service::serve_monitoring;
use common::{free_port, get, text, BIN};
use tokio_util::sync::CancellationToken;

const DB_PASSWORD: &str = "db-secret-Zq81";
const DH_KEY: &str = "dh-secret-Kp27";

fn collector(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().args(args).envs(env.iter().copied()).stdin(Stdio::null());
    c
}

fn output(args: &[&str], env: &[(&str, &str)]) -> Output {
    collector(args, env).output().expect("run cdc-collector")
}

#[test]
fn validate_lists_every_config_problem_one_per_line() {
    let env = &[
        ("DATABASE_PORT", "abc"),
        ("DATABASE_PASSWORD", DB_PASSWORD),
        ("DATAHUB_ACCESS_KEY", DH_KEY),
        ("DATAHUB_ENDPOINT", "ftp://x"),
        ("LOG_LEVEL", "chatty"),
        ("CDC_BATCH_MAX_BYTES", "9000000"),
    ];
    let o = output(&["validate"], env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "PROBLEM: config: DATABASE_HOST: missing",
        "PROBLEM: config: DATABASE_PORT: `abc` is not a port number (1-65535)",
        "PROBLEM: config: DATABASE_USERNAME: missing",
        "PROBLEM: config: DATAHUB_ENDPOINT: `ftp://x` is not an http(s) URL",
        "PROBLEM: config: DATAHUB_ACCESS_ID: missing",
        "PROBLEM: config: DATAHUB_PROJECT: missing",
        "PROBLEM: config: DATAHUB_TOPIC: missing",
        "PROBLEM: config: LOG_LEVEL: `chatty` is not one of TRACE, DEBUG, INFO, WARN, ERROR",
        "PROBLEM: config: CDC_BATCH_MAX_BYTES: `9000000`",
        "PROBLEM: database: not checked",
        "PROBLEM: datahub: not checked",
    ] {
        assert!(out.lines().any(|l| l.starts_with(needle)), "missing line `{needle}` in:\n{out}");
    }
    assert!(out.contains("11 problem(s) found"), "{out}");
    let all = text(&o);
    assert!(!all.contains(DB_PASSWORD) && !all.contains(DH_KEY), "secret printed:\n{all}");
    // The seed's flag is the same command.
    let flag = output(&["--validate-only"], env);
    assert_eq!((flag.status.code(), text(&flag)), (o.status.code(), all), "--validate-only differs from validate");
}

#[test]
fn validate_reports_unreachable_database_and_datahub_without_secrets() {
    let closed = free_port().to_string();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let o = output(
        &["validate", "--timeout-ms", "5000"],
        &[
            ("DATABASE_HOST", "127.0.0.1"),
            ("DATABASE_PORT", &closed),
            ("DATABASE_USERNAME", "cdc_repl"),
            ("DATABASE_PASSWORD", DB_PASSWORD),
            ("DATAHUB_ENDPOINT", &endpoint),
            ("DATAHUB_ACCESS_ID", "AKID"),
            ("DATAHUB_ACCESS_KEY", DH_KEY),
            ("DATAHUB_SECURITY_TOKEN", "sts-secret-Yy19"),
            ("DATAHUB_PROJECT", "proj"),
            ("DATAHUB_TOPIC", "topic"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l.starts_with("PROBLEM: database: 127.0.0.1:") && l.contains(&closed)), "{out}");
    assert!(out.lines().any(|l| l.starts_with("PROBLEM: datahub: ")), "{out}");
    assert!(!out.contains("PROBLEM: config:"), "{out}");
    let all = text(&o);
    for s in [DB_PASSWORD, DH_KEY, "sts-secret-Yy19"] {
        assert!(!all.contains(s), "secret printed:\n{all}");
    }
}

#[test]
fn run_with_a_broken_config_exits_2_listing_every_problem() {
    let o = output(&["run"], &[("DATABASE_PASSWORD", DB_PASSWORD), ("MONITORING_PORT", "0")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for key in
        ["DATABASE_HOST: missing", "DATABASE_USERNAME: missing", "DATAHUB_ENDPOINT: missing", "MONITORING_PORT: `0`"]
    {
        assert!(err.contains(key), "{key} not in:\n{err}");
    }
    assert!(!err.contains(DB_PASSWORD));
    // No subcommand means `run`.
    let o = output(&[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DATABASE_HOST: missing"));
}

#[tokio::test]
async fn healthcheck_exit_codes_follow_liveness() {
    // Nothing listening: 1.
    let port = free_port().to_string();
    let o = output(&["healthcheck", "--timeout-ms", "2000"], &[("MONITORING_PORT", &port)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no answer"), "{}", text(&o));

    // A live server: 0 — even though the rest of the configuration is missing.
    let status = Status::new();
    status.set_source(StageState::Running);
    let stop = CancellationToken::new();
    let (addr, task) =
        serve_monitoring(0, AppState::new(status.clone(), None, Duration::from_secs(60)), stop.clone()).await.unwrap();
    let port = addr.port().to_string();
    let o = tokio::task::spawn_blocking({
        let port = port.clone();
        move || output(&["healthcheck"], &[("MONITORING_PORT", &port)])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    stop.cancel();
    task.await.unwrap();

    // A server whose pipeline loop stopped reporting: 1.
    let stop = CancellationToken::new();
    let (addr, task) =
        serve_monitoring(0, AppState::new(status.clone(), None, Duration::from_millis(50)), stop.clone())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let port = addr.port().to_string();
    let o = tokio::task::spawn_blocking(move || output(&["healthcheck"], &[("MONITORING_PORT", &port)])).await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("503"), "{}", text(&o));
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn run_stays_up_while_dependencies_are_unreachable_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = dir.path().join("offsets.json");
    let mon = free_port();
    let (db_port, dh_port) = (free_port().to_string(), free_port());
    let endpoint = format!("http://127.0.0.1:{dh_port}");
    let mon_s = mon.to_string();
    let offsets_s = offsets.display().to_string();
    let mut child = collector(
        &["run"],
        &[
            ("DATABASE_HOST", "127.0.0.1"),
            ("DATABASE_PORT", &db_port),
            ("DATABASE_USERNAME", "cdc_repl"),
            ("DATABASE_PASSWORD", DB_PASSWORD),
            ("DATAHUB_ENDPOINT", &endpoint),
            ("DATAHUB_ACCESS_ID", "AKID"),
            ("DATAHUB_ACCESS_KEY", DH_KEY),
            ("DATAHUB_PROJECT", "proj"),
            ("DATAHUB_TOPIC", "topic"),
            ("MONITORING_PORT", &mon_s),
            ("CDC_OFFSET_PATH", &offsets_s),
            ("CDC_LOG_FORMAT", "json"),
            ("LOG_LEVEL", "debug"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // Wait (bounded) until the sink has failed at least once and says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Some((_, body)) = get(mon, "/health").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["last_error"].is_string() {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "no error reported on /health in time");
        assert!(child.try_wait().unwrap().is_none(), "collector exited while dependencies were unreachable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["status"], "DEGRADED", "{health}");
    assert!(health["last_error"].as_str().unwrap().contains(&dh_port.to_string()), "{health}");
    let (code, ready) = get(mon, "/health/ready").await.unwrap();
    assert_eq!(code, 503, "{ready}");
    assert!(ready.contains("\"ready\":false"), "{ready}");
    assert_eq!(get(mon, "/health/live").await.unwrap().0, 200);
    let (code, metrics) = get(mon, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    for body in [health.to_string(), ready.clone(), metrics] {
        assert!(!body.contains(DB_PASSWORD) && !body.contains(DH_KEY), "secret exposed: {body}");
    }
    assert!(child.try_wait().unwrap().is_none(), "collector exited while dependencies were unreachable");

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "collector did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("Shutting down"), "{err}");
    assert!(!err.contains(DB_PASSWORD) && !err.contains(DH_KEY), "secret in logs:\n{err}");
    // Every log line is JSON (CDC_LOG_FORMAT=json).
    for line in err.lines().filter(|l| !l.is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
}
