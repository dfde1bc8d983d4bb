//! The generic path: mysql_common's `BinlogValue` parser ([`parse_value_generic`]) and the
//! conversion of mysql_common's values to the contract's [`Value`] ([`convert`]), for the types
//! the fast path leaves alone; also the reference the fast path is tested against.

use std::io;

use mysql_common::binlog::jsondiff::JsonDiff;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;

use super::helpers::{bad, date_value, datetime_value, decode_text, enum_value, zero_date};
use crate::event::{CompactString, Value};
use crate::source::column::{ColumnPlan, Kind};

/// A parsed non-null column value: either a contract value or a JSON diff (MySQL
/// PARTIAL_UPDATE_ROWS_EVENT) still to be applied to the before image.
pub(crate) enum Parsed {
    Value(Value),
    JsonDiff(Vec<JsonDiff<'static>>),
}

/// The general parser: mysql_common's `BinlogValue` then [`convert`]. Used for the types
/// [`parse_fast`](super::fast::parse_fast) leaves alone, and by the tests as the reference the
/// fast path must match. Expects [`check_meta`](super::parse::check_meta) to have passed.
pub(super) fn parse_value_generic(col: &ColumnPlan, is_partial: bool, buf: &mut ParseBuf<'_>) -> io::Result<Parsed> {
    // The parser ties the metadata's lifetime to the buffer's: parse from a shortened view,
    // then advance the caller's buffer by what was consumed.
    let mut view = ParseBuf(buf.0);
    let v: BinlogValue<'_> = view.parse((col.ty, &col.meta[..], col.unsigned, is_partial))?;
    let used = buf.0.len() - view.0.len();
    buf.skip(used);
    let my = match v {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            // Through the DOM: it also renders opaque values (dates, decimals inside JSON).
            let json = serde_json::Value::from(j.parse().map_err(|e| bad(format!("JSON: {e}")))?);
            return Ok(Parsed::Value(Value::Json(Box::new(json))));
        }
        BinlogValue::JsonDiff(d) => {
            return Ok(Parsed::JsonDiff(d.into_iter().map(|x| x.into_owned()).collect()));
        }
    };
    Ok(Parsed::Value(convert(&col.kind, my)?))
}

pub(crate) fn convert(kind: &Kind, v: MyValue) -> io::Result<Value> {
    use MyValue as M;
    Ok(match (kind, v) {
        (_, M::NULL) => Value::Null,
        (Kind::Int { unsigned: true }, M::Int(i)) => Value::UInt(i as u64),
        (Kind::Int { unsigned: true }, M::UInt(u)) => Value::UInt(u),
        (Kind::Int { unsigned: false }, M::Int(i)) => Value::Int(i),
        (Kind::Int { unsigned: false }, M::UInt(u)) => Value::Int(u as i64),
        (Kind::Float, M::Float(f)) => Value::Float(f),
        (Kind::Double, M::Double(d)) => Value::Double(d),
        (Kind::Decimal, M::Bytes(b)) => {
            Value::Decimal(CompactString::from_utf8(&b).map_err(|_| bad("DECIMAL text not ASCII"))?)
        }
        (Kind::Date, M::Date(y, m, d, ..)) => date_value(y, m, d),
        (Kind::DateTime { precision }, M::Date(y, mo, d, h, mi, s, us)) => {
            datetime_value(y, mo, d, h, mi, s, us, *precision)
        }
        (Kind::Timestamp { precision }, M::Int(secs)) => {
            if secs == 0 {
                zero_date()
            } else {
                Value::Timestamp { micros: secs * 1_000_000, precision: *precision }
            }
        }
        (Kind::Timestamp { precision }, M::Bytes(text)) => {
            // "seconds[.micros]" since the epoch, UTC (mysql_common's TIMESTAMP2 rendering).
            let text = std::str::from_utf8(&text).map_err(|_| bad("TIMESTAMP text"))?;
            let (s, frac) = text.split_once('.').unwrap_or((text, "0"));
            let secs: i64 = s.parse().map_err(|_| bad("TIMESTAMP seconds"))?;
            let micros: i64 = frac.parse().map_err(|_| bad("TIMESTAMP fraction"))?;
            if secs == 0 && micros == 0 {
                zero_date()
            } else {
                Value::Timestamp { micros: secs * 1_000_000 + micros, precision: *precision }
            }
        }
        (Kind::Time { precision }, M::Time(neg, days, h, m, s, us)) => Value::Time {
            negative: neg,
            hours: days * 24 + h as u32,
            minutes: m,
            seconds: s,
            micros: us,
            precision: *precision,
        },
        (Kind::Text(cs), M::Bytes(b)) => decode_text(&b, *cs),
        (Kind::FixedBinary(n), M::Bytes(mut b)) => {
            if b.len() < *n {
                b.resize(*n, 0);
            }
            Value::Bytes(b)
        }
        (Kind::Bytes, M::Bytes(b)) => Value::Bytes(b),
        (Kind::Enum(labels), M::Int(i)) => enum_value(labels, i)?,
        (Kind::Set(labels), M::Bytes(b)) => {
            let mut mask = 0u64;
            for (i, byte) in b.iter().enumerate().take(8) {
                mask |= (*byte as u64) << (8 * i);
            }
            if labels.is_empty() {
                Value::UInt(mask)
            } else {
                let mut out = CompactString::default();
                for (i, l) in labels.iter().enumerate() {
                    if i < 64 && mask & (1 << i) != 0 {
                        if !out.is_empty() {
                            out.push(',');
                        }
                        out.push_str(l);
                    }
                }
                Value::String(out)
            }
        }
        (Kind::Bit, M::Bytes(b)) => {
            let mut n = 0u64;
            for byte in b.iter() {
                n = (n << 8) | *byte as u64;
            }
            Value::Bit(n)
        }
        (kind, v) => return Err(bad(format!("unexpected value {v:?} for a {kind:?} column"))),
    })
}
