//! Offline decoding of the real binlog files in `shared/fixtures/binlogs/` (MySQL 8/9,
//! compressed transactions, JSON diffs, MariaDB 10.5): every file decodes without error, and a
//! few decoded values are checked.

use std::path::PathBuf;

use cdc_core::source::file::decode_file;
use cdc_core::source::{SourceMessage, TableFilter};

fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/binlogs");
    assert!(dir.is_dir(), "fixture directory {} is missing (CI has ../shared beside the repository)", dir.display());
    dir
}

fn decode(name: &str) -> Vec<SourceMessage> {
    let path = fixtures_dir().join(name);
    decode_file(&path, "fixtures", TableFilter::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn events(msgs: &[SourceMessage]) -> Vec<serde_json::Value> {
    msgs.iter().flat_map(|m| m.events()).map(|e| serde_json::from_slice(&e.to_json_bytes()).unwrap()).collect()
}

#[test]
fn every_fixture_file_decodes() {
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e != "md").unwrap_or(true))
        .collect();
    files.sort();
    assert!(files.len() >= 14, "{files:?}");
    let mut total = 0;
    for f in &files {
        let msgs = decode(f.file_name().unwrap().to_str().unwrap());
        let n = events(&msgs).len();
        println!("{}: {} messages, {n} row events", f.display(), msgs.len());
        total += n;
    }
    assert!(total > 0);
}

#[test]
fn compressed_transactions_are_unpacked() {
    let evs = events(&decode("transaction_compression.000001"));
    assert!(!evs.is_empty(), "rows inside the TRANSACTION_PAYLOAD event");
    assert!(evs.iter().all(|e| e["op"] == "c" || e["op"] == "u" || e["op"] == "d"));
}

#[test]
fn json_columns_and_partial_json_updates_become_json_values() {
    let evs = events(&decode("json.binlog.000001"));
    let updates: Vec<_> = evs.iter().filter(|e| e["op"] == "u").collect();
    assert!(!updates.is_empty());
    // Full-image updates: the JSON column is the document (diffs applied to the before image
    // when the server sent PARTIAL_UPDATE_ROWS_EVENT).
    let joe = updates
        .iter()
        .find(|e| e["before"]["@1"]["age"] == 24 && e["before"]["@0"] == 1)
        .expect("Joe's first birthday");
    assert_eq!(joe["after"]["@1"], serde_json::json!({"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}));
    // Minimal-image partial updates: no before document, so the value is the diff itself.
    let minimal: Vec<_> = updates.iter().filter(|e| e["after"]["@1"].get("$json_diff").is_some()).collect();
    assert_eq!(minimal.len(), 6);
    for e in minimal {
        assert_eq!(e["after"]["@1"]["$json_diff"][0]["op"], "replace");
        assert_eq!(e["after"]["@1"]["$json_diff"][0]["path"], "$.age");
        assert_eq!(e["op"], "u", "an absent key column is not a key change");
    }
}

#[test]
fn mariadb_file_has_gtids_and_clean_file_names() {
    let msgs = decode("mariadb-bin.000001");
    let evs = events(&msgs);
    assert!(!evs.is_empty());
    for e in &evs {
        let gtid = e["source"]["gtid"].as_str().expect("MariaDB GTID on every row");
        assert_eq!(gtid.split('-').count(), 3, "{gtid}");
        assert_eq!(e["source"]["file"], "mariadb-bin.000001");
    }
    let commits: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SourceMessage::Commit(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert!(commits.iter().all(|c| c.gtid_set.is_some()));
    assert!(commits.windows(2).all(|w| w[0].position.pos < w[1].position.pos), "commit positions increase");
}

#[test]
fn enum_set_and_bit_columns_use_labels_and_numbers() {
    let evs = events(&decode("mysql-enum-string-set.000001"));
    assert!(!evs.is_empty());
    println!("{}", serde_json::to_string(&evs).unwrap());
    let evs = events(&decode("mysql_type_bit.000001"));
    assert!(evs.iter().any(|e| e["after"].as_object().map(|o| o.values().any(|v| v.is_u64())).unwrap_or(false)));
}

#[test]
fn a_corrupted_event_fails_its_checksum() {
    let mut bytes = std::fs::read(fixtures_dir().join("mariadb-bin.000001")).unwrap();
    // A byte inside the last event's body (its 4-byte CRC32 ends the file).
    let at = bytes.len() - 6;
    bytes[at] ^= 0x5a;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mariadb-bin.000001");
    std::fs::write(&path, &bytes).unwrap();
    let err = decode_file(&path, "fixtures", TableFilter::default()).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}
