//! Cross-check of the DataHub emulator with the official Python SDK, pydatahub 2.29.0: starts
//! the emulator in process, makes sure `target/pydatahub-venv` holds the SDK
//! (`scripts/pydatahub-venv`), and runs `tests/python/check_emulator.py` against it. Fails, never
//! skips, when python, pip or any check fails.

use std::path::PathBuf;
use std::process::Command;

use datahub_emulator::{Emulator, EmulatorConfig, ProjectSpec, TopicSpec};

use cdc_tests::pydatahub::{python as pydatahub_python, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydatahub_sdk_accepts_the_emulator() {
    let python = tokio::task::spawn_blocking(pydatahub_python).await.unwrap();
    let cfg = EmulatorConfig {
        accounts: vec![("PyCheckId".into(), "PyCheckSecret/+=".into())],
        projects: vec![ProjectSpec { name: "check_project".into(), comment: "pydatahub check".into(), topics: vec![] }],
        ..Default::default()
    };
    let emu = Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let endpoint = emu.endpoint();
    let root = repo_root();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(root.join("tests/python/check_emulator.py"))
            .args(["--endpoint", &endpoint, "--access-id", "PyCheckId", "--project", "check_project"])
            .env("DATAHUB_ACCESS_KEY", "PyCheckSecret/+=")
            .output()
            .expect("the venv python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check_emulator.py failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("ALL CHECKS PASSED"), "unexpected output:\n{stdout}\n{stderr}");
    // The SDK's records really landed in the emulator (seen from the Rust side too).
    assert!(emu.request_count() > 30, "pydatahub made {} requests", emu.request_count());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydatahub_read_back_matches_expected_jsonl() {
    let python = tokio::task::spawn_blocking(pydatahub_python).await.unwrap();
    let mut cfg = EmulatorConfig::single("rb_project", "events", 2, "RbId", "RbKey");
    cfg.projects[0].topics.push(TopicSpec::blob("other", 1));
    let emu = Emulator::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    // Write through the HTTP API with the signer, as any producer would.
    let client = reqwest::Client::new();
    let body = serde_json::json!({"Action": "pub", "Records": [
        {"ShardId": "0", "Data": "aGVsbG8=", "Attributes": {"k": "v"}},
        {"ShardId": "1", "Data": "d29ybGQ="},
    ]})
    .to_string();
    let resp = signed_post(&client, &emu.endpoint(), "/projects/rb_project/topics/events/shards", body).await;
    assert_eq!(resp.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("expected.jsonl");
    std::fs::write(
        &expected,
        "{\"shard_id\":\"1\",\"data\":\"d29ybGQ=\"}\n{\"data\":\"aGVsbG8=\",\"attributes\":{\"k\":\"v\"},\"sequence\":0}\n",
    )
    .unwrap();
    let wrong = dir.path().join("wrong.jsonl");
    std::fs::write(&wrong, "{\"data\":\"aGVsbG8=\"}\n").unwrap();
    let endpoint = emu.endpoint();
    let run = move |file: PathBuf| {
        let python = python.clone();
        let endpoint = endpoint.clone();
        move || {
            Command::new(python)
                .arg(repo_root().join("tests/python/check_emulator.py"))
                .args(["--endpoint", &endpoint, "--access-id", "RbId", "--access-key", "RbKey", "--read-back"])
                .args(["rb_project", "events"])
                .arg(file)
                .output()
                .unwrap()
        }
    };
    let ok = tokio::task::spawn_blocking(run.clone()(expected)).await.unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    // One expected record but two written: the extra record must make it fail.
    let bad = tokio::task::spawn_blocking(run(wrong)).await.unwrap();
    assert!(!bad.status.success(), "a read-back with an unexpected record passed");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unexpected record"));
    emu.shutdown().await;
}

async fn signed_post(client: &reqwest::Client, endpoint: &str, path: &str, body: String) -> reqwest::Response {
    use cdc_core::datahub::sign;
    let date = sign::http_date(chrono_now());
    let sts = sign::string_to_sign(
        "POST",
        Some("application/json"),
        &date,
        [("x-datahub-client-version", "1.1")],
        &sign::canonical_resource(path, None),
    );
    let auth = sign::authorization(&sign::Credentials::new("RbId", "RbKey"), &sts);
    client
        .post(format!("{endpoint}{path}"))
        .header("Content-Type", "application/json")
        .header("Date", date)
        .header("x-datahub-client-version", "1.1")
        .header("Authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
