//! The value conversions: a contract [`Value`] to the text of a TUPLE field type ([`convert`]),
//! with the TUPLE texts of values and the field types' limits.

use std::fmt;

use base64::Engine as _;

use super::field_type::FieldType;
use crate::event::Value;

/// Largest STRING value: 2 MB (DataHub Limits page, datahub-protocol §8).
pub const MAX_STRING_BYTES: usize = 2 * 1024 * 1024;
/// Smallest TIMESTAMP, µs (0001-01-01T00:00:00Z, pydatahub's range, §8).
pub const TIMESTAMP_MIN_US: i64 = -62_135_798_400_000_000;
/// Largest TIMESTAMP, µs: pydatahub's bound (§8), which is 9999-12-31 23:59:59 in UTC+8, i.e.
/// the instant 9999-12-31T15:59:59Z (a DATETIME read as UTC after that instant is refused).
pub const TIMESTAMP_MAX_US: i64 = 253_402_271_999_000_000;

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
