//! TUPLE topics: turning a [`ChangeEvent`] into typed TUPLE records laid out as an existing
//! Alibaba pipeline writes them, so downstream jobs need no change (README.md, "The event contract"
//! "In DataHub"). This module owns the topic schema ([`TupleSchema`], parsed from GetTopic's
//! `RecordSchema`, the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)), the layout detection ([`Layout`]),
//! the value conversions to the DataHub field types (§8) and the wire form of a TUPLE record
//! (PB `FieldData` per field, absent = NULL, §4.2; JSON `Data` array of strings / null, §3.4).
//!
//! # Layouts
//!
//! The layout is detected from the schema's leading field names (case-insensitive):
//!
//! * **DTS** (Data Transmission Service): `new_dts_sync_dts_record_id`,
//!   `new_dts_sync_dts_operation_flag`, `new_dts_sync_dts_instance_id`,
//!   `new_dts_sync_dts_db_name`, `new_dts_sync_dts_table_name`,
//!   `new_dts_sync_dts_utc_timestamp`, `new_dts_sync_dts_before_flag`,
//!   `new_dts_sync_dts_after_flag`, then the table's columns.
//! * **DataWorks** (real-time sync): `_sequence_id_`, `_operation_type_`, `_execute_time_`,
//!   `_before_image_`, `_after_image_`, then the columns.
//!
//! An INSERT (and a snapshot read) is one record with the after image (before flag `N`, after
//! flag `Y`); a DELETE one record with the before image (`Y`/`N`); an UPDATE two records, the
//! before image (`Y`/`N`) then the after image (`N`/`Y`), both with operation `U` and the same
//! record id. Operation flags: `I`, `U`, `D`.
//!
//! Metadata values:
//!
//! | field | value | types |
//! |---|---|---|
//! | record id / `_sequence_id_` | [`record_id`]: binlog file index · 10¹² + rows-event offset + row index | BIGINT, STRING (the same decimal digits) |
//! | instance id | the logical server name ([`crate::event::RowsEventInfo::name`]) | STRING |
//! | db / table name | `source.db`, `source.table` | STRING |
//! | DTS utc_timestamp | binlog event time: STRING and BIGINT in **seconds** (the binlog header's precision, as DTS writes it), TIMESTAMP in µs | STRING, BIGINT, TIMESTAMP |
//! | `_execute_time_` | binlog event time: BIGINT and STRING in **ms**, TIMESTAMP in µs | BIGINT, STRING, TIMESTAMP |
//!
//! # Columns
//!
//! The fields after the metadata are matched **by name**, case-insensitively, to the row image's
//! columns. Table columns the schema does not list are ignored (a topic may carry a subset of
//! the table). A schema field the row does not have is written as NULL when the field is
//! nullable; a NOT NULL field the row lacks (or whose value is NULL) is an error. The topic is
//! for one table: the collector must be filtered to that table, since rows of another table
//! would match by name only partially.
//!
//! Value conversions (contract [`Value`] → field type); every other pair is a
//! [`TupleError::Convert`], as is any value out of the field's range — nothing is truncated or
//! rounded:
//!
//! | field type | accepted values | text |
//! |---|---|---|
//! | BIGINT | Int, UInt, Bit ≤ i64::MAX (i64::MIN excluded, §8) | decimal |
//! | INTEGER / SMALLINT / TINYINT | Int, UInt, Bit within i32 / i16 / i8 | decimal |
//! | DOUBLE | Double; Float (its shortest f32 text, e.g. FLOAT 0.1 → `0.1`) | Rust shortest round-trip (`1.5`, `100000000000000000000`); NaN / ±inf as Java's `NaN`, `Infinity`, `-Infinity` |
//! | FLOAT | Float; Double only when exactly an f32 | as DOUBLE |
//! | BOOLEAN | Int, UInt, Bit equal to 0 or 1 (TINYINT(1), BIT(1)) | `false` / `true` |
//! | TIMESTAMP | Timestamp (µs); DateTime and Date read as **UTC** wall-clock (midnight for a date); years 0001–9999 | decimal µs since the Unix epoch |
//! | DECIMAL | Decimal (exact digits); Int, UInt, Bit | decimal text |
//! | STRING | every value, as its TUPLE text — String and Decimal as is, Date `YYYY-MM-DD`, DateTime `YYYY-MM-DD HH:MM:SS[.ffffff]`, Timestamp ISO `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC), Time `[-]HH:MM:SS[.ffffff]`, Bytes as standard base64, numbers as above, a JSON column's document text; at most 2 MB | |
//! | JSON | every value: a JSON column's document as is, numbers as JSON numbers, anything else as a JSON string of its STRING text | |
//!
//! Both layouts convert the columns alike; they differ only in the metadata fields above. The
//! texts are this module's own (`contract_text`), not the BLOB event's JSON: they stayed as they
//! were when event contract v2 ([`crate::event::CONTRACT_VERSION`]) changed the TIMESTAMP and
//! JSON texts of BLOB events, so TUPLE readers see no change. Every text is what datahub-protocol
//! §8 requires of its field type: decimal integers, `true`/`false`, µs for TIMESTAMP, plain
//! decimal for DECIMAL, shortest round-trip floats (accepted by inference, §8), valid JSON for
//! JSON.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use prost::Message as _;
use serde::Deserialize;

use crate::event::{ChangeEvent, Op, Row, Value};

use super::config::WriteProtocol;
use super::pb;
use super::record::EncodedRecord;

/// Largest STRING value: 2 MB (DataHub Limits page, datahub-protocol §8).
pub const MAX_STRING_BYTES: usize = 2 * 1024 * 1024;
/// Smallest TIMESTAMP, µs (0001-01-01T00:00:00Z, pydatahub's range, §8).
pub const TIMESTAMP_MIN_US: i64 = -62_135_798_400_000_000;
/// Largest TIMESTAMP, µs: pydatahub's bound (§8), which is 9999-12-31 23:59:59 in UTC+8, i.e.
/// the instant 9999-12-31T15:59:59Z (a DATETIME read as UTC after that instant is refused).
pub const TIMESTAMP_MAX_US: i64 = 253_402_271_999_000_000;
/// Multiplier of the binlog file index in [`record_id`]: offsets + row indexes stay below it.
pub const RECORD_ID_FILE_FACTOR: u64 = 1_000_000_000_000;

/// The DTS layout's leading fields, in order.
pub const DTS_FIELDS: [&str; 8] = [
    "new_dts_sync_dts_record_id",
    "new_dts_sync_dts_operation_flag",
    "new_dts_sync_dts_instance_id",
    "new_dts_sync_dts_db_name",
    "new_dts_sync_dts_table_name",
    "new_dts_sync_dts_utc_timestamp",
    "new_dts_sync_dts_before_flag",
    "new_dts_sync_dts_after_flag",
];

/// The DataWorks layout's leading fields, in order.
pub const DATAWORKS_FIELDS: [&str; 5] =
    ["_sequence_id_", "_operation_type_", "_execute_time_", "_before_image_", "_after_image_"];

/// A TUPLE field type and the values it holds: DataHub's field types as its SDKs and the
/// `RecordSchema` JSON name them (upper case in JSON; [`FieldType::parse`] takes any case).
/// Shared by the producer and `datahub-emulator`, which checks values against these ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FieldType {
    /// int64 without i64::MIN, decimal text.
    Bigint,
    /// int32, decimal text.
    Integer,
    /// int16, decimal text.
    Smallint,
    /// int8, decimal text.
    Tinyint,
    /// f64 text (Python `1.5e+00`, Java `1.0E10`, Go `10.01`, `nan`, `inf` are all accepted).
    Double,
    /// f32 text, same spellings as DOUBLE.
    Float,
    /// `true` / `false` (any case) or `1` / `0`.
    Boolean,
    /// Microseconds since the Unix epoch, years 0001–9999.
    Timestamp,
    /// UTF-8 text, at most 2 MB.
    String,
    /// Arbitrary-precision decimal text.
    Decimal,
    /// A JSON document (Go SDK only).
    Json,
}

impl FieldType {
    /// Parses a type name, case-insensitively (pydatahub writes lower case, Go upper case).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "BIGINT" => Self::Bigint,
            "INTEGER" => Self::Integer,
            "SMALLINT" => Self::Smallint,
            "TINYINT" => Self::Tinyint,
            "DOUBLE" => Self::Double,
            "FLOAT" => Self::Float,
            "BOOLEAN" => Self::Boolean,
            "TIMESTAMP" => Self::Timestamp,
            "STRING" => Self::String,
            "DECIMAL" => Self::Decimal,
            "JSON" => Self::Json,
            _ => return None,
        })
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bigint => "BIGINT",
            Self::Integer => "INTEGER",
            Self::Smallint => "SMALLINT",
            Self::Tinyint => "TINYINT",
            Self::Double => "DOUBLE",
            Self::Float => "FLOAT",
            Self::Boolean => "BOOLEAN",
            Self::Timestamp => "TIMESTAMP",
            Self::String => "STRING",
            Self::Decimal => "DECIMAL",
            Self::Json => "JSON",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One schema field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleField {
    /// Field name as the schema spells it.
    pub name: String,
    /// Type.
    pub field_type: FieldType,
    /// True when NULL is refused (`notnull`; default false).
    pub not_null: bool,
}

/// A TUPLE topic schema: GetTopic's `RecordSchema` (§3.2, a JSON string
/// `{"fields":[{"name","type","notnull","comment"}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleSchema {
    /// The fields, in record order.
    pub fields: Vec<TupleField>,
}

impl TupleSchema {
    /// Parses the `RecordSchema` JSON string. Errors: [`TupleError::Schema`] for bad JSON, no
    /// field, or an unknown type.
    pub fn parse(json: &str) -> Result<Self, TupleError> {
        #[derive(Deserialize)]
        struct Raw {
            fields: Vec<RawField>,
        }
        #[derive(Deserialize)]
        struct RawField {
            name: String,
            #[serde(rename = "type")]
            field_type: String,
            #[serde(default)]
            notnull: bool,
        }
        let raw: Raw =
            serde_json::from_str(json).map_err(|e| TupleError::Schema(format!("RecordSchema is not valid: {e}")))?;
        if raw.fields.is_empty() {
            return Err(TupleError::Schema("RecordSchema has no field".into()));
        }
        let fields = raw
            .fields
            .into_iter()
            .map(|f| {
                let field_type = FieldType::parse(&f.field_type).ok_or_else(|| {
                    TupleError::Schema(format!("field {} has unknown type {:?}", f.name, f.field_type))
                })?;
                Ok(TupleField { name: f.name, field_type, not_null: f.notnull })
            })
            .collect::<Result<_, TupleError>>()?;
        Ok(Self { fields })
    }
}

/// The record layout of a TUPLE topic, detected from its leading field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// DTS: [`DTS_FIELDS`], then the columns.
    Dts,
    /// DataWorks real-time sync: [`DATAWORKS_FIELDS`], then the columns.
    DataWorks,
    /// The table's columns only, no metadata fields. Never detected (any schema could be one):
    /// chosen by configuration ([`TupleEncoder::with_layout`]).
    Plain,
}

impl Layout {
    /// The layout whose leading fields `schema` starts with (names compared
    /// case-insensitively), with the metadata fields' types checked. Errors:
    /// [`TupleError::Schema`] naming what is missing or mistyped.
    pub fn detect(schema: &TupleSchema) -> Result<Self, TupleError> {
        let starts_with = |names: &[&str]| {
            schema.fields.len() >= names.len()
                && schema.fields.iter().zip(names).all(|(f, n)| f.name.eq_ignore_ascii_case(n))
        };
        let layout = if starts_with(&DTS_FIELDS) {
            Layout::Dts
        } else if starts_with(&DATAWORKS_FIELDS) {
            Layout::DataWorks
        } else {
            let first: Vec<&str> = schema.fields.iter().take(3).map(|f| f.name.as_str()).collect();
            return Err(TupleError::Schema(format!(
                "the schema follows neither the DTS layout (new_dts_sync_dts_record_id, …) nor the DataWorks \
                 layout (_sequence_id_, …); it starts with {first:?}"
            )));
        };
        use FieldType as T;
        let allowed: &[&[FieldType]] = match layout {
            Layout::Dts => &[
                &[T::String, T::Bigint],
                &[T::String],
                &[T::String],
                &[T::String],
                &[T::String],
                &[T::String, T::Bigint, T::Timestamp],
                &[T::String],
                &[T::String],
            ],
            Layout::DataWorks => &[
                &[T::String, T::Bigint],
                &[T::String],
                &[T::Bigint, T::String, T::Timestamp],
                &[T::String],
                &[T::String],
            ],
            Layout::Plain => &[],
        };
        for (f, ok) in schema.fields.iter().zip(allowed) {
            if !ok.contains(&f.field_type) {
                let names: Vec<&str> = ok.iter().map(|t| t.as_str()).collect();
                return Err(TupleError::Schema(format!(
                    "metadata field {} has type {}; the {layout} layout needs {}",
                    f.name,
                    f.field_type,
                    names.join(" or ")
                )));
            }
        }
        Ok(layout)
    }

    /// Number of leading metadata fields.
    pub fn meta_fields(self) -> usize {
        match self {
            Layout::Dts => DTS_FIELDS.len(),
            Layout::DataWorks => DATAWORKS_FIELDS.len(),
            Layout::Plain => 0,
        }
    }

    /// The metadata fields a created topic of this layout gets, with the types DTS and
    /// DataWorks give them: every DTS field STRING; DataWorks `_sequence_id_` and
    /// `_execute_time_` BIGINT, the rest STRING; none for [`Layout::Plain`].
    pub fn meta_schema(self) -> Vec<TupleField> {
        let field = |name: &str, field_type| TupleField { name: name.to_owned(), field_type, not_null: false };
        match self {
            Layout::Dts => DTS_FIELDS.iter().map(|n| field(n, FieldType::String)).collect(),
            Layout::DataWorks => DATAWORKS_FIELDS
                .iter()
                .map(|n| {
                    let t = if matches!(*n, "_sequence_id_" | "_execute_time_") {
                        FieldType::Bigint
                    } else {
                        FieldType::String
                    };
                    field(n, t)
                })
                .collect(),
            Layout::Plain => Vec::new(),
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;

    /// `dts`, `dataworks` or `plain`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "dts" => Ok(Layout::Dts),
            "dataworks" => Ok(Layout::DataWorks),
            "plain" => Ok(Layout::Plain),
            _ => Err(format!("`{s}` is not a TUPLE layout (dts, dataworks or plain)")),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Dts => "DTS",
            Layout::DataWorks => "DataWorks",
            Layout::Plain => "plain",
        })
    }
}

/// Why an event cannot become TUPLE records. Every variant is fatal: the event is wrong for
/// the topic, retrying cannot help (DataHub would answer `MalformedRecord`, §9.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TupleError {
    /// The topic schema is unusable (bad JSON, unknown type, unknown layout).
    #[error("TUPLE schema: {0}")]
    Schema(String),
    /// A column value does not fit its field.
    #[error("{db}.{table}.{column}: {problem} (TUPLE field type {field_type})")]
    Convert {
        /// Schema.
        db: String,
        /// Table.
        table: String,
        /// Column (the schema's field name).
        column: String,
        /// The field's type.
        field_type: FieldType,
        /// What is wrong, e.g. `UNSIGNED value 18446744073709551615 is out of range`.
        problem: String,
    },
    /// The metadata value cannot be written (e.g. a binlog file name without a numeric index).
    #[error("{db}.{table}: metadata field {field}: {problem}")]
    Meta {
        /// Schema.
        db: String,
        /// Table.
        table: String,
        /// Metadata field name.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// One TUPLE record: a value per schema field (`None` = NULL) and the attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleRecord {
    /// Text of each field, in schema order (§8 text forms).
    pub values: Vec<Option<String>>,
    /// Attributes `op`, `db`, `table` (as for BLOB records).
    pub attributes: BTreeMap<String, String>,
}

impl TupleRecord {
    /// The wire form for `protocol` (as an encoded record of the producer carries it): PB `RecordEntry` bytes with
    /// one `FieldData` per field (NULL = no `value`), or the JSON members
    /// `"Data":[…],"Attributes":{…}`.
    pub fn wire(&self, protocol: WriteProtocol) -> Vec<u8> {
        match protocol {
            WriteProtocol::PbByShard => pb::RecordEntry {
                attributes: (!self.attributes.is_empty()).then(|| pb::RecordAttributes {
                    attributes: self
                        .attributes
                        .iter()
                        .map(|(k, v)| pb::StringPair { key: k.clone(), value: v.clone() })
                        .collect(),
                }),
                data: pb::RecordData {
                    data: self
                        .values
                        .iter()
                        .map(|v| pb::FieldData { value: v.as_ref().map(|s| s.as_bytes().to_vec()) })
                        .collect(),
                },
                ..Default::default()
            }
            .encode_to_vec(),
            WriteProtocol::JsonPutRecords => {
                let mut out = Vec::with_capacity(64 + self.payload_bytes());
                out.extend_from_slice(b"\"Data\":");
                serde_json::to_writer(&mut out, &self.values).expect("strings serialize");
                out.extend_from_slice(b",\"Attributes\":");
                serde_json::to_writer(&mut out, &self.attributes).expect("string map serializes");
                out
            }
        }
    }

    /// Bytes of the values' text (NULLs count 0).
    pub fn payload_bytes(&self) -> usize {
        self.values.iter().map(|v| v.as_ref().map_or(0, String::len)).sum()
    }
}

/// Encodes change events for one TUPLE topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleEncoder {
    schema: TupleSchema,
    layout: Layout,
}

impl TupleEncoder {
    /// An encoder for `schema`, whose layout is detected ([`Layout::detect`]).
    pub fn new(schema: TupleSchema) -> Result<Self, TupleError> {
        let layout = Layout::detect(&schema)?;
        Ok(Self { schema, layout })
    }

    /// An encoder for `schema` written in `layout`: for DTS and DataWorks the schema must be in
    /// that layout ([`Layout::detect`]); for [`Layout::Plain`] every field is a column and the
    /// schema must not be in another known layout (that would write metadata as columns).
    ///
    /// Errors: [`TupleError::Schema`] naming the layout found and the one asked for.
    pub fn with_layout(schema: TupleSchema, layout: Layout) -> Result<Self, TupleError> {
        match (Layout::detect(&schema), layout) {
            (Ok(found), want) if found == want => Ok(Self { schema, layout }),
            (Ok(found), want) => Err(TupleError::Schema(format!("the topic is in the {found} layout, not {want}"))),
            (Err(_), Layout::Plain) => Ok(Self { schema, layout }),
            (Err(e), _) => Err(e),
        }
    }

    /// An encoder for GetTopic's `RecordSchema` JSON string.
    pub fn from_record_schema(json: &str) -> Result<Self, TupleError> {
        Self::new(TupleSchema::parse(json)?)
    }

    /// The schema.
    pub fn schema(&self) -> &TupleSchema {
        &self.schema
    }

    /// The detected layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The records of `event`, in the order they must be written: one for an insert, read or
    /// delete, two (before image, then after image) for an update. Errors: the first
    /// [`TupleError`] (value out of range or of the wrong kind, NULL in a NOT NULL field, bad
    /// record id).
    pub fn records(&self, event: &ChangeEvent) -> Result<Vec<TupleRecord>, TupleError> {
        let mut attributes = BTreeMap::new();
        attributes.insert("db".to_owned(), event.source.db.to_string());
        attributes.insert("op".to_owned(), event.op.code().to_owned());
        attributes.insert("table".to_owned(), event.source.table.to_string());
        let images: Vec<(&Row, bool)> = match event.op {
            Op::Create | Op::Read => event.after.iter().map(|r| (r, false)).collect(),
            Op::Delete => event.before.iter().map(|r| (r, true)).collect(),
            Op::Update => {
                event.before.iter().map(|r| (r, true)).chain(event.after.iter().map(|r| (r, false))).collect()
            }
        };
        if images.is_empty() {
            return Err(self.meta_error(event, "row image", "the event has no row image for its operation"));
        }
        images
            .into_iter()
            .map(|(row, is_before)| {
                let mut values = self.meta_values(event, is_before)?;
                values.reserve(self.schema.fields.len() - values.len());
                for f in &self.schema.fields[self.layout.meta_fields()..] {
                    values.push(column_value(event, row, f)?);
                }
                Ok(TupleRecord { values, attributes: attributes.clone() })
            })
            .collect()
    }

    /// [`Self::records`] encoded for `protocol`, each with the event's batch `index` and routing
    /// hash; the last record of the event counts the event as delivered
    /// ([`EncodedRecord::events`] = 1, the first of an update's two 0).
    pub(crate) fn encode_event(
        &self,
        index: usize,
        event: &ChangeEvent,
        protocol: WriteProtocol,
    ) -> Result<Vec<EncodedRecord>, TupleError> {
        let records = self.records(event)?;
        let hash = super::routing::hash_key(&event.partition_key());
        let last = records.len() - 1;
        Ok(records
            .iter()
            .enumerate()
            .map(|(i, r)| EncodedRecord {
                index,
                hash,
                payload_bytes: r.payload_bytes(),
                wire: r.wire(protocol),
                events: usize::from(i == last),
            })
            .collect())
    }

    fn meta_error(&self, event: &ChangeEvent, field: &str, problem: impl Into<String>) -> TupleError {
        TupleError::Meta {
            db: event.source.db.to_string(),
            table: event.source.table.to_string(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    fn meta_values(&self, event: &ChangeEvent, is_before: bool) -> Result<Vec<Option<String>>, TupleError> {
        let f = &self.schema.fields;
        let id = record_id(&event.source.file, event.source.pos, event.source.row)
            .map_err(|p| self.meta_error(event, &f[0].name, p))?;
        let op = match event.op {
            Op::Create | Op::Read => "I",
            Op::Update => "U",
            Op::Delete => "D",
        };
        let (before, after) = if is_before { ("Y", "N") } else { ("N", "Y") };
        let ts_ms = event.source.ts_ms;
        let time_text = |field: &TupleField, string_unit_ms: bool| -> String {
            match field.field_type {
                FieldType::Timestamp => ts_ms.saturating_mul(1000).to_string(),
                _ if string_unit_ms => ts_ms.to_string(),
                _ => ts_ms.div_euclid(1000).to_string(),
            }
        };
        Ok(match self.layout {
            Layout::Dts => vec![
                Some(id.to_string()),
                Some(op.to_owned()),
                Some(event.source.name.to_string()),
                Some(event.source.db.to_string()),
                Some(event.source.table.to_string()),
                Some(time_text(&f[5], false)),
                Some(before.to_owned()),
                Some(after.to_owned()),
            ],
            Layout::DataWorks => vec![
                Some(id.to_string()),
                Some(op.to_owned()),
                Some(time_text(&f[2], true)),
                Some(before.to_owned()),
                Some(after.to_owned()),
            ],
            Layout::Plain => Vec::new(),
        })
    }
}

/// The record id of a row change: `file_index · 10¹² + pos + row`, where `file_index` is the
/// binlog file's numeric extension (`binlog.000042` → 42), `pos` the start offset of the rows
/// event and `row` the row's index in it.
///
/// Unique and increasing in binlog order: a rows event of `n` rows is longer than `n` bytes
/// (every row image has at least a one-byte null bitmap), so `pos + row` stays below the next
/// event's offset. (Not guaranteed for MariaDB *compressed* rows events, which can hold more
/// rows than bytes.) Fits an i64 BIGINT for file indexes up to 9 223 371 (MySQL stops at
/// 999 999) and offsets below 10¹² (1 TB files).
///
/// Errors when the file has no numeric extension or `pos + row` reaches 10¹².
pub fn record_id(file: &str, pos: u64, row: u32) -> Result<i64, String> {
    let index: u64 = file
        .rsplit_once('.')
        .and_then(|(_, ext)| ext.parse().ok())
        .ok_or_else(|| format!("binlog file name {file:?} has no numeric index"))?;
    let offset = pos.checked_add(u64::from(row)).filter(|o| *o < RECORD_ID_FILE_FACTOR).ok_or_else(|| {
        format!("binlog offset {pos} + row {row} does not fit the record id (below {RECORD_ID_FILE_FACTOR})")
    })?;
    index
        .checked_mul(RECORD_ID_FILE_FACTOR)
        .and_then(|x| x.checked_add(offset))
        .and_then(|x| i64::try_from(x).ok())
        .ok_or_else(|| format!("binlog file index {index} is too large for a BIGINT record id"))
}

/// The value of schema field `f` for `row`: the column of the same name (case-insensitive),
/// converted; NULL when the row has no such column and the field is nullable.
fn column_value(event: &ChangeEvent, row: &Row, f: &TupleField) -> Result<Option<String>, TupleError> {
    let err = |problem: String| TupleError::Convert {
        db: event.source.db.to_string(),
        table: event.source.table.to_string(),
        column: f.name.clone(),
        field_type: f.field_type,
        problem,
    };
    let value = row
        .columns
        .iter()
        .position(|c| **c == *f.name)
        .or_else(|| row.columns.iter().position(|c| c.eq_ignore_ascii_case(&f.name)))
        .and_then(|i| row.values.get(i));
    let Some(value) = value else {
        return if f.not_null {
            Err(err("the row has no such column and the field is NOT NULL".into()))
        } else {
            Ok(None)
        };
    };
    match convert(value, f.field_type).map_err(err)? {
        None if f.not_null => Err(err("NULL value for a NOT NULL field".into())),
        v => Ok(v),
    }
}

/// A short description of `v` for error messages: its kind and, for numbers, dates and times, the value (never
/// the content of strings or bytes).
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => format!("integer value {i}"),
        Value::UInt(u) => format!("UNSIGNED integer value {u}"),
        Value::Bit(b) => format!("BIT value {b}"),
        Value::Float(x) => format!("FLOAT value {x}"),
        Value::Double(x) => format!("DOUBLE value {x}"),
        Value::Decimal(d) => format!("DECIMAL value {d}"),
        Value::Date(_) => format!("DATE value {}", contract_text(v)),
        Value::DateTime { .. } => format!("DATETIME value {}", contract_text(v)),
        Value::Timestamp { .. } => format!("TIMESTAMP value {}", contract_text(v)),
        Value::Time { .. } => format!("TIME value {}", contract_text(v)),
        Value::String(s) => format!("string value ({} bytes)", s.len()),
        Value::Bytes(b) => format!("binary value ({} bytes)", b.len()),
        Value::Json(_) => "JSON value".into(),
    }
}

/// Float text: Rust's shortest round-trip form; non-finite as Java spells them.
fn float_text(x: f64, shortest: impl fmt::Display) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        shortest.to_string()
    }
}

/// FLOAT text: the f32's shortest round-trip form, except near f32::MAX, where that text read
/// as a double exceeds f32::MAX (`3.4028235e38`): then the widened double's text, which reads
/// back as exactly the same f32 whether parsed as a float or as a double and range-checked.
fn f32_text(x: f32) -> String {
    let short = float_text(f64::from(x), x);
    match short.parse::<f64>() {
        Ok(d) if d.is_finite() && d.abs() > f64::from(f32::MAX) => float_text(f64::from(x), f64::from(x)),
        _ => short,
    }
}

/// The TUPLE text of a value for STRING and DECIMAL fields. Written here, not taken from the
/// BLOB contract's JSON ([`crate::event`]), so a new contract version does not change what a
/// TUPLE topic's readers get: DATE `YYYY-MM-DD`, DATETIME `YYYY-MM-DD HH:MM:SS[.f]`, TIMESTAMP
/// ISO `YYYY-MM-DDTHH:MM:SS[.f]Z` (UTC), TIME `[-]HH:MM:SS[.f]` (fractions to the column's
/// precision), bytes as standard base64, JSON as the document's text, numbers as
/// [`float_text`] / decimal.
fn contract_text(v: &Value) -> String {
    let fraction = |micros: u32, precision: u8| {
        if precision == 0 {
            String::new()
        } else {
            format!(".{:06}", micros)[..=usize::from(precision.min(6))].to_owned()
        }
    };
    match v {
        Value::Null => String::new(),
        Value::String(s) | Value::Decimal(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) | Value::Bit(u) => u.to_string(),
        Value::Float(x) => f32_text(*x),
        Value::Double(x) => float_text(*x, x),
        Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        Value::Json(j) => j.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::DateTime { value, precision } => format!(
            "{}{}",
            value.format("%Y-%m-%d %H:%M:%S"),
            fraction(value.and_utc().timestamp_subsec_micros(), *precision)
        ),
        Value::Timestamp { micros, precision } => match chrono::DateTime::from_timestamp_micros(*micros) {
            Some(t) => {
                format!("{}{}Z", t.format("%Y-%m-%dT%H:%M:%S"), fraction(t.timestamp_subsec_micros(), *precision))
            }
            None => String::new(),
        },
        Value::Time { negative, hours, minutes, seconds, micros, precision } => format!(
            "{}{hours:02}:{minutes:02}:{seconds:02}{}",
            if *negative { "-" } else { "" },
            fraction(*micros, *precision)
        ),
    }
}

/// The JSON text of a value for a JSON field: a JSON column's document as is, numbers as JSON
/// numbers (non-finite floats as `null`), everything else as a JSON string of its
/// [`contract_text`].
fn json_text(v: &Value) -> String {
    match v {
        Value::Json(j) => j.to_string(),
        Value::Int(_) | Value::UInt(_) | Value::Bit(_) | Value::Float(_) | Value::Double(_) => {
            serde_json::to_string(v).expect("numbers serialize")
        }
        other => serde_json::Value::String(contract_text(other)).to_string(),
    }
}

/// Converts one value to the text of `ty` (None = NULL), or says why it does not fit.
///
/// See the module docs for the accepted pairs. Errors name the value's kind (and, for numbers,
/// the value) and the reason.
pub fn convert(v: &Value, ty: FieldType) -> Result<Option<String>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let mismatch = || Err(format!("{} cannot be written as {ty}", describe(v)));
    let out_of_range = |range: &str| Err(format!("{} is out of range ({range})", describe(v)));
    let int: Option<i128> = match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) | Value::Bit(u) => Some(i128::from(*u)),
        _ => None,
    };
    let ranged = |lo: i128, hi: i128, range: &str| match int {
        Some(i) if (lo..=hi).contains(&i) => Ok(Some(i.to_string())),
        Some(_) => out_of_range(range),
        None => mismatch(),
    };
    match ty {
        FieldType::Bigint => {
            ranged(i128::from(i64::MIN) + 1, i128::from(i64::MAX), "-9223372036854775807..=9223372036854775807")
        }
        FieldType::Integer => ranged(i128::from(i32::MIN), i128::from(i32::MAX), "-2147483648..=2147483647"),
        FieldType::Smallint => ranged(i128::from(i16::MIN), i128::from(i16::MAX), "-32768..=32767"),
        FieldType::Tinyint => ranged(i128::from(i8::MIN), i128::from(i8::MAX), "-128..=127"),
        FieldType::Double => match v {
            Value::Double(x) => Ok(Some(float_text(*x, x))),
            Value::Float(x) => Ok(Some(f32_text(*x))),
            _ => mismatch(),
        },
        FieldType::Float => match v {
            Value::Float(x) => Ok(Some(f32_text(*x))),
            Value::Double(x) if x.is_nan() || f64::from(*x as f32) == *x => Ok(Some(float_text(*x, x))),
            Value::Double(_) => Err(format!("{} is not exactly representable as a FLOAT (f32)", describe(v))),
            _ => mismatch(),
        },
        FieldType::Boolean => match int {
            Some(0) => Ok(Some("false".into())),
            Some(1) => Ok(Some("true".into())),
            Some(_) => Err(format!("{} is neither 0 nor 1", describe(v))),
            None => mismatch(),
        },
        FieldType::Timestamp => {
            let micros = match v {
                Value::Timestamp { micros, .. } => *micros,
                Value::DateTime { value, .. } => value.and_utc().timestamp_micros(),
                Value::Date(d) => d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros(),
                _ => return mismatch(),
            };
            if (TIMESTAMP_MIN_US..=TIMESTAMP_MAX_US).contains(&micros) {
                Ok(Some(micros.to_string()))
            } else {
                out_of_range("years 0001..=9999")
            }
        }
        FieldType::Decimal => match v {
            Value::Decimal(d) => Ok(Some(d.to_string())),
            _ if int.is_some() => Ok(Some(contract_text(v))),
            _ => mismatch(),
        },
        FieldType::String => {
            let s = contract_text(v);
            if s.len() > MAX_STRING_BYTES {
                return Err(format!("{} is {} bytes as text, more than the 2 MB STRING limit", describe(v), s.len()));
            }
            Ok(Some(s))
        }
        FieldType::Json => Ok(Some(json_text(v))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{NaiveDate, NaiveDateTime};

    use super::*;
    use crate::event::{RowsEventInfo, SourceInfo};

    fn ok(v: Value, ty: FieldType) -> Option<String> {
        convert(&v, ty).unwrap_or_else(|e| panic!("{v:?} as {ty}: {e}"))
    }

    fn err(v: Value, ty: FieldType) -> String {
        convert(&v, ty).expect_err(&format!("{v:?} as {ty} must fail"))
    }

    #[test]
    fn integers_are_range_checked_per_type() {
        use FieldType::*;
        assert_eq!(ok(Value::Int(i64::MAX), Bigint).unwrap(), "9223372036854775807");
        assert_eq!(ok(Value::Int(-i64::MAX), Bigint).unwrap(), "-9223372036854775807");
        assert!(err(Value::Int(i64::MIN), Bigint).contains("out of range"));
        assert_eq!(ok(Value::UInt(i64::MAX as u64), Bigint).unwrap(), "9223372036854775807");
        let e = err(Value::UInt(u64::MAX), Bigint);
        assert!(e.contains("UNSIGNED integer value 18446744073709551615 is out of range"), "{e}");
        assert_eq!(ok(Value::Bit(0b1011), Bigint).unwrap(), "11");
        assert_eq!(ok(Value::Int(i32::MIN.into()), Integer).unwrap(), "-2147483648");
        assert!(err(Value::Int(i64::from(i32::MAX) + 1), Integer).contains("out of range"));
        assert_eq!(ok(Value::UInt(32767), Smallint).unwrap(), "32767");
        assert!(err(Value::UInt(32768), Smallint).contains("-32768..=32767"));
        assert_eq!(ok(Value::Int(-128), Tinyint).unwrap(), "-128");
        assert!(err(Value::Int(128), Tinyint).contains("out of range"));
        assert!(err(Value::String("12".into()), Bigint).contains("cannot be written as BIGINT"));
        assert!(err(Value::Decimal("1".into()), Integer).contains("cannot be written as INTEGER"));
        assert!(err(Value::Double(1.0), Bigint).contains("cannot be written"));
    }

    #[test]
    fn floats_booleans_decimals() {
        use FieldType::*;
        assert_eq!(ok(Value::Double(1.5), Double).unwrap(), "1.5");
        assert_eq!(ok(Value::Double(1e20), Double).unwrap(), "100000000000000000000");
        assert_eq!(ok(Value::Double(0.1), Double).unwrap(), "0.1");
        assert_eq!(ok(Value::Float(0.1), Double).unwrap(), "0.1", "FLOAT's own shortest text, not 0.10000000149…");
        assert_eq!(ok(Value::Double(f64::NAN), Double).unwrap(), "NaN");
        assert_eq!(ok(Value::Double(f64::NEG_INFINITY), Double).unwrap(), "-Infinity");
        assert_eq!(ok(Value::Float(-2.25), Float).unwrap(), "-2.25");
        // f32::MAX's shortest text (3.4028235e38) read as a double is above f32::MAX.
        let max = ok(Value::Float(f32::MAX), Float).unwrap();
        assert_eq!(max.parse::<f64>().unwrap(), f64::from(f32::MAX));
        assert_eq!(max.parse::<f32>().unwrap(), f32::MAX);
        assert_eq!(ok(Value::Float(f32::MIN), Double).unwrap().parse::<f64>().unwrap(), f64::from(f32::MIN));
        assert_eq!(ok(Value::Double(0.5), Float).unwrap(), "0.5");
        assert!(err(Value::Double(0.1), Float).contains("not exactly representable"));
        assert!(err(Value::Int(1), Double).contains("cannot be written as DOUBLE"));
        for (text, parsed) in [("1.5", 1.5f64), ("100000000000000000000", 1e20)] {
            assert_eq!(text.parse::<f64>().unwrap(), parsed, "round trip");
        }
        assert_eq!(ok(Value::Int(1), Boolean).unwrap(), "true");
        assert_eq!(ok(Value::UInt(0), Boolean).unwrap(), "false");
        assert_eq!(ok(Value::Bit(1), Boolean).unwrap(), "true");
        assert!(err(Value::Int(2), Boolean).contains("neither 0 nor 1"));
        assert!(err(Value::String("true".into()), Boolean).contains("cannot be written as BOOLEAN"));
        assert_eq!(ok(Value::Decimal("-12.340000".into()), Decimal).unwrap(), "-12.340000");
        assert_eq!(ok(Value::UInt(u64::MAX), Decimal).unwrap(), "18446744073709551615");
        assert!(err(Value::Double(1.5), Decimal).contains("cannot be written as DECIMAL"));
    }

    #[test]
    fn times_strings_json_and_null() {
        use FieldType::*;
        let dt = NaiveDateTime::parse_from_str("2024-02-29 23:59:58.123456", "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(ok(Value::DateTime { value: dt, precision: 6 }, Timestamp).unwrap(), "1709251198123456");
        assert_eq!(ok(Value::DateTime { value: dt, precision: 3 }, String).unwrap(), "2024-02-29 23:59:58.123");
        let d = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        assert_eq!(ok(Value::Date(d), Timestamp).unwrap(), "86400000000");
        assert_eq!(ok(Value::Date(d), String).unwrap(), "1970-01-02");
        let ts = Value::Timestamp { micros: 1_455_869_335_000_001, precision: 6 };
        assert_eq!(ok(ts.clone(), Timestamp).unwrap(), "1455869335000001");
        assert_eq!(ok(ts, String).unwrap(), "2016-02-19T08:08:55.000001Z");
        let far = Value::Timestamp { micros: TIMESTAMP_MAX_US + 1, precision: 0 };
        assert!(err(far, Timestamp).contains("years 0001..=9999"));
        let time = Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 0, precision: 0 };
        assert_eq!(ok(time.clone(), String).unwrap(), "-838:59:59");
        assert!(err(time, Timestamp).contains("TIME value -838:59:59 cannot be written as TIMESTAMP"));
        assert_eq!(ok(Value::Bytes(vec![0, 255, 1]), String).unwrap(), "AP8B");
        assert_eq!(ok(Value::String("".into()), String).unwrap(), "", "empty string stays empty, not NULL");
        assert_eq!(ok(Value::Int(-3), String).unwrap(), "-3");
        let big = Value::String("x".repeat(MAX_STRING_BYTES + 1).into());
        assert!(err(big, String).contains("2 MB"));
        let j = Value::Json(Box::new(serde_json::json!({"a": [1, "b", null]})));
        assert_eq!(ok(j.clone(), Json).unwrap(), r#"{"a":[1,"b",null]}"#);
        assert_eq!(ok(j, String).unwrap(), r#"{"a":[1,"b",null]}"#);
        assert_eq!(ok(Value::String("q\"".into()), Json).unwrap(), r#""q\"""#);
        // The TUPLE texts of times and JSON are this module's, unchanged by event contract v2
        // (whose BLOB JSON writes TIMESTAMP with a space and JSON columns as strings).
        let ts = Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 };
        assert_eq!(ok(ts.clone(), String).unwrap(), "2024-03-01T12:00:00.789Z");
        assert_eq!(ok(ts, Json).unwrap(), r#""2024-03-01T12:00:00.789Z""#);
        let doc = Value::Json(Box::new(serde_json::json!("s")));
        assert_eq!((ok(doc.clone(), String).unwrap(), ok(doc, Json).unwrap()), (r#""s""#.into(), r#""s""#.into()));
        let t = Value::Time { negative: false, hours: 5, minutes: 7, seconds: 9, micros: 120, precision: 4 };
        assert_eq!(ok(t, String).unwrap(), "05:07:09.0001");
        assert_eq!(ok(Value::Int(-3), Json).unwrap(), "-3");
        assert_eq!(ok(Value::Decimal("1.50".into()), Json).unwrap(), r#""1.50""#);
        for ty in [Bigint, Integer, Smallint, Tinyint, Double, Float, Boolean, Timestamp, String, Decimal, Json] {
            assert_eq!(convert(&Value::Null, ty), Ok(None));
            assert_eq!(FieldType::parse(&ty.as_str().to_ascii_lowercase()), Some(ty));
        }
    }

    #[test]
    fn record_ids_increase_with_file_offset_and_row() {
        assert_eq!(record_id("mysql-bin.000001", 4, 0), Ok(1_000_000_000_004));
        assert_eq!(record_id("binlog.000042", 1234, 2), Ok(42_000_000_001_236));
        assert!(record_id("binlog.000001", 999_999, 0).unwrap() < record_id("binlog.000002", 4, 0).unwrap());
        assert_eq!(record_id("binlog.999999", 0, 0), Ok(999_999_000_000_000_000));
        assert!(record_id("binlog", 4, 0).unwrap_err().contains("no numeric index"));
        assert!(record_id("binlog.000001", RECORD_ID_FILE_FACTOR, 0).is_err());
        assert!(record_id("binlog.99999999", 0, 0).unwrap_err().contains("too large"));
    }

    fn schema(fields: &[(&str, &str, bool)]) -> String {
        let fields: Vec<serde_json::Value> = fields
            .iter()
            .map(|(n, t, nn)| serde_json::json!({"name": n, "type": t, "notnull": nn, "comment": ""}))
            .collect();
        serde_json::json!({ "fields": fields }).to_string()
    }

    fn dts_schema(cols: &[(&str, &str, bool)]) -> String {
        let mut f: Vec<(&str, &str, bool)> = DTS_FIELDS.iter().map(|n| (*n, "STRING", false)).collect();
        f[0].1 = "bigint";
        f.extend_from_slice(cols);
        schema(&f)
    }

    fn event(op: Op, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> ChangeEvent {
        let columns: Arc<[Arc<str>]> = vec![Arc::from("ID"), Arc::from("name"), Arc::from("extra")].into();
        let row = |values| Row { columns: columns.clone(), values };
        ChangeEvent {
            op,
            before: before.map(row),
            after: after.map(row),
            source: SourceInfo::new(
                RowsEventInfo {
                    name: "srv".into(),
                    server_id: 1,
                    db: "shop".into(),
                    table: "users".into(),
                    file: "binlog.000003".into(),
                    pos: 500,
                    gtid: None,
                    ts_ms: 1_700_000_000_123,
                    origin: crate::event::Origin::Binlog,
                },
                1,
            ),
            ts_ms: 0,
            transaction: None,
            key_columns: vec![0usize].into(),
        }
    }

    #[test]
    fn plain_layout_writes_the_columns_only_and_layouts_can_be_required() {
        let plain = TupleSchema::parse(&schema(&[("id", "BIGINT", true), ("name", "STRING", false)])).unwrap();
        let enc = TupleEncoder::with_layout(plain.clone(), Layout::Plain).unwrap();
        let recs = enc
            .records(&event(
                Op::Update,
                Some(vec![Value::Int(1), Value::String("a".into()), Value::Null]),
                Some(vec![Value::Int(1), Value::String("b".into()), Value::Null]),
            ))
            .unwrap();
        let values: Vec<_> = recs.iter().map(|r| r.values.clone()).collect();
        assert_eq!(
            values,
            [vec![Some("1".to_owned()), Some("a".to_owned())], vec![Some("1".to_owned()), Some("b".to_owned())]]
        );
        assert!(TupleEncoder::with_layout(plain, Layout::Dts).is_err(), "no DTS metadata fields");
        let dts = TupleSchema::parse(&dts_schema(&[("id", "BIGINT", true)])).unwrap();
        let e = TupleEncoder::with_layout(dts.clone(), Layout::Plain).unwrap_err().to_string();
        assert!(e.contains("the topic is in the DTS layout, not plain"), "{e}");
        assert_eq!(TupleEncoder::with_layout(dts, Layout::Dts).unwrap().layout(), Layout::Dts);
        assert_eq!("DataWorks".parse::<Layout>(), Ok(Layout::DataWorks));
        assert!("csv".parse::<Layout>().is_err());
        let created = TupleSchema { fields: Layout::DataWorks.meta_schema() };
        assert_eq!(Layout::detect(&created), Ok(Layout::DataWorks), "created metadata is detected back");
        let created = TupleSchema { fields: Layout::Dts.meta_schema() };
        assert_eq!(Layout::detect(&created), Ok(Layout::Dts));
    }

    #[test]
    fn layouts_are_detected_from_leading_fields() {
        let dts = TupleSchema::parse(&dts_schema(&[("id", "BIGINT", true)])).unwrap();
        assert_eq!(Layout::detect(&dts), Ok(Layout::Dts));
        let upper = schema(&[
            ("_SEQUENCE_ID_", "STRING", false),
            ("_operation_type_", "string", false),
            ("_execute_time_", "BIGINT", false),
            ("_before_image_", "STRING", false),
            ("_after_image_", "STRING", false),
        ]);
        assert_eq!(TupleEncoder::from_record_schema(&upper).unwrap().layout(), Layout::DataWorks);
        let plain = TupleSchema::parse(&schema(&[("id", "BIGINT", false)])).unwrap();
        assert!(matches!(Layout::detect(&plain), Err(TupleError::Schema(m)) if m.contains("neither the DTS")));
        // Same names, a metadata field of the wrong type.
        let mut f: Vec<(&str, &str, bool)> = DTS_FIELDS.iter().map(|n| (*n, "STRING", false)).collect();
        f[6].1 = "BOOLEAN";
        let bad = schema(&f);
        let e = TupleEncoder::from_record_schema(&bad).unwrap_err().to_string();
        assert!(e.contains("new_dts_sync_dts_before_flag has type BOOLEAN"), "{e}");
        assert!(TupleSchema::parse(r#"{"fields":[{"name":"a","type":"VARCHAR"}]}"#).is_err());
        assert!(TupleSchema::parse(r#"{"fields":[]}"#).is_err());
        assert!(TupleSchema::parse("not json").is_err());
    }

    #[test]
    fn dts_update_is_two_records_before_then_after() {
        let enc = TupleEncoder::from_record_schema(&dts_schema(&[
            ("id", "BIGINT", true),
            ("name", "STRING", false),
            ("missing", "STRING", false),
        ]))
        .unwrap();
        let e = event(
            Op::Update,
            Some(vec![Value::Int(7), Value::String("old".into()), Value::Int(1)]),
            Some(vec![Value::Int(7), Value::String("".into()), Value::Int(2)]),
        );
        let recs = enc.records(&e).unwrap();
        let s = |x: &str| Some(x.to_owned());
        let meta = |b: &str, a: &str| {
            vec![s("3000000000501"), s("U"), s("srv"), s("shop"), s("users"), s("1700000000"), s(b), s(a)]
        };
        let mut before = meta("Y", "N");
        before.extend([s("7"), s("old"), None]);
        let mut after = meta("N", "Y");
        after.extend([s("7"), s(""), None]);
        assert_eq!(recs.iter().map(|r| r.values.clone()).collect::<Vec<_>>(), vec![before, after]);
        assert_eq!(recs[0].attributes.get("op").map(String::as_str), Some("u"));
        let encoded = enc.encode_event(5, &e, WriteProtocol::PbByShard).unwrap();
        assert_eq!(encoded.iter().map(|r| (r.index, r.events)).collect::<Vec<_>>(), [(5, 0), (5, 1)]);
        // Insert and delete are one record each.
        let ins = enc.records(&event(Op::Create, None, Some(vec![Value::Int(1), Value::Null, Value::Null]))).unwrap();
        assert_eq!((ins.len(), &ins[0].values[1], &ins[0].values[6..8]), (1, &s("I"), &[s("N"), s("Y")][..]));
        let del = enc.records(&event(Op::Delete, Some(vec![Value::Int(1), Value::Null, Value::Null]), None)).unwrap();
        assert_eq!((del.len(), &del[0].values[1], &del[0].values[6..8]), (1, &s("D"), &[s("Y"), s("N")][..]));
        // NULL into the NOT NULL id: a typed error naming db.table.column.
        let e = enc.records(&event(Op::Create, None, Some(vec![Value::Null, Value::Null, Value::Null]))).unwrap_err();
        assert_eq!(e.to_string(), "shop.users.id: NULL value for a NOT NULL field (TUPLE field type BIGINT)");
    }

    #[test]
    fn dataworks_and_time_units() {
        let enc = TupleEncoder::from_record_schema(&schema(&[
            ("_sequence_id_", "STRING", false),
            ("_operation_type_", "STRING", false),
            ("_execute_time_", "TIMESTAMP", false),
            ("_before_image_", "STRING", false),
            ("_after_image_", "STRING", false),
            ("name", "STRING", false),
        ]))
        .unwrap();
        let r =
            enc.records(&event(Op::Delete, Some(vec![Value::Int(1), Value::String("n".into()), Value::Null]), None));
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            r.unwrap()[0].values,
            vec![s("3000000000501"), s("D"), s("1700000000123000"), s("Y"), s("N"), s("n")]
        );
        let ms = schema(&[
            ("_sequence_id_", "BIGINT", false),
            ("_operation_type_", "STRING", false),
            ("_execute_time_", "BIGINT", false),
            ("_before_image_", "STRING", false),
            ("_after_image_", "STRING", false),
        ]);
        let r = TupleEncoder::from_record_schema(&ms).unwrap().records(&event(Op::Create, None, Some(vec![])));
        assert_eq!(r.unwrap()[0].values[2], s("1700000000123"));
    }

    #[test]
    fn wire_forms_carry_null_and_empty_apart() {
        let mut attributes = BTreeMap::new();
        attributes.insert("op".to_owned(), "c".to_owned());
        let r = TupleRecord { values: vec![Some("1".into()), None, Some(String::new())], attributes };
        let entry = pb::RecordEntry::decode(r.wire(WriteProtocol::PbByShard).as_slice()).unwrap();
        let values: Vec<Option<Vec<u8>>> = entry.data.data.into_iter().map(|f| f.value).collect();
        assert_eq!(values, vec![Some(b"1".to_vec()), None, Some(vec![])]);
        assert_eq!(entry.attributes.unwrap().attributes[0].key, "op");
        let json = std::string::String::from_utf8(r.wire(WriteProtocol::JsonPutRecords)).unwrap();
        assert_eq!(json, r#""Data":["1",null,""],"Attributes":{"op":"c"}"#);
        assert_eq!(r.payload_bytes(), 1);
    }
}
