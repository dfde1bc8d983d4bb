//! The JSON documents of the DataHub calls the producer and test readers use: GetProject,
//! GetTopic, ListShard, PutRecords results, GetCursor, GetRecords (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)
//! §3), CreateTopic's request ([`NewTopic`]), plus [`BlobRecord`], the record the producer writes.

use std::collections::BTreeMap;

use serde::Deserialize;

/// GetProject answer (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectInfo {
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// Creation time, epoch seconds.
    #[serde(default)]
    pub create_time: i64,
    /// Last modification time, epoch seconds.
    #[serde(default)]
    pub last_modify_time: i64,
}

/// GetTopic answer (§3.2); unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicInfo {
    /// `"TUPLE"` or `"BLOB"`.
    pub record_type: String,
    /// Number of shards.
    #[serde(default)]
    pub shard_count: u32,
    /// Retention, days.
    #[serde(default)]
    pub lifecycle: u32,
    /// TUPLE schema as a JSON string; absent for BLOB.
    #[serde(default)]
    pub record_schema: Option<String>,
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// `""`, `"split"` or `"extend"`.
    #[serde(default)]
    pub expand_mode: String,
}

impl TopicInfo {
    /// True for a BLOB topic.
    pub fn is_blob(&self) -> bool {
        self.record_type.eq_ignore_ascii_case("BLOB")
    }
}

/// A shard's state (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ShardState {
    /// Being created or failing over: unusable.
    Opening,
    /// Readable and writable.
    Active,
    /// Being closed.
    Closing,
    /// Read-only: split or merged.
    Closed,
    /// Any other value (e.g. Java's INACTIVE).
    #[serde(other)]
    Unknown,
}

/// One shard of ListShard (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardInfo {
    /// Decimal shard id, e.g. `"0"`.
    pub shard_id: String,
    /// State.
    pub state: ShardState,
    /// First hash key of the range (inclusive), 32 upper-case hex digits.
    #[serde(default)]
    pub begin_hash_key: String,
    /// End of the range (exclusive; the last shard ends at `FFFF…F`).
    #[serde(default)]
    pub end_hash_key: String,
    /// Shards this one was split or merged from.
    #[serde(default)]
    pub parent_shard_ids: Vec<String>,
    /// When the shard was closed, 0 when open.
    #[serde(default)]
    pub closed_time: i64,
}

/// ListShard answer (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardList {
    /// The shards, every state.
    pub shards: Vec<ShardInfo>,
    /// e.g. `"http1.1"`.
    #[serde(default)]
    pub protocol: String,
    /// Suggested refresh interval, ms.
    #[serde(default)]
    pub interval: i64,
}

/// One failed record of a JSON PutRecords answer (§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedRecord {
    /// 0-based position in the request's `Records`.
    pub index: usize,
    /// Per-record `ErrorCode`.
    pub error_code: String,
    /// Per-record message.
    #[serde(default)]
    pub error_message: String,
}

/// JSON PutRecords answer (§3.4): the records at `failed_records[].index` were not written,
/// every other one was.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsResult {
    /// Number of failed records.
    #[serde(default)]
    pub failed_record_count: usize,
    /// The failed records.
    #[serde(default)]
    pub failed_records: Vec<FailedRecord>,
}

impl PutRecordsResult {
    /// The failure with the smallest index, if any.
    pub fn first_failure(&self) -> Option<&FailedRecord> {
        self.failed_records.iter().min_by_key(|f| f.index)
    }
}

/// A BLOB record: bytes plus string attributes (§7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlobRecord {
    /// The payload.
    pub data: Vec<u8>,
    /// Attributes (string → string).
    pub attributes: BTreeMap<String, String>,
}

/// GetCursor types (§3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorType {
    /// The oldest retained record.
    Oldest,
    /// The newest record.
    Latest,
    /// The record with this sequence.
    Sequence(i64),
    /// The first record received at or after this time, epoch ms.
    SystemTime(i64),
}

/// GetCursor answer (§3.6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CursorInfo {
    /// Opaque cursor.
    pub cursor: String,
    /// System time of the record, ms.
    #[serde(default)]
    pub record_time: i64,
    /// Sequence of the record.
    #[serde(default)]
    pub sequence: i64,
}

/// One BLOB record read with GetRecords (§3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlobRecord {
    /// Per-shard sequence.
    pub sequence: i64,
    /// Ingestion time, ms.
    pub system_time: i64,
    /// Decoded payload.
    pub data: Vec<u8>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
}

/// JSON GetRecords answer for a BLOB topic (§3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecords {
    /// Cursor of the next read.
    pub next_cursor: String,
    /// Sequence of the first record.
    pub start_seq: i64,
    /// The records.
    pub records: Vec<ReadBlobRecord>,
}

/// A topic to create with CreateTopic (§3.2), for [`super::DataHubClient::create_topic`].
/// The service checks the values (DataHub Limits page: 1–256 shards, lifecycle 1–7 days, topic and
/// field names 1–128 characters, `system_time` reserved) and answers `InvalidParameter` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Shards at creation, 1–256.
    pub shard_count: u32,
    /// Retention in days, 1–7.
    pub lifecycle_days: u32,
    /// BLOB, or TUPLE with its fields.
    pub record_type: NewRecordType,
    /// Free text (Go's client insists on one, under 1024 characters; the service does not).
    pub comment: String,
}

/// The record type of a [`NewTopic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewRecordType {
    /// Raw bytes per record.
    Blob,
    /// Typed columns, in record order (at least one).
    Tuple(Vec<NewField>),
}

/// One field of a TUPLE [`NewTopic`] (§8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewField {
    /// Field name, 1–128 characters, not `system_time`.
    pub name: String,
    /// The DataHub type name (`BIGINT`, `STRING`, …, as `tuple::FieldType::as_str` spells them;
    /// sent upper-case).
    pub type_name: String,
    /// True when NULL is refused (`notnull`).
    pub not_null: bool,
    /// Free text; empty = none.
    pub comment: String,
}

impl NewField {
    /// A nullable field without a comment.
    pub fn new(name: &str, type_name: &str) -> Self {
        Self { name: name.to_owned(), type_name: type_name.to_owned(), not_null: false, comment: String::new() }
    }
}

impl NewTopic {
    /// The CreateTopic JSON body: `ShardCount`, `Lifecycle`, `RecordType`, `Comment` and, for
    /// TUPLE, `RecordSchema` as a JSON **string** `{"fields":[{"name","type","notnull"?,"comment"?}]}`
    /// with upper-case type names (GetTopic's spelling; Go rejects lower case), `notnull` only
    /// when true and `comment` only when set (§3.2, §8).
    pub(crate) fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "ShardCount": self.shard_count,
            "Lifecycle": self.lifecycle_days,
            "Comment": self.comment,
        });
        match &self.record_type {
            NewRecordType::Blob => body["RecordType"] = "BLOB".into(),
            NewRecordType::Tuple(fields) => {
                let fields: Vec<serde_json::Value> = fields
                    .iter()
                    .map(|f| {
                        let mut o = serde_json::json!({"name": f.name, "type": f.type_name.to_ascii_uppercase()});
                        if f.not_null {
                            o["notnull"] = true.into();
                        }
                        if !f.comment.is_empty() {
                            o["comment"] = f.comment.clone().into();
                        }
                        o
                    })
                    .collect();
                body["RecordType"] = "TUPLE".into();
                body["RecordSchema"] = serde_json::json!({ "fields": fields }).to_string().into();
            }
        }
        body
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawGetRecords {
    pub(crate) next_cursor: String,
    #[serde(default)]
    pub(crate) start_seq: i64,
    #[serde(default)]
    pub(crate) records: Vec<RawRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawRecord {
    #[serde(default)]
    pub(crate) sequence: i64,
    #[serde(default)]
    pub(crate) system_time: i64,
    pub(crate) data: serde_json::Value,
    #[serde(default)]
    pub(crate) attributes: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fixture_shapes() {
        let s: ShardList = serde_json::from_str(
            r#"{"Protocol":"http1.1","Interval":300000,"Shards":[{"ShardId":"0","State":"ACTIVE","ClosedTime":0,
            "BeginHashKey":"00000000000000000000000000000000","EndHashKey":"55555555555555555555555555555555",
            "ParentShardIds":[],"LeftShardId":"4294967295","RightShardId":"1"},{"ShardId":"1","State":"INACTIVE"}]}"#,
        )
        .unwrap();
        assert_eq!(s.shards[0].state, ShardState::Active);
        assert_eq!(s.shards[1].state, ShardState::Unknown);
        let t: TopicInfo =
            serde_json::from_str(r#"{"RecordType":"BLOB","ShardCount":3,"Lifecycle":7,"Extra":1}"#).unwrap();
        assert!(t.is_blob());
        let r: PutRecordsResult = serde_json::from_str(
            r#"{"FailedRecordCount":2,"FailedRecords":[{"Index":3,"ErrorCode":"LimitExceeded","ErrorMessage":"x"},{"Index":1,"ErrorCode":"LimitExceeded","ErrorMessage":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(r.first_failure().unwrap().index, 1);
    }

    #[test]
    fn create_topic_body_has_the_schema_as_a_string() {
        let blob =
            NewTopic { shard_count: 2, lifecycle_days: 3, record_type: NewRecordType::Blob, comment: "c".into() };
        assert_eq!(blob.body(), serde_json::json!({"ShardCount":2,"Lifecycle":3,"RecordType":"BLOB","Comment":"c"}));
        let mut id = NewField::new("id", "bigint");
        id.not_null = true;
        id.comment = "key".into();
        let tuple = NewTopic {
            shard_count: 1,
            lifecycle_days: 7,
            record_type: NewRecordType::Tuple(vec![id, NewField::new("v", "STRING")]),
            comment: String::new(),
        };
        let body = tuple.body();
        assert_eq!(body["RecordType"], "TUPLE");
        let schema: serde_json::Value = serde_json::from_str(body["RecordSchema"].as_str().unwrap()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({"fields":[{"name":"id","type":"BIGINT","notnull":true,"comment":"key"},
                                         {"name":"v","type":"STRING"}]})
        );
    }
}
