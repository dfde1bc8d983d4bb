//! Property tests of position and GTID-set parsing (`cdc_core::position`): `Display` and
//! `FromStr` round-trip for every well-formed value, arbitrary text never panics, and whatever
//! parses prints back to text that parses to the same value.

use cdc_core::position::{BinlogPosition, GtidSet, StartPosition};

use cdc_core::checkpoint::Checkpoint;
use proptest::prelude::*;

fn file_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,20}\\.[0-9]{6}"
}

fn mariadb_gtid() -> impl Strategy<Value = String> {
    prop::collection::vec((0u32..100, 1u32..u32::MAX, 0u64..u64::MAX), 1..4)
        .prop_map(|v| v.iter().map(|(d, s, n)| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(","))
}

fn mysql_gtid() -> impl Strategy<Value = String> {
    let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    let interval =
        (1u64..1_000_000, 0u64..1000).prop_map(|(a, d)| if d == 0 { a.to_string() } else { format!("{a}-{}", a + d) });
    prop::collection::vec((uuid, prop::collection::vec(interval, 1..4)), 1..3)
        .prop_map(|v| v.iter().map(|(u, iv)| format!("{u}:{}", iv.join(":"))).collect::<Vec<_>>().join(","))
}

proptest! {
    #[test]
    fn positions_round_trip(file in file_name(), pos in 4u64..u64::MAX) {
        let p = BinlogPosition::new(file.clone(), pos);
        let text = p.to_string();
        prop_assert_eq!(text.parse::<BinlogPosition>().unwrap(), p.clone());
        prop_assert_eq!(text.parse::<StartPosition>().unwrap(), StartPosition::At(p));
    }

    #[test]
    fn gtid_sets_round_trip(text in prop_oneof![mariadb_gtid(), mysql_gtid()]) {
        let g: GtidSet = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        prop_assert_eq!(g.to_string(), text.clone());
        prop_assert_eq!(g.to_string().parse::<GtidSet>().unwrap(), g.clone());
        prop_assert_eq!(text.parse::<StartPosition>().unwrap(), StartPosition::Gtid(g));
    }

    #[test]
    fn arbitrary_text_never_panics_and_what_parses_prints_back(s in ".{0,80}") {
        if let Ok(p) = s.parse::<BinlogPosition>() {
            prop_assert_eq!(p.to_string().parse::<BinlogPosition>().unwrap(), p.clone());
            prop_assert!(p.pos >= 4);
        }
        if let Ok(g) = s.parse::<GtidSet>() {
            prop_assert_eq!(g.to_string().parse::<GtidSet>().unwrap(), g);
        }
        let _ = s.parse::<StartPosition>();
    }

    #[test]
    fn structured_garbage_never_panics(s in "[0-9a-f:,.-]{0,60}") {
        let _ = s.parse::<BinlogPosition>();
        let _ = s.parse::<GtidSet>();
        let _ = s.parse::<StartPosition>();
    }

    #[test]
    fn checkpoints_round_trip_through_json(file in file_name(), pos in 4u64..u64::MAX, gtid in prop::option::of(mariadb_gtid()), server_id: u32, ts_ms: i64) {
        let gtid_set = gtid.map(|g| g.parse::<GtidSet>().unwrap());
        let cp = Checkpoint::at(BinlogPosition::new(file, pos), gtid_set, server_id, ts_ms);
        let json = serde_json::to_vec(&cp).unwrap();
        prop_assert_eq!(serde_json::from_slice::<Checkpoint>(&json).unwrap(), cp);
    }
}
