//! The durable schema history: records survive a reopen, a resume cuts the file back to the
//! checkpoint (never ahead of it), a torn last line is dropped, a damaged line is an error.

use std::io::Write;

use cdc_core::position::BinlogPosition;
use cdc_core::schema_history::{DdlOutcome, HistoryConfig, HistoryFile, SchemaHistory, SchemaState, StoreError};

fn pos(p: u64) -> BinlogPosition {
    BinlogPosition::new("binlog.000007", p)
}

fn config() -> HistoryConfig {
    HistoryConfig { databases: vec!["db".into()], mariadb: true, lower_case_table_names: false }
}

/// Seeds a history, applies `ddls` at positions 200, 300, … and stores every record.
fn write(path: &std::path::Path, ddls: &[&str]) -> SchemaHistory {
    let state = SchemaState { server_charset: Some("utf8mb4".into()), ..Default::default() };
    let mut h = SchemaHistory::new(config(), pos(100), state);
    let (mut f, records) = HistoryFile::open(path).unwrap();
    assert!(records.is_empty());
    f.append(&h.snapshot_record()).unwrap();
    for (i, sql) in ddls.iter().enumerate() {
        match h.apply(&pos(200 + 100 * i as u64), "db", sql).unwrap() {
            DdlOutcome::Changed { record, .. } | DdlOutcome::RefreshNeeded { record, .. } => f.append(&record).unwrap(),
            DdlOutcome::Ignored(_) => {}
        }
    }
    h
}

const DDLS: &[&str] = &[
    "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(5))",
    "ALTER TABLE t ADD b INT FIRST",
    "CREATE INDEX i ON t (a)",
    "ALTER TABLE t DROP COLUMN a",
];

#[test]
fn resume_without_checkpoint_gives_the_newest_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let h = write(&path, DDLS);
    let (r, _) = HistoryFile::resume(&path, &config(), None).unwrap().unwrap();
    assert_eq!(r.state(), h.state());
    assert_eq!(r.position(), &pos(500));
}

#[test]
fn resume_cuts_the_file_back_to_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    write(&path, DDLS);
    // The checkpoint passed the first ALTER (300) but not the DROP (500).
    let (r, mut f) = HistoryFile::resume(&path, &config(), Some(&pos(450))).unwrap().unwrap();
    let names: Vec<&str> = r.table("db", "t").unwrap().columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b", "id", "a"]);
    let (_, records) = HistoryFile::open(&path).unwrap();
    assert_eq!(records.len(), 3, "the DROP's record is gone from the file");
    // The re-read DROP is appended again, and the next resume sees it once.
    let mut r = r;
    if let DdlOutcome::Changed { record, .. } = r.apply(&pos(500), "db", DDLS[3]).unwrap() {
        f.append(&record).unwrap();
    }
    let (again, _) = HistoryFile::resume(&path, &config(), Some(&pos(600))).unwrap().unwrap();
    assert_eq!(again.table("db", "t").unwrap().columns.len(), 2);
    // A checkpoint before the seed cannot be served.
    assert!(matches!(HistoryFile::resume(&path, &config(), Some(&pos(50))), Err(StoreError::NoSnapshot { .. })));
}

#[test]
fn a_torn_last_line_is_dropped_and_a_damaged_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    write(&path, DDLS);
    let good = std::fs::read(&path).unwrap();
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"position\":{\"file\":\"bin").unwrap();
    let (_, records) = HistoryFile::open(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(std::fs::read(&path).unwrap(), good, "the torn line is cut off the file");

    let mut damaged = b"not json\n".to_vec();
    damaged.extend_from_slice(&good);
    std::fs::write(&path, damaged).unwrap();
    let e = HistoryFile::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { line: 1, .. }), "{e}");
}

#[test]
fn an_empty_file_has_nothing_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    assert!(HistoryFile::resume(dir.path().join("h.jsonl"), &config(), None).unwrap().is_none());
}
