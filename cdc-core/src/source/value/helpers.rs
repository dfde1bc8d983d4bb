//! The small pieces both value paths share (a leaf of `value`): the error constructors, the
//! zero-date rule, text decoding, and the DATE/DATETIME/ENUM value builders.

use std::io;

use chrono::NaiveDate;

use crate::event::{CompactString, Value};
use crate::metrics;
use crate::source::column::Charset;

pub(super) fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

pub(super) fn zero_date() -> Value {
    ::metrics::counter!(metrics::ZERO_DATES_TOTAL).increment(1);
    Value::Null
}

/// Decodes text in `cs` (bytes for the `binary` character set).
pub(crate) fn decode_text(bytes: &[u8], cs: Charset) -> Value {
    match cs {
        Charset::Binary => Value::Bytes(bytes.to_vec()),
        Charset::Latin1 => Value::String(bytes.iter().map(|&b| b as char).collect()),
        Charset::Utf8 | Charset::Other => match std::str::from_utf8(bytes) {
            Ok(s) => Value::String(CompactString::new(s)),
            Err(_) => Value::String(CompactString::from_utf8_lossy(bytes)),
        },
    }
}

/// The error mysql_common's parser gives for a value cut short.
pub(super) fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "can't parse: buf doesn't have enough data")
}

pub(super) fn date_value(y: u16, m: u8, d: u8) -> Value {
    match NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32) {
        Some(date) if y != 0 => Value::Date(date),
        _ => zero_date(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn datetime_value(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32, precision: u8) -> Value {
    match NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
        .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us))
    {
        Some(value) if y != 0 => Value::DateTime { value, precision },
        _ => zero_date(),
    }
}

/// The error for a value whose bytes MySQL never writes (a corrupt rows event); the text says
/// so, and the fast-path tests recognise it by the phrase "never written by MySQL".
pub(super) fn never_written(what: impl std::fmt::Display) -> io::Error {
    bad(format!("{what}: never written by MySQL (corrupt rows event)"))
}

/// The ENUM value of 1-based index `i`: its label, `""` for 0 (MySQL's error value), or the
/// index itself when no labels are known (no metadata and no schema). Errors: an index beyond
/// the labels.
pub(super) fn enum_value(labels: &[String], i: i64) -> io::Result<Value> {
    Ok(if labels.is_empty() {
        Value::Int(i)
    } else if i == 0 {
        Value::String(CompactString::default())
    } else {
        match labels.get(i as usize - 1) {
            Some(l) => Value::String(CompactString::new(l)),
            None => return Err(bad(format!("ENUM index {i} beyond {} labels", labels.len()))),
        }
    })
}
