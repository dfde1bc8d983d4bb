//! The emulator's data model, a leaf that imports nothing from the crate: projects, topics,
//! schemas and field types as configured or created, stored records and shard descriptions, as the
//! DataHub API names them (`datahub-protocol.md` §3, §7, §8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A project (GetProject: `Comment`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// Project name, `^[a-zA-Z][a-zA-Z0-9_]*$`, 3–32 characters (case-insensitive on lookup).
    pub name: String,
    /// Free text returned as `Comment`.
    #[serde(default)]
    pub comment: String,
    /// The project's topics.
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
}

/// A topic (GetTopic: `ShardCount`, `RecordType`, `RecordSchema`, `Lifecycle`, `Comment`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Topic name, `^[a-zA-Z][a-zA-Z0-9_]*$`, 1–128 characters (case-insensitive on lookup).
    pub name: String,
    /// Number of shards at creation, 1–256; ids are `"0"`, `"1"`, …
    pub shard_count: u32,
    /// BLOB or TUPLE with its schema.
    pub record_type: RecordType,
    /// Retention in days (1–7); reported only, records never expire in the emulator.
    #[serde(default = "default_lifecycle")]
    pub lifecycle: u32,
    /// Free text returned as `Comment`.
    #[serde(default)]
    pub comment: String,
}

fn default_lifecycle() -> u32 {
    7
}

impl TopicSpec {
    /// A BLOB topic with `shards` shards, lifecycle 7.
    pub fn blob(name: &str, shards: u32) -> Self {
        Self {
            name: name.to_owned(),
            shard_count: shards,
            record_type: RecordType::Blob,
            lifecycle: 7,
            comment: "blob topic".to_owned(),
        }
    }

    /// A TUPLE topic with `shards` shards and the given fields, lifecycle 7.
    pub fn tuple(name: &str, shards: u32, fields: Vec<Field>) -> Self {
        Self {
            name: name.to_owned(),
            shard_count: shards,
            record_type: RecordType::Tuple(RecordSchema { fields }),
            lifecycle: 7,
            comment: "tuple topic".to_owned(),
        }
    }
}

/// The topic's record type (GetTopic `RecordType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum RecordType {
    /// Raw bytes per record.
    Blob,
    /// Typed columns; the schema is returned by GetTopic as `RecordSchema` (a JSON string).
    Tuple(RecordSchema),
}

/// A TUPLE schema: `{"fields":[{"name","type","notnull","comment"}]}` (datahub-protocol §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RecordSchema {
    /// Columns in order.
    pub fields: Vec<Field>,
}

/// One TUPLE column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Column name (1–128 characters; `system_time` is reserved).
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// True when null is refused (`notnull` in the schema JSON; default false = nullable).
    #[serde(default, rename = "notnull")]
    pub not_null: bool,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

impl Field {
    /// A nullable column.
    pub fn new(name: &str, field_type: FieldType) -> Self {
        Self { name: name.to_owned(), field_type, not_null: false, comment: String::new() }
    }

    /// A NOT NULL column.
    pub fn not_null(name: &str, field_type: FieldType) -> Self {
        Self { not_null: true, ..Self::new(name, field_type) }
    }
}

/// TUPLE column types with their wire ranges: the collector's own definition (one model of
/// DataHub's field types for both sides; the ranges are checked in `validate`).
pub use cdc_core::datahub::tuple::FieldType;

/// The payload of a stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordData {
    /// BLOB topic: the raw bytes.
    Blob(Vec<u8>),
    /// TUPLE topic: one text value per schema field, in schema order, as it travelled on the
    /// wire (`None` = NULL).
    Tuple(Vec<Option<String>>),
}

/// A record as the emulator stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Per-shard sequence, from 0, +1 per record.
    pub sequence: i64,
    /// Server time of the write, epoch ms.
    pub system_time_ms: i64,
    /// The data.
    pub data: RecordData,
    /// Attributes, unchanged.
    pub attributes: BTreeMap<String, String>,
    /// The PartitionKey the writer sent, if any.
    pub partition_key: Option<String>,
    /// The HashKey the writer sent, if any.
    pub hash_key: Option<String>,
}

/// Shard states as ListShard reports them; only the four pydatahub knows (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ShardState {
    /// Being created, unusable.
    Opening,
    /// Readable and writable.
    Active,
    /// Being closed.
    Closing,
    /// Read-only (sealed, split or merged).
    Closed,
}

impl ShardState {
    /// The ListShard `State` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Opening => "OPENING",
            ShardState::Active => "ACTIVE",
            ShardState::Closing => "CLOSING",
            ShardState::Closed => "CLOSED",
        }
    }
}

/// One shard as ListShard describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// Decimal id, `"0"`, `"1"`, …
    pub shard_id: String,
    /// Current state.
    pub state: ShardState,
    /// Inclusive start of the hash-key range, 32 upper-case hex digits.
    pub begin_hash_key: String,
    /// Exclusive end of the range (the last shard ends at `FFFF…F`), 32 upper-case hex digits.
    pub end_hash_key: String,
    /// The shards this one was split from.
    pub parent_shard_ids: Vec<String>,
    /// When the shard was closed, epoch seconds; 0 while open.
    pub closed_time: i64,
}
