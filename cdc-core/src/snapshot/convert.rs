//! Server values of the binary protocol (prepared statements) → the contract's [`Value`],
//! identical to what the binlog decoder gives for the same row (checked by
//! `tests/tests/snapshot/values.rs` over every type family).
//!
//! The snapshot session makes the server send what the binlog holds: `character_set_results =
//! NULL` (column bytes in the column's own character set, MySQL manual 12.4 "Connection
//! Character Sets"), `time_zone = '+00:00'` (TIMESTAMP values in UTC). Most types then go
//! through the binlog decoder's own generic conversion (`source::value::convert`); the
//! differences of the binary protocol are handled here: YEAR (a number, not the binlog's
//! byte), TIMESTAMP (a date-time in the session time zone, not seconds since the epoch), ENUM
//! and SET (their labels as text, not an index or a bit mask), MySQL JSON (the document as text,
//! not binary JSON).

use mysql_common::value::Value as MyValue;

use super::layout::SnapshotColumn;
use crate::event::{CompactString, Value};
use crate::metrics;
use crate::source::column::{Charset, Kind};
use crate::source::value::{convert, decode_text};

/// The contract value of `v`, read from column `col`. Errors: a value that does not fit the
/// column's rule (text of the reason).
pub(crate) fn to_value(col: &SnapshotColumn, v: MyValue) -> Result<Value, String> {
    use MyValue as M;
    Ok(match (&col.kind, v) {
        (_, M::NULL) => Value::Null,
        (Kind::Year, M::Int(y)) => Value::Int(y),
        (Kind::Year, M::UInt(y)) => Value::Int(y as i64),
        (Kind::Timestamp { precision }, M::Date(y, mo, d, h, mi, s, us)) => {
            if y == 0 && mo == 0 && d == 0 {
                ::metrics::counter!(metrics::ZERO_DATES_TOTAL).increment(1);
                Value::Null
            } else {
                let t = chrono::NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
                    .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us))
                    .ok_or_else(|| format!("TIMESTAMP {y}-{mo}-{d} {h}:{mi}:{s}.{us} is not a date"))?;
                Value::Timestamp { micros: t.and_utc().timestamp_micros(), precision: *precision }
            }
        }
        (Kind::Enum(_) | Kind::Set(_), M::Bytes(b)) => match decode_text(&b, col.charset.unwrap_or(Charset::Utf8)) {
            Value::Bytes(b) => Value::String(CompactString::from_utf8_lossy(&b)),
            v => v,
        },
        (Kind::Json, M::Bytes(b)) => {
            Value::Json(Box::new(serde_json::from_slice(&b).map_err(|e| format!("JSON column value: {e}"))?))
        }
        (kind, v) => convert(kind, v).map_err(|e| e.to_string())?,
    })
}
