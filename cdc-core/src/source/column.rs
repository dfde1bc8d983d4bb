//! Column facts shared by the plan builder (`table`) and the value reader (`value`): how a
//! column's text is decoded ([`Charset`]), what the contract makes of it ([`Kind`]), how its
//! bytes are read ([`ValueOp`], chosen once per TABLE_MAP) and the plan of one column
//! ([`ColumnPlan`]). A leaf: it imports neither of them.

use std::io;
use std::sync::Arc;

use mysql_common::collations::{Collation, CollationId};
use mysql_common::constants::ColumnType;

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

    /// The charset of collation `id` (63 is `binary`); None for an id mysql_common does not
    /// know (0, or a collation newer than its table, e.g. MariaDB's `uca1400` ones): the
    /// schema's charset is used then, else UTF-8, the servers' default.
    pub(crate) fn from_collation(id: u16) -> Option<Self> {
        if id == 63 {
            return Some(Charset::Binary);
        }
        if id == 0 {
            return None;
        }
        let c: Collation<'static> = Collation::resolve(CollationId::from(id));
        Some(match c.charset() {
            "utf8mb4" | "utf8mb3" | "utf8" | "ascii" => Charset::Utf8,
            "latin1" => Charset::Latin1,
            "binary" => Charset::Binary,
            // Unknown ids resolve to an "unknown" placeholder.
            _ if c.collation().is_empty() => return None,
            _ => Charset::Other,
        })
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

/// The byte length of a CHAR/BINARY column (the declared characters × the charset's longest
/// character, MySQL's `field_length`) from its TABLE_MAP metadata: packed in two bytes when the
/// first is ≥ 1 (the server's `Field_string::unpack` formula, which mysql_common's `BinlogValue`
/// follows too), else a little-endian u16. 0 for metadata shorter than 2 bytes (refused by the
/// value reader's metadata check).
pub(crate) fn string_byte_length(meta: &[u8]) -> usize {
    match *meta {
        [0, byte1, ..] => u16::from_le_bytes([0, byte1]) as usize,
        [byte0, byte1, ..] => {
            let (byte0, byte1) = (byte0 as usize, byte1 as usize);
            if (byte0 & 0x30) != 0x30 {
                byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
            } else {
                byte1
            }
        }
        _ => 0,
    }
}

/// How the values of one column are read: chosen once per TABLE_MAP
/// ([`ValueOp::for_column`]) so that reading a value is one `match` on this, with the widths,
/// fraction lengths and signedness already worked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueOp {
    /// The column metadata fails [`check_meta`]: every non-NULL value is that error.
    BadMeta,
    /// YEAR: one byte, years since 1900 (0 = 0000).
    Year,
    /// MEDIUMINT: 3 bytes little-endian.
    Int24,
    /// TIME(1)/TIME(2), whose fraction mysql_common mishandles when negative.
    ShortTime2,
    /// TINYINT..BIGINT of `width` bytes; `unsigned_src`: the binlog bytes are unsigned,
    /// `unsigned_out`: the contract value is `UInt`.
    Int { width: u8, unsigned_src: bool, unsigned_out: bool },
    /// FLOAT, 4 bytes.
    Float,
    /// DOUBLE, 8 bytes.
    Double,
    /// DATE, 3 bytes.
    Date,
    /// DATETIME2: 5 bytes + `frac` bytes of fraction.
    DateTime2 { frac: u8, precision: u8 },
    /// TIMESTAMP2: 4 bytes + `frac` bytes of fraction.
    Timestamp2 { frac: u8, precision: u8 },
    /// DECIMAL(precision, scale) (validated).
    Decimal { precision: u8, scale: u8 },
    /// CHAR/VARCHAR: a 1-byte length prefix when `max_len` < 256, else 2 bytes.
    Chars { max_len: u16 },
    /// BLOB/TEXT/GEOMETRY/VECTOR: a `len_bytes` (1..=4) little-endian length prefix.
    Blob { len_bytes: u8 },
    /// ENUM: a `width` (1 or 2) byte little-endian 1-based label index.
    Enum { width: u8 },
    /// Anything else: mysql_common's parser and [`convert`].
    Generic,
}

impl ValueOp {
    /// The reading rule for a column of type `ty` (the real type, STRING resolved to
    /// ENUM/SET), TABLE_MAP metadata `meta`, binlog signedness `unsigned` and contract `kind`.
    /// The same choice [`parse_value`] made per value before it was cached here; the tests
    /// compare every fast rule with the generic parser.
    pub(crate) fn for_column(ty: ColumnType, meta: &[u8], unsigned: bool, kind: &Kind) -> ValueOp {
        use ColumnType as T;
        if *kind == Kind::Year {
            return ValueOp::Year;
        }
        if ty == T::MYSQL_TYPE_INT24 {
            return ValueOp::Int24;
        }
        if ty == T::MYSQL_TYPE_TIME2 && matches!(meta.first(), Some(1 | 2)) {
            return ValueOp::ShortTime2;
        }
        if check_meta_of(ty, meta).is_err() {
            return ValueOp::BadMeta;
        }
        let chars = matches!(kind, Kind::Text(_) | Kind::Bytes | Kind::FixedBinary(_));
        match (ty, kind) {
            (
                T::MYSQL_TYPE_TINY | T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_LONG | T::MYSQL_TYPE_LONGLONG,
                Kind::Int { unsigned: out },
            ) => {
                let width = match ty {
                    T::MYSQL_TYPE_TINY => 1,
                    T::MYSQL_TYPE_SHORT => 2,
                    T::MYSQL_TYPE_LONG => 4,
                    _ => 8,
                };
                ValueOp::Int { width, unsigned_src: unsigned, unsigned_out: *out }
            }
            (T::MYSQL_TYPE_FLOAT, Kind::Float) => ValueOp::Float,
            (T::MYSQL_TYPE_DOUBLE, Kind::Double) => ValueOp::Double,
            (T::MYSQL_TYPE_NEWDATE, Kind::Date) => ValueOp::Date,
            (T::MYSQL_TYPE_DATETIME2, Kind::DateTime { precision }) => {
                ValueOp::DateTime2 { frac: frac_len(meta[0]) as u8, precision: *precision }
            }
            (T::MYSQL_TYPE_TIMESTAMP2, Kind::Timestamp { precision }) => {
                ValueOp::Timestamp2 { frac: frac_len(meta[0]) as u8, precision: *precision }
            }
            (T::MYSQL_TYPE_NEWDECIMAL, Kind::Decimal) => ValueOp::Decimal { precision: meta[0], scale: meta[1] },
            (T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING, _) if chars => {
                ValueOp::Chars { max_len: u16::from_le_bytes([meta[0], meta[1]]) }
            }
            (T::MYSQL_TYPE_STRING, _) if chars => {
                // The maximum length in bytes, as mysql_common's BinlogValue reads it.
                ValueOp::Chars { max_len: string_byte_length(meta) as u16 }
            }
            (
                T::MYSQL_TYPE_TINY_BLOB
                | T::MYSQL_TYPE_MEDIUM_BLOB
                | T::MYSQL_TYPE_LONG_BLOB
                | T::MYSQL_TYPE_BLOB
                | T::MYSQL_TYPE_GEOMETRY
                | T::MYSQL_TYPE_VECTOR,
                _,
            ) if chars && (1..=4).contains(&meta[0]) => ValueOp::Blob { len_bytes: meta[0] },
            (T::MYSQL_TYPE_ENUM, Kind::Enum(_)) if matches!(meta[1], 1 | 2) => ValueOp::Enum { width: meta[1] },
            _ => ValueOp::Generic,
        }
    }
}

/// Bytes of the fractional part of a TIME2/DATETIME2/TIMESTAMP2 of `dec` digits (MySQL's
/// my_datetime_binary_length; mysql_common reads none for a `dec` above 6).
pub(crate) fn frac_len(dec: u8) -> usize {
    match dec {
        1 | 2 => 1,
        3 | 4 => 2,
        5 | 6 => 3,
        _ => 0,
    }
}

/// [`check_meta`] on a column's type and metadata.
pub(crate) fn check_meta_of(ty: ColumnType, meta: &[u8]) -> io::Result<()> {
    // mysql_common indexes the column metadata without checking its length: a corrupt
    // TABLE_MAP would panic there. Bytes of metadata per type: MySQL's
    // Table_map_log_event::save_field_metadata.
    if meta.len() < meta_len(ty) {
        return Err(bad(format!("column metadata of {ty:?} too short ({} bytes)", meta.len())));
    }
    // mysql_common sizes a DECIMAL from `precision - scale` without checking: a scale above
    // the precision underflows (a panic in debug builds, a huge read in release). MySQL caps
    // DECIMAL at 65 digits with at most 30 after the point (MySQL manual 13.1.3, "Fixed-Point
    // Types"), so anything else is a corrupt TABLE_MAP.
    if ty == ColumnType::MYSQL_TYPE_NEWDECIMAL {
        let (precision, scale) = (meta[0], meta[1]);
        if precision == 0 || precision > 65 || scale > 30 || scale > precision {
            return Err(bad(format!("DECIMAL({precision},{scale}) in the TABLE_MAP is not a valid MySQL DECIMAL")));
        }
    }
    Ok(())
}

/// Bytes of TABLE_MAP metadata the value parser reads for a column of type `ty`.
fn meta_len(ty: mysql_common::constants::ColumnType) -> usize {
    use mysql_common::constants::ColumnType as T;
    match ty {
        T::MYSQL_TYPE_FLOAT
        | T::MYSQL_TYPE_DOUBLE
        | T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_GEOMETRY
        | T::MYSQL_TYPE_JSON
        | T::MYSQL_TYPE_VECTOR
        | T::MYSQL_TYPE_TIMESTAMP2
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIME2 => 1,
        T::MYSQL_TYPE_VARCHAR
        | T::MYSQL_TYPE_VAR_STRING
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_BIT
        | T::MYSQL_TYPE_NEWDECIMAL
        | T::MYSQL_TYPE_SET
        | T::MYSQL_TYPE_ENUM => 2,
        _ => 0,
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}
