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
    // Contract v2: a JSON column is a string holding the document's text (null when absent).
    let doc = |img: &serde_json::Value| -> serde_json::Value {
        assert!(img["@1"].is_string() || img["@1"].is_null(), "JSON as a string: {img}");
        img["@1"].as_str().map_or(serde_json::Value::Null, |t| serde_json::from_str(t).expect("the text is JSON"))
    };
    let joe = updates
        .iter()
        .find(|e| e["before"]["@0"] == 1 && doc(&e["before"])["age"] == 24)
        .expect("Joe's first birthday");
    assert_eq!(doc(&joe["after"]), serde_json::json!({"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}));
    // Minimal-image partial updates: no before document, so the value is the diff itself.
    let minimal: Vec<_> = updates.iter().filter(|e| doc(&e["after"]).get("$json_diff").is_some()).collect();
    assert_eq!(minimal.len(), 6);
    for e in minimal {
        assert_eq!(doc(&e["after"])["$json_diff"][0]["op"], "replace");
        assert_eq!(doc(&e["after"])["$json_diff"][0]["path"], "$.age");
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
    assert!(commits.iter().all(|c| c.gtid_set().is_some()));
    assert!(
        commits.windows(2).all(|w| w[0].position().unwrap().pos < w[1].position().unwrap().pos),
        "commit positions increase"
    );
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

/// The MySQL GTID set a file reaches, computed from its raw bytes without the decoder:
/// PREVIOUS_GTIDS (untagged layout: n_sids, then uuid, n_intervals, [start, end exclusive])
/// plus the GNO of every GTID event (flags 1 byte, uuid 16, gno 8 LE). Returns uuid → GNOs.
fn raw_gtids(bytes: &[u8]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<u64>> {
    let u64le = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    let uuid = |b: &[u8]| {
        let h: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    };
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<u64>> = Default::default();
    let mut at = 4;
    while at + 19 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 9..at + 13].try_into().unwrap()) as usize;
        let body = &bytes[at + 19..at + len];
        match bytes[at + 4] {
            35 => {
                let n = u64le(body);
                let mut p = 8;
                for _ in 0..n {
                    let u = uuid(&body[p..]);
                    let k = u64le(&body[p + 16..]);
                    p += 24;
                    for _ in 0..k {
                        out.entry(u.clone()).or_default().extend(u64le(&body[p..])..u64le(&body[p + 8..]));
                        p += 16;
                    }
                }
            }
            33 => {
                out.entry(uuid(&body[1..])).or_default().insert(u64le(&body[17..]));
            }
            _ => {}
        }
        at += len;
    }
    out
}

#[test]
fn mysql_gtid_set_is_tracked_through_the_file() {
    for name in ["mysql-enum-string-set.000001", "mysql_type_bit.000001", "binlog-invisible-columns.000001"] {
        let msgs = decode(name);
        let bytes = std::fs::read(fixtures_dir().join(name)).unwrap();
        let expected = raw_gtids(&bytes);
        assert!(expected.values().map(|s| s.len()).sum::<usize>() >= 3, "{name}: the file has GTIDs");
        // Every commit's set holds the GTIDs of the events before it; the last one is the
        // whole file's set, in MySQL's canonical text.
        let mut seen_gtids = Vec::new();
        let mut last_set = None;
        for m in &msgs {
            match m {
                SourceMessage::Events(v) => seen_gtids.extend(v.iter().filter_map(|e| e.source.gtid.clone())),
                SourceMessage::Commit(cp) => {
                    let set = cp.gtid_set().cloned().unwrap_or_else(|| panic!("{name}: commit without GTID set"));
                    let parsed = cdc_core::source::gtid::MysqlGtidSet::parse(&set.text).unwrap();
                    for g in &seen_gtids {
                        // `g` is in the set when adding it changes nothing.
                        let mut union = parsed.clone();
                        union.union(&cdc_core::source::gtid::MysqlGtidSet::parse(g).unwrap());
                        let uuid = g.rsplit_once(':').unwrap().0;
                        assert!(expected.contains_key(uuid) && union == parsed, "{name}: commit set {set} misses {g}");
                    }
                    last_set = Some(set);
                }
                _ => {}
            }
        }
        let text: Vec<String> = expected
            .iter()
            .map(|(u, gnos)| {
                let gnos: Vec<u64> = gnos.iter().copied().collect();
                let mut parts = Vec::new();
                let mut i = 0;
                while i < gnos.len() {
                    let mut j = i;
                    while j + 1 < gnos.len() && gnos[j + 1] == gnos[j] + 1 {
                        j += 1;
                    }
                    parts.push(if i == j { gnos[i].to_string() } else { format!("{}-{}", gnos[i], gnos[j]) });
                    i = j + 1;
                }
                format!("{u}:{}", parts.join(":"))
            })
            .collect();
        assert_eq!(last_set.as_ref().map(|s| s.text.as_str()), Some(text.join(",").as_str()), "{name}");
    }
}
