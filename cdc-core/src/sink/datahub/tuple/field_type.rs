//! The TUPLE field types ([`FieldType`]): DataHub's names for them and their parsing (a leaf,
//! shared by the schema, the errors, the layouts and the conversions).

use std::fmt;

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
