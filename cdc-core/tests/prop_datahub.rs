//! Property tests of DataHub response parsing (`cdc_core::datahub`): the JSON response models
//! (ListShard, PutRecords, GetTopic, GetCursor, error bodies through `ErrorCode::parse`), the
//! DHUB protobuf frame and the PB `PutRecordsResponse` never panic on arbitrary bytes, and a
//! frame round-trips.

use cdc_core::datahub::error::ErrorCode;
use cdc_core::datahub::model::{CursorInfo, PutRecordsResult, ShardList, TopicInfo};
use cdc_core::datahub::pb;
use proptest::prelude::*;
use prost::Message as _;

/// JSON-ish bytes: fragments of real responses glued at random, so the parser gets far.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let parts = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"Shards\"",
        "\"ShardId\"",
        "\"State\"",
        "\"ACTIVE\"",
        "\"CLOSED\"",
        "\"BeginHashKey\"",
        "\"EndHashKey\"",
        "\"FailedRecordCount\"",
        "\"FailedRecords\"",
        "\"Index\"",
        "\"ErrorCode\"",
        "\"ErrorMessage\"",
        "\"RecordType\"",
        "\"BLOB\"",
        "\"Cursor\"",
        "\"Sequence\"",
        "\"RecordTime\"",
        "0",
        "-1",
        "1e400",
        "18446744073709551616",
        "null",
        "true",
        "\"\\u0000\"",
        "\"\\ud800\"",
    ]);
    prop::collection::vec(parts, 0..40).prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #[test]
    fn json_models_never_panic(body in prop_oneof![jsonish(), prop::collection::vec(any::<u8>(), 0..256)]) {
        let _ = serde_json::from_slice::<ShardList>(&body);
        let _ = serde_json::from_slice::<PutRecordsResult>(&body);
        let _ = serde_json::from_slice::<TopicInfo>(&body);
        let _ = serde_json::from_slice::<CursorInfo>(&body);
        if let Ok(r) = serde_json::from_slice::<PutRecordsResult>(&body) {
            let _ = r.first_failure();
        }
    }

    #[test]
    fn error_codes_parse_any_text(code in ".{0,40}") {
        let c = ErrorCode::parse(&code);
        let _ = c.class();
        prop_assert_eq!(ErrorCode::parse(c.as_str()), c);
    }

    #[test]
    fn frames_never_panic_and_round_trip(body in prop::collection::vec(any::<u8>(), 0..300), payload in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = pb::unframe(&body) {
            let _ = pb::PutRecordsResponse::decode(p);
        }
        let _ = pb::PutRecordsResponse::decode(&body[..]);
        let framed = pb::frame(&payload);
        prop_assert_eq!(pb::unframe(&framed).unwrap(), &payload[..]);
        // A frame with one payload byte changed fails its CRC.
        if !payload.is_empty() {
            let mut bad = framed.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x01;
            prop_assert!(pb::unframe(&bad).is_err());
        }
    }
}
