//! Property tests of binlog decoding on hostile bytes: the real binlog files of
//! `tests/prop_corpus/` with bytes of their TABLE_MAP and rows events overwritten (the event's
//! CRC32 recomputed when it had one, so the mutation gets past the checksum check into the column
//! plan and the value decoder), or cut anywhere, or garbage after the magic number. Decoding
//! must return events or an error; a panic fails the test (in debug builds that includes integer
//! overflow). Entry point: `cdc_core::source::file::decode_file`, the same `Decoder` as the live
//! stream. Short in CI (proptest's default 256 cases; `PROPTEST_CASES` for more).

use std::path::PathBuf;

use cdc_core::source::file::decode_file;
use cdc_core::source::TableFilter;
use proptest::prelude::*;

const CORPUS: &[&str] = &[
    "mariadb-bin.000001",
    "mysql-enum-string-set.000001",
    "json.binlog.000001",
    "time_issue.000001",
    "mysql_type_bit.000001",
    "minimal_row_metadata.000001",
];

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/prop_corpus").join(name)).expect("corpus file")
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and the binlog checksum use).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// `(offset, length, type)` of every event after the 4-byte magic.
fn events(bytes: &[u8]) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    let mut at = 4;
    while at + 19 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 9..at + 13].try_into().unwrap()) as usize;
        if len < 19 || at + len > bytes.len() {
            break;
        }
        out.push((at, len, bytes[at + 4]));
        at += len;
    }
    out
}

/// TABLE_MAP (19), rows events V1 (23-25) and V2 (30-32), MySQL PARTIAL_UPDATE_ROWS (39).
fn is_target(ty: u8) -> bool {
    matches!(ty, 19 | 23..=25 | 30..=32 | 39)
}

fn decode_bytes(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binlog.000001");
    std::fs::write(&path, bytes).unwrap();
    // Ok or Err are both fine; what matters is returning.
    let _ = decode_file(&path, "prop", TableFilter::default());
}

proptest! {
    #[test]
    fn mutated_table_maps_and_rows_events_never_panic(
        file in 0..CORPUS.len(),
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = corpus(CORPUS[file]);
        let targets: Vec<_> = events(&bytes).into_iter().filter(|e| is_target(e.2)).collect();
        prop_assume!(!targets.is_empty());
        let (at, len, _) = targets[pick.index(targets.len())];
        let had_crc = len >= 23 && crc32(&bytes[at..at + len - 4]).to_le_bytes() == bytes[at + len - 4..at + len];
        let body = 19..if had_crc { len - 4 } else { len };
        prop_assume!(body.end > body.start);
        for (i, v) in &edits {
            let off = at + body.start + i.index(body.end - body.start);
            bytes[off] = *v;
        }
        if had_crc {
            let crc = crc32(&bytes[at..at + len - 4]);
            bytes[at + len - 4..at + len].copy_from_slice(&crc.to_le_bytes());
        }
        decode_bytes(&bytes);
    }

    #[test]
    fn files_cut_anywhere_never_panic(file in 0..CORPUS.len(), cut in any::<prop::sample::Index>()) {
        let bytes = corpus(CORPUS[file]);
        let n = 4 + cut.index(bytes.len() - 4);
        decode_bytes(&bytes[..n]);
    }

    #[test]
    fn garbage_after_the_magic_never_panics(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"\xfebin".to_vec();
        bytes.extend(tail);
        decode_bytes(&bytes);
    }
}

#[test]
fn the_corpus_decodes_and_has_rows_events_to_mutate() {
    for name in CORPUS {
        let bytes = corpus(name);
        assert!(events(&bytes).iter().any(|e| is_target(e.2)), "{name} has no rows event");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        decode_file(&path, "prop", TableFilter::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
