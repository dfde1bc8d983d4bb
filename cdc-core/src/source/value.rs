//! One column value: parse it from a row image with mysql_common's `BinlogValue` parser and
//! turn it into the contract's [`Value`] following the column's [`Kind`] (see
//! `shared/ref/event-format.md`, "Values").
//!
//! Facts used: the binlog value encodings of the MySQL source (`sql/log_event.cc`,
//! `log_event_print_value`), as implemented by `mysql_common::binlog::value::BinlogValue`.

use std::io;

use chrono::NaiveDate;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;

use super::table::{Charset, ColumnPlan, Kind};
use crate::event::Value;
use crate::metrics;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn zero_date() -> Value {
    ::metrics::counter!(metrics::ZERO_DATES_TOTAL).increment(1);
    Value::Null
}

/// Decodes text in `cs`.
pub(crate) fn decode_text(bytes: Vec<u8>, cs: Charset) -> Value {
    match cs {
        Charset::Binary => Value::Bytes(bytes),
        Charset::Latin1 => Value::String(bytes.iter().map(|&b| b as char).collect()),
        Charset::Utf8 | Charset::Other => match String::from_utf8(bytes) {
            Ok(s) => Value::String(s),
            Err(e) => Value::String(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// A parsed non-null column value: either a contract value or a JSON diff (MySQL
/// PARTIAL_UPDATE_ROWS_EVENT) still to be applied to the before image.
pub(crate) enum Parsed {
    Value(Value),
    JsonDiff(Vec<JsonDiff<'static>>),
}

/// Parses one non-NULL value of column `col` from `buf`.
pub(crate) fn parse_value(col: &ColumnPlan, is_partial: bool, buf: &mut ParseBuf<'_>) -> io::Result<Parsed> {
    // YEAR is read here: mysql_common renders the raw byte 0 (= year 0000) as "1900".
    if col.kind == Kind::Year {
        let b = buf.checked_eat(1).ok_or_else(|| bad("truncated YEAR"))?[0];
        return Ok(Parsed::Value(Value::Int(if b == 0 { 0 } else { 1900 + b as i64 })));
    }
    // MEDIUMINT is read here too: mysql_common 0.37 does not sign-extend negative INT24
    // values (-8388608 came out as 8388608 in source_types).
    if col.ty == mysql_common::constants::ColumnType::MYSQL_TYPE_INT24 {
        let b = buf.checked_eat(3).ok_or_else(|| bad("truncated MEDIUMINT"))?;
        let raw = b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16;
        return Ok(Parsed::Value(if col.unsigned {
            Value::UInt(raw as u64)
        } else {
            Value::Int(((raw << 8) as i32 >> 8) as i64)
        }));
    }
    // TIME(1)/TIME(2) are read here: mysql_common 0.37 keeps their fraction in a u32, so a
    // negative value with a fraction (`-00:00:01.50`) underflows (panic in debug builds, a
    // wrong value in release). Same arithmetic as MySQL's my_time_packed_from_binary.
    if col.ty == mysql_common::constants::ColumnType::MYSQL_TYPE_TIME2 && matches!(col.meta.first(), Some(1 | 2)) {
        let b = buf.checked_eat(4).ok_or_else(|| bad("truncated TIME"))?;
        let mut int_part = ((b[0] as i64) << 16 | (b[1] as i64) << 8 | b[2] as i64) - 0x80_0000;
        let mut frac = b[3] as i64;
        if int_part < 0 && frac > 0 {
            int_part += 1;
            frac -= 0x100;
        }
        let packed = (int_part << 24) + frac * 10_000;
        return Ok(Parsed::Value(convert(&col.kind, mysql_common::binlog::misc::time_from_packed(packed))?));
    }
    // mysql_common indexes the column metadata without checking its length: a corrupt
    // TABLE_MAP would panic there. Bytes of metadata per type: MySQL's
    // Table_map_log_event::save_field_metadata.
    if col.meta.len() < meta_len(col.ty) {
        return Err(bad(format!("column metadata of {:?} too short ({} bytes)", col.ty, col.meta.len())));
    }
    // mysql_common sizes a DECIMAL from `precision - scale` without checking: a scale above
    // the precision underflows (a panic in debug builds, a huge read in release). MySQL caps
    // DECIMAL at 65 digits with at most 30 after the point (MySQL manual 13.1.3, "Fixed-Point
    // Types"), so anything else is a corrupt TABLE_MAP.
    if col.ty == mysql_common::constants::ColumnType::MYSQL_TYPE_NEWDECIMAL {
        let (precision, scale) = (col.meta[0], col.meta[1]);
        if precision == 0 || precision > 65 || scale > 30 || scale > precision {
            return Err(bad(format!("DECIMAL({precision},{scale}) in the TABLE_MAP is not a valid MySQL DECIMAL")));
        }
    }
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
            return Ok(Parsed::Value(Value::Json(json)));
        }
        BinlogValue::JsonDiff(d) => {
            return Ok(Parsed::JsonDiff(d.into_iter().map(|x| x.into_owned()).collect()));
        }
    };
    Ok(Parsed::Value(convert(&col.kind, my)?))
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

fn convert(kind: &Kind, v: MyValue) -> io::Result<Value> {
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
            Value::Decimal(String::from_utf8(b).map_err(|_| bad("DECIMAL text not ASCII"))?)
        }
        (Kind::Date, M::Date(y, m, d, ..)) => match NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32) {
            Some(date) if y != 0 => Value::Date(date),
            _ => zero_date(),
        },
        (Kind::DateTime { precision }, M::Date(y, mo, d, h, mi, s, us)) => {
            match NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
                .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us))
            {
                Some(value) if y != 0 => Value::DateTime { value, precision: *precision },
                _ => zero_date(),
            }
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
        (Kind::Text(cs), M::Bytes(b)) => decode_text(b, *cs),
        (Kind::FixedBinary(n), M::Bytes(mut b)) => {
            if b.len() < *n {
                b.resize(*n, 0);
            }
            Value::Bytes(b)
        }
        (Kind::Bytes, M::Bytes(b)) => Value::Bytes(b),
        (Kind::Enum(labels), M::Int(i)) => {
            if labels.is_empty() {
                // No labels known (no metadata and no schema): the 1-based index.
                Value::Int(i)
            } else if i == 0 {
                Value::String(String::new())
            } else {
                match labels.get(i as usize - 1) {
                    Some(l) => Value::String(l.clone()),
                    None => return Err(bad(format!("ENUM index {i} beyond {} labels", labels.len()))),
                }
            }
        }
        (Kind::Set(labels), M::Bytes(b)) => {
            let mut mask = 0u64;
            for (i, byte) in b.iter().enumerate().take(8) {
                mask |= (*byte as u64) << (8 * i);
            }
            if labels.is_empty() {
                Value::UInt(mask)
            } else {
                let mut out = String::new();
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

/// Applies MySQL JSON diffs (`binlog_row_value_options=PARTIAL_JSON`) to the before-image
/// document. Paths use MySQL's JSON path syntax (`$`, `.key`, `."key"`, `[n]`).
///
/// When the before image does not carry the document (`binlog_row_image=MINIMAL` together with
/// PARTIAL_JSON — the precheck rejects both; seen in old files), the new document cannot be
/// rebuilt and the value is the diff itself:
/// `{"$json_diff":[{"op":"replace"|"insert"|"remove","path":"$.a","value":...}]}`.
pub(crate) fn apply_json_diffs(before: &Value, diffs: &[JsonDiff<'static>]) -> io::Result<Value> {
    let mut doc = match before {
        Value::Json(j) => j.clone(),
        Value::Null => {
            let mut list = Vec::with_capacity(diffs.len());
            for d in diffs {
                let op = match d.operation() {
                    JsonDiffOperation::REPLACE => "replace",
                    JsonDiffOperation::INSERT => "insert",
                    JsonDiffOperation::REMOVE => "remove",
                };
                let value = match d.value() {
                    Some(v) => serde_json::Value::from(v.clone().parse().map_err(|e| bad(format!("JSON: {e}")))?),
                    None => serde_json::Value::Null,
                };
                list.push(serde_json::json!({"op": op, "path": d.path_str(), "value": value}));
            }
            return Ok(Value::Json(serde_json::json!({ "$json_diff": list })));
        }
        other => return Err(bad(format!("JSON diff on a non-JSON before value {other:?}"))),
    };
    for d in diffs {
        let path = parse_path(&d.path_str())?;
        let value = match d.value() {
            Some(v) => Some(serde_json::Value::from(v.clone().parse().map_err(|e| bad(format!("JSON: {e}")))?)),
            None => None,
        };
        let (last, parents) = path.split_last().ok_or_else(|| bad("JSON diff on the root"))?;
        let mut cur = &mut doc;
        for step in parents {
            cur = match (step, cur) {
                (Step::Key(k), serde_json::Value::Object(m)) => {
                    m.get_mut(k).ok_or_else(|| bad("JSON diff path not found"))?
                }
                (Step::Index(i), serde_json::Value::Array(a)) => {
                    a.get_mut(*i).ok_or_else(|| bad("JSON diff path not found"))?
                }
                _ => return Err(bad("JSON diff path does not match the document")),
            };
        }
        match (d.operation(), last, cur) {
            (JsonDiffOperation::REMOVE, Step::Key(k), serde_json::Value::Object(m)) => {
                m.shift_remove(k);
            }
            (JsonDiffOperation::REMOVE, Step::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
            }
            (_, Step::Key(k), serde_json::Value::Object(m)) => {
                m.insert(k.clone(), value.ok_or_else(|| bad("JSON diff without value"))?);
            }
            (JsonDiffOperation::INSERT, Step::Index(i), serde_json::Value::Array(a)) => {
                let v = value.ok_or_else(|| bad("JSON diff without value"))?;
                let at = (*i).min(a.len());
                a.insert(at, v);
            }
            (JsonDiffOperation::REPLACE, Step::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
                a[*i] = value.ok_or_else(|| bad("JSON diff without value"))?;
            }
            _ => return Err(bad("JSON diff does not apply to the document")),
        }
    }
    Ok(Value::Json(doc))
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(p: &str) -> io::Result<Vec<Step>> {
    let b = p.as_bytes();
    if b.first() != Some(&b'$') {
        return Err(bad(format!("JSON path `{p}`")));
    }
    let mut i = 1;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'"') => {
                let mut j = i + 2;
                let mut key = String::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 1;
                    }
                    key.push(b[j] as char);
                    j += 1;
                }
                out.push(Step::Key(key));
                i = j + 1;
            }
            b'.' => {
                let j = p[i + 1..].find(['.', '[']).map(|x| x + i + 1).unwrap_or(b.len());
                out.push(Step::Key(p[i + 1..j].to_string()));
                i = j;
            }
            b'[' => {
                let j = p[i..].find(']').map(|x| x + i).ok_or_else(|| bad(format!("JSON path `{p}`")))?;
                let n = p[i + 1..j].trim().parse().map_err(|_| bad(format!("JSON path `{p}`")))?;
                out.push(Step::Index(n));
                i = j + 1;
            }
            _ => return Err(bad(format!("JSON path `{p}`"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_common::constants::ColumnType;

    use super::*;

    fn col(ty: ColumnType, meta: &[u8], unsigned: bool, kind: Kind) -> ColumnPlan {
        ColumnPlan { ty, meta: meta.into(), unsigned, kind }
    }

    fn one(c: &ColumnPlan, bytes: &[u8]) -> Value {
        let mut buf = ParseBuf(bytes);
        match parse_value(c, false, &mut buf).unwrap() {
            Parsed::Value(v) => {
                assert!(buf.is_empty(), "consumed exactly the value");
                v
            }
            Parsed::JsonDiff(_) => panic!("diff"),
        }
    }

    #[test]
    fn mediumint_is_sign_extended_and_unsigned_is_not() {
        let s = col(ColumnType::MYSQL_TYPE_INT24, &[], false, Kind::Int { unsigned: false });
        assert_eq!(one(&s, &[0x00, 0x00, 0x80]), Value::Int(-8_388_608));
        assert_eq!(one(&s, &[0xff, 0xff, 0xff]), Value::Int(-1));
        let u = col(ColumnType::MYSQL_TYPE_INT24, &[], true, Kind::Int { unsigned: true });
        assert_eq!(one(&u, &[0xff, 0xff, 0xff]), Value::UInt(16_777_215));
    }

    #[test]
    fn year_set_bit_and_enum() {
        let y = col(ColumnType::MYSQL_TYPE_YEAR, &[], false, Kind::Year);
        assert_eq!(one(&y, &[0]), Value::Int(0));
        assert_eq!(one(&y, &[124]), Value::Int(2024));
        let labels: Arc<[String]> = vec!["a".to_string(), "b".into(), "c".into()].into();
        let set = col(ColumnType::MYSQL_TYPE_SET, &[248, 1], false, Kind::Set(labels.clone()));
        assert_eq!(one(&set, &[0b101]), Value::String("a,c".into()));
        let en = col(ColumnType::MYSQL_TYPE_ENUM, &[247, 1], false, Kind::Enum(labels));
        assert_eq!(one(&en, &[2]), Value::String("b".into()));
        assert_eq!(one(&en, &[0]), Value::String(String::new()));
        let bit = col(ColumnType::MYSQL_TYPE_BIT, &[1, 1], false, Kind::Bit);
        assert_eq!(one(&bit, &[0x01, 0x15]), Value::Bit(0x115));
    }

    #[test]
    fn decimal_with_impossible_precision_or_scale_is_an_error_not_a_panic() {
        // Found by prop_decode in CI: DECIMAL(5,200) made mysql_common underflow.
        for meta in [[5u8, 200u8], [0, 0], [66, 2], [40, 31]] {
            let d = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &meta, false, Kind::Decimal);
            let err = parse_value(&d, false, &mut ParseBuf(&[0x80; 40])).err().expect("an error");
            assert!(err.to_string().contains("not a valid MySQL DECIMAL"), "{meta:?}: {err}");
        }
        let ok = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[5, 2], false, Kind::Decimal);
        // 123.45 as DECIMAL(5,2): 3 integer digits in 2 bytes, 2 fraction digits in 1 byte.
        assert_eq!(one(&ok, &[0x80, 0x7b, 0x2d]), Value::Decimal("123.45".into()));
    }

    #[test]
    fn json_paths() {
        let p = parse_path("$.a[2].\"b c\"").unwrap();
        assert!(matches!(&p[..], [Step::Key(a), Step::Index(2), Step::Key(bc)] if a == "a" && bc == "b c"));
        assert!(parse_path("a.b").is_err());
    }
}
