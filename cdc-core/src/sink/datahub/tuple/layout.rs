//! The record layouts ([`Layout`]): the DTS and DataWorks metadata fields, their detection from
//! a schema, the metadata fields of a created topic, and the record id ([`record_id`]).

use std::fmt;

use super::error::TupleError;
use super::field_type::FieldType;
use super::schema::{TupleField, TupleSchema};

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

/// The record layout of a TUPLE topic, detected from its leading field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// DTS: [`DTS_FIELDS`], then the columns.
    Dts,
    /// DataWorks real-time sync: [`DATAWORKS_FIELDS`], then the columns.
    DataWorks,
    /// The table's columns only, no metadata fields. Never detected (any schema could be one):
    /// chosen by configuration ([`TupleEncoder::with_layout`](super::TupleEncoder::with_layout)).
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
