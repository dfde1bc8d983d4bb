//! Column plans: what the decoder needs to know about every column of one TABLE_MAP event
//! (type, type metadata, signedness, character set, name, ENUM/SET labels, primary key), built
//! once per TABLE_MAP and then used for every row of that table version.
//!
//! Sources of facts: the TABLE_MAP event and its optional metadata (MySQL manual,
//! "binlog_row_metadata"; MySQL source `libbinlogevents/include/rows_event.h`,
//! `Table_map_event::Optional_metadata_field_type`). When the server sends no column names
//! (`binlog_row_metadata=MINIMAL`, OceanBase), names, keys, labels and signedness come from a
//! [`TableSchema`] read from `information_schema` (see [`super::schema`]).

use std::sync::Arc;

use mysql_common::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_common::collations::{Collation, CollationId};
use mysql_common::constants::ColumnType;

use super::value::ValueOp;

/// Column facts read from `information_schema` for a table whose TABLE_MAP carries no
/// column names. Vectors are in ordinal order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSchema {
    /// Column names.
    pub names: Vec<String>,
    /// True for UNSIGNED numeric columns.
    pub unsigned: Vec<bool>,
    /// ENUM or SET labels of each column (empty for other types).
    pub labels: Vec<Vec<String>>,
    /// Indexes of the PRIMARY KEY columns, in key order.
    pub primary_key: Vec<usize>,
    /// Character set name of each column (`information_schema.COLUMNS.CHARACTER_SET_NAME`;
    /// None for non-character columns). Used when the TABLE_MAP carries no charset metadata
    /// (OceanBase, MySQL 5.7).
    pub charsets: Vec<Option<String>>,
}

/// How a column's character data is turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// utf8mb3 / utf8mb4 / ascii: UTF-8.
    Utf8,
    /// latin1 (MySQL's latin1 is cp1252; decoded as ISO-8859-1, exact except 0x80–0x9F).
    Latin1,
    /// The `binary` character set (collation 63): the value stays bytes.
    Binary,
    /// Another character set: decoded as UTF-8, invalid sequences replaced (approximate).
    Other,
}

impl Charset {
    pub(crate) fn from_name(name: &str) -> Self {
        match name {
            "utf8mb4" | "utf8mb3" | "utf8" | "ascii" => Charset::Utf8,
            "latin1" => Charset::Latin1,
            "binary" => Charset::Binary,
            _ => Charset::Other,
        }
    }

    pub(crate) fn from_collation(id: u16) -> Self {
        if id == 63 {
            return Charset::Binary;
        }
        if id == 0 {
            return Charset::Utf8;
        }
        let c: Collation<'static> = Collation::resolve(CollationId::from(id));
        match c.charset() {
            "utf8mb4" | "utf8mb3" | "utf8" | "ascii" => Charset::Utf8,
            "latin1" => Charset::Latin1,
            "binary" => Charset::Binary,
            // Unknown ids resolve to an "unknown" placeholder: assume UTF-8, the server default.
            _ if c.collation().is_empty() => Charset::Utf8,
            _ => Charset::Other,
        }
    }
}

/// The decoding rule of one column, derived from its type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// TINYINT..BIGINT.
    Int { unsigned: bool },
    /// YEAR (binlog: one byte, years since 1900, 0 = 0000).
    Year,
    /// FLOAT.
    Float,
    /// DOUBLE.
    Double,
    /// DECIMAL.
    Decimal,
    /// DATE.
    Date,
    /// DATETIME(p).
    DateTime { precision: u8 },
    /// TIMESTAMP(p).
    Timestamp { precision: u8 },
    /// TIME(p).
    Time { precision: u8 },
    /// CHAR/VARCHAR/TEXT (and MariaDB JSON, which is LONGTEXT) in a non-binary charset.
    Text(Charset),
    /// BINARY(n): right-padded with 0x00 to `n` bytes (the binlog strips the padding).
    FixedBinary(usize),
    /// VARBINARY, BLOB, GEOMETRY, VECTOR: bytes as they are.
    Bytes,
    /// ENUM with its labels (1-based index in the binlog; 0 = the empty "error" value).
    Enum(Arc<[String]>),
    /// SET with its labels (bit i = label i).
    Set(Arc<[String]>),
    /// BIT(n).
    Bit,
    /// MySQL binary JSON.
    Json,
}

/// One column of a table version.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// The real column type (STRING resolved to ENUM/SET/STRING).
    pub(crate) ty: ColumnType,
    /// Type metadata bytes from the TABLE_MAP.
    pub(crate) meta: Box<[u8]>,
    /// Signedness for the value parser.
    pub(crate) unsigned: bool,
    /// The decoding rule.
    pub(crate) kind: Kind,
    /// How values are read, chosen once from the four fields above
    /// ([`ValueOp::for_column`]).
    pub(crate) op: ValueOp,
}

impl ColumnPlan {
    /// A column plan with its [`ValueOp`] chosen.
    pub(crate) fn new(ty: ColumnType, meta: Box<[u8]>, unsigned: bool, kind: Kind) -> Self {
        let op = ValueOp::for_column(ty, &meta, unsigned, &kind);
        ColumnPlan { ty, meta, unsigned, kind, op }
    }
}

/// Everything needed to decode the rows of one table version (one TABLE_MAP).
#[derive(Debug)]
pub(crate) struct TablePlan {
    pub(crate) db: Arc<str>,
    pub(crate) table: Arc<str>,
    pub(crate) columns: Arc<[Arc<str>]>,
    pub(crate) key_columns: Arc<[usize]>,
    pub(crate) cols: Vec<ColumnPlan>,
    /// Number of JSON columns (for PARTIAL_UPDATE_ROWS_EVENT's partial-column bitmap).
    pub(crate) json_columns: usize,
}

/// True when the TABLE_MAP carries COLUMN_NAME optional metadata.
pub(crate) fn has_column_names(tme: &TableMapEvent<'_>) -> bool {
    tme.iter_optional_meta().any(|f| matches!(f, Ok(OptionalMetadataField::ColumnName(_))))
}

/// The byte length of a CHAR/BINARY column from its TABLE_MAP metadata, when the metadata
/// holds it packed (first byte ≥ 1): the server's `Field_string::unpack` formula, which
/// mysql_common's `BinlogValue` follows too. None otherwise.
pub(crate) fn packed_string_length(meta: &[u8]) -> Option<usize> {
    if meta.len() >= 2 && meta[0] >= 1 {
        let byte0 = meta[0] as usize;
        let byte1 = meta[1] as usize;
        Some(if (byte0 & 0x30) != 0x30 { byte1 | (((byte0 & 0x30) ^ 0x30) << 4) } else { byte1 })
    } else {
        None
    }
}

/// Builds the plan of `tme`. `mariadb` enables MariaDB's counting of GEOMETRY columns among
/// character columns in the charset metadata (binlog-probe §4.6). `schema` supplies what the
/// TABLE_MAP lacks (names, keys, labels, signedness) when given.
pub(crate) fn build_plan(
    tme: &TableMapEvent<'_>,
    mariadb: bool,
    schema: Option<&TableSchema>,
) -> Result<TablePlan, String> {
    let n = tme.columns_count() as usize;
    // Optional metadata, collected once.
    let mut signedness: Option<Vec<bool>> = None;
    let mut names: Option<Vec<String>> = None;
    let mut enum_labels: Vec<Vec<String>> = Vec::new();
    let mut set_labels: Vec<Vec<String>> = Vec::new();
    let mut pk: Vec<usize> = Vec::new();
    for field in tme.iter_optional_meta() {
        let field = field.map_err(|e| format!("optional metadata: {e}"))?;
        match field {
            OptionalMetadataField::Signedness(bits) => {
                signedness = Some(bits.iter().by_vals().collect());
            }
            OptionalMetadataField::ColumnName(cn) => {
                let mut v = Vec::with_capacity(n);
                for name in cn.iter_names() {
                    v.push(name.map_err(|e| format!("column names: {e}"))?.name().into_owned());
                }
                names = Some(v);
            }
            OptionalMetadataField::EnumStrValue(vals) => {
                for e in vals.iter_values() {
                    let e = e.map_err(|e| format!("enum labels: {e}"))?;
                    enum_labels.push(e.values().iter().map(|v| v.value().into_owned()).collect());
                }
            }
            OptionalMetadataField::SetStrValue(vals) => {
                for s in vals.iter_values() {
                    let s = s.map_err(|e| format!("set labels: {e}"))?;
                    set_labels.push(s.values().iter().map(|v| v.value().into_owned()).collect());
                }
            }
            OptionalMetadataField::SimplePrimaryKey(k) => {
                for i in k.iter_indexes() {
                    pk.push(i.map_err(|e| format!("primary key: {e}"))? as usize);
                }
            }
            OptionalMetadataField::PrimaryKeyWithPrefix(k) => {
                for i in k.iter_keys() {
                    pk.push(i.map_err(|e| format!("primary key: {e}"))?.column_index() as usize);
                }
            }
            _ => {}
        }
    }
    let extractor = mysql_common::binlog::events::OptionalMetaExtractor::new(tme.iter_optional_meta())
        .map_err(|e| format!("optional metadata: {e}"))?;
    let mut charsets = extractor.iter_charset();
    let mut enum_set_charsets = extractor.iter_enum_and_set_charset();

    let mut signed_iter = signedness.as_ref().map(|v| v.iter().copied());
    let mut enum_iter = enum_labels.into_iter();
    let mut set_iter = set_labels.into_iter();
    let mut cols = Vec::with_capacity(n);
    let mut json_columns = 0;
    for i in 0..n {
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(format!("no type for column {i}")),
            Err(e) => return Err(format!("column {i}: {e}")),
        };
        // O(n) per lookup in mysql_common: paid once per TABLE_MAP, never per row.
        let meta: Box<[u8]> = tme.get_column_metadata(i).unwrap_or(&[]).into();

        let from_meta_unsigned =
            if ty.is_numeric_type() { signed_iter.as_mut().and_then(|it| it.next()) } else { None };
        let unsigned = from_meta_unsigned.or_else(|| schema.and_then(|s| s.unsigned.get(i).copied())).unwrap_or(false);
        let is_char = ty.is_character_type() || (mariadb && ty == ColumnType::MYSQL_TYPE_GEOMETRY);
        let charset = if is_char {
            charsets.next().transpose().map_err(|e| format!("charset: {e}"))?
        } else if ty.is_enum_or_set_type() {
            enum_set_charsets.next().transpose().map_err(|e| format!("charset: {e}"))?
        } else {
            None
        };
        let charset_kind = charset
            .map(Charset::from_collation)
            .or_else(|| schema.and_then(|s| s.charsets.get(i)).and_then(|c| c.as_deref()).map(Charset::from_name));
        let schema_labels =
            || -> Arc<[String]> { schema.and_then(|s| s.labels.get(i)).cloned().unwrap_or_default().into() };
        use ColumnType::*;
        let kind = match ty {
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG => {
                Kind::Int { unsigned }
            }
            MYSQL_TYPE_YEAR => Kind::Year,
            MYSQL_TYPE_FLOAT => Kind::Float,
            MYSQL_TYPE_DOUBLE => Kind::Double,
            MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => Kind::Decimal,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Kind::Date,
            MYSQL_TYPE_DATETIME => Kind::DateTime { precision: 0 },
            MYSQL_TYPE_DATETIME2 => Kind::DateTime { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_TIMESTAMP => Kind::Timestamp { precision: 0 },
            MYSQL_TYPE_TIMESTAMP2 => Kind::Timestamp { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_TIME => Kind::Time { precision: 0 },
            MYSQL_TYPE_TIME2 => Kind::Time { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_BIT => Kind::Bit,
            MYSQL_TYPE_JSON => {
                json_columns += 1;
                Kind::Json
            }
            MYSQL_TYPE_ENUM => Kind::Enum(enum_iter.next().map(Arc::from).unwrap_or_else(schema_labels)),
            MYSQL_TYPE_SET => Kind::Set(set_iter.next().map(Arc::from).unwrap_or_else(schema_labels)),
            MYSQL_TYPE_GEOMETRY | MYSQL_TYPE_VECTOR => Kind::Bytes,
            MYSQL_TYPE_STRING => match charset_kind {
                Some(Charset::Binary) => Kind::FixedBinary(packed_string_length(&meta).unwrap_or(0)),
                Some(cs) => Kind::Text(cs),
                None => Kind::Text(Charset::Utf8),
            },
            MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB => {
                match charset_kind {
                    Some(Charset::Binary) => Kind::Bytes,
                    Some(cs) => Kind::Text(cs),
                    // No charset metadata at all (OceanBase, MySQL 5.7): BLOB types are bytes,
                    // VARCHAR is text.
                    None if matches!(ty, MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING) => Kind::Text(Charset::Utf8),
                    None => Kind::Bytes,
                }
            }
            other => return Err(format!("column {i}: unsupported column type {other:?}")),
        };
        cols.push(ColumnPlan::new(ty, meta, unsigned, kind));
    }

    let names: Vec<String> = match names {
        Some(v) if v.len() == n => v,
        _ => (0..n).map(|i| schema.and_then(|s| s.names.get(i).cloned()).unwrap_or_else(|| format!("@{i}"))).collect(),
    };
    if pk.is_empty() {
        if let Some(s) = schema {
            pk = s.primary_key.iter().copied().filter(|&i| i < n).collect();
        }
    }
    Ok(TablePlan {
        db: tme.database_name().as_ref().into(),
        table: tme.table_name().as_ref().into(),
        columns: names.into_iter().map(|s| Arc::<str>::from(s.as_str())).collect(),
        key_columns: pk.into(),
        cols,
        json_columns,
    })
}
