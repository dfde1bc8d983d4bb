//! The official DataHub Python SDK (`pydatahub` 2.29.0) as a test oracle: the virtualenv made by
//! `scripts/pydatahub-venv` and `tests/python/check_emulator.py`, which checks the emulator and
//! reads a topic back through the SDK.

use std::path::PathBuf;
use std::process::Command;

use crate::verify::TopicEvent;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Runs `scripts/pydatahub-venv` (installs pydatahub into `target/pydatahub-venv` when missing)
/// and returns the venv's python. Panics, never skips, when it fails.
pub fn python() -> PathBuf {
    let root = repo_root();
    let out = Command::new(root.join("scripts/pydatahub-venv"))
        .current_dir(&root)
        .output()
        .expect("scripts/pydatahub-venv can be run (bash, python3)");
    assert!(
        out.status.success(),
        "scripts/pydatahub-venv failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 path");
    PathBuf::from(stdout.lines().last().expect("the script prints the python path").trim())
}

/// Reads every shard of `project`/`topic` with pydatahub (GetCursor OLDEST + GetRecords until the
/// end) and returns the BLOB records decoded as contract events, sorted by shard and sequence.
pub fn read_back(endpoint: &str, access_id: &str, access_key: &str, project: &str, topic: &str) -> Vec<TopicEvent> {
    use base64::Engine as _;
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/check_emulator.py"))
        .args(["--endpoint", endpoint, "--access-id", access_id, "--read-back", project, topic])
        .env("DATAHUB_ACCESS_KEY", access_key)
        .output()
        .expect("the venv python runs");
    assert!(
        out.status.success(),
        "pydatahub read-back failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events: Vec<TopicEvent> = String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let rec: serde_json::Value = serde_json::from_str(l).expect("a JSON line per record");
            let data = base64::engine::general_purpose::STANDARD
                .decode(rec["data"].as_str().expect("BLOB data is base64 text"))
                .expect("valid base64");
            TopicEvent {
                shard: rec["shard_id"].as_str().expect("shard_id").to_owned(),
                sequence: rec["sequence"].as_i64().expect("sequence"),
                event: serde_json::from_slice(&data).expect("contract JSON"),
                attributes: serde_json::from_value(rec["attributes"].clone()).unwrap_or_default(),
            }
        })
        .collect();
    events.sort_by(|a, b| (a.shard.as_str(), a.sequence).cmp(&(b.shard.as_str(), b.sequence)));
    events
}
