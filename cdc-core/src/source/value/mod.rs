//! One column value: parse it from a row image and turn it into the contract's [`Value`]
//! following the column's [`Kind`] (see README.md, "The event contract").
//!
//! Each column's reading rule ([`ValueOp`]) is chosen once per TABLE_MAP. The common types
//! (integers, FLOAT/DOUBLE, DATE, DATETIME2, TIMESTAMP2, DECIMAL, CHAR/VARCHAR, BLOB/TEXT, ENUM)
//! are read straight from the row bytes into the row's value vector ([`push_fast`]); the others
//! go through mysql_common's `BinlogValue` parser and [`convert`] ([`parse_value_generic`]).
//! Both give the same result: the tests below compare them on random bytes.
//!
//! Facts used: the binlog value encodings of the MySQL source (`sql/log_event.cc`,
//! `log_event_print_value`; `mysys/my_time.cc`; `strings/decimal.c`, bin2decimal), as
//! implemented by `mysql_common::binlog::value::BinlogValue`.

use std::io;

use chrono::NaiveDate;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::value::BinlogValue;

use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;

#[cfg(test)]
use super::column::frac_len;
use super::column::{check_meta_of, Charset, ColumnPlan, Kind, ValueOp};
use crate::event::{CompactString, Value};
use crate::metrics;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn zero_date() -> Value {
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

/// A parsed non-null column value: either a contract value or a JSON diff (MySQL
/// PARTIAL_UPDATE_ROWS_EVENT) still to be applied to the before image.
pub(crate) enum Parsed {
    Value(Value),
    JsonDiff(Vec<JsonDiff<'static>>),
}

/// Parses one non-NULL value of column `col` from `buf`.
pub(crate) fn parse_value(col: &ColumnPlan, is_partial: bool, buf: &mut ParseBuf<'_>) -> io::Result<Parsed> {
    match col.op {
        // YEAR is read here: mysql_common renders the raw byte 0 (= year 0000) as "1900".
        ValueOp::Year => {
            let b = buf.checked_eat(1).ok_or_else(|| bad("truncated YEAR"))?[0];
            Ok(Parsed::Value(Value::Int(if b == 0 { 0 } else { 1900 + b as i64 })))
        }
        // MEDIUMINT is read here too: mysql_common 0.37 does not sign-extend negative INT24
        // values (-8388608 came out as 8388608 in tests/tests/source/types.rs).
        ValueOp::Int24 => {
            let b = buf.checked_eat(3).ok_or_else(|| bad("truncated MEDIUMINT"))?;
            let raw = b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16;
            Ok(Parsed::Value(if col.unsigned {
                Value::UInt(raw as u64)
            } else {
                Value::Int(((raw << 8) as i32 >> 8) as i64)
            }))
        }
        // TIME(1)/TIME(2) are read here: mysql_common 0.37 keeps their fraction in a u32, so a
        // negative value with a fraction (`-00:00:01.50`) underflows (panic in debug builds, a
        // wrong value in release). Same arithmetic as MySQL's my_time_packed_from_binary.
        ValueOp::ShortTime2 => {
            let b = buf.checked_eat(4).ok_or_else(|| bad("truncated TIME"))?;
            let mut int_part = ((b[0] as i64) << 16 | (b[1] as i64) << 8 | b[2] as i64) - 0x80_0000;
            let mut frac = b[3] as i64;
            if int_part < 0 && frac > 0 {
                int_part += 1;
                frac -= 0x100;
            }
            let packed = (int_part << 24) + frac * 10_000;
            Ok(Parsed::Value(convert(&col.kind, mysql_common::binlog::misc::time_from_packed(packed))?))
        }
        ValueOp::BadMeta => {
            check_meta(col)?;
            parse_value_generic(col, is_partial, buf)
        }
        ValueOp::Generic => parse_value_generic(col, is_partial, buf),
        _ => match parse_fast(col, buf)? {
            Some(v) => Ok(Parsed::Value(v)),
            None => parse_value_generic(col, is_partial, buf),
        },
    }
}

/// Rejects column metadata the parsers cannot use (before [`parse_fast`] and
/// [`parse_value_generic`], which both rely on it).
fn check_meta(col: &ColumnPlan) -> io::Result<()> {
    check_meta_of(col.ty, &col.meta)
}

/// The general parser: mysql_common's `BinlogValue` then [`convert`]. Used for the types
/// [`parse_fast`] leaves alone, and by the tests as the reference the fast path must match.
/// Expects [`check_meta`] to have passed.
fn parse_value_generic(col: &ColumnPlan, is_partial: bool, buf: &mut ParseBuf<'_>) -> io::Result<Parsed> {
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

/// The error mysql_common's parser gives for a value cut short.
fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "can't parse: buf doesn't have enough data")
}

/// The next `n` bytes of `view`, which moves past them. Works on a plain slice (not
/// mysql_common's `ParseBuf`) so that the read position stays in a register.
#[inline(always)]
fn take<'a>(view: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    let (head, rest) = view.split_at_checked(n).ok_or_else(eof)?;
    *view = rest;
    Ok(head)
}

#[inline(always)]
fn take_arr<const N: usize>(view: &mut &[u8]) -> io::Result<[u8; N]> {
    let (head, rest) = view.split_first_chunk::<N>().ok_or_else(eof)?;
    *view = rest;
    Ok(*head)
}

/// The fractional part in microseconds, read big-endian and signed like mysql_common's
/// my_datetime_packed_from_binary / my_timestamp_from_binary.
fn frac_micros(frac: &[u8]) -> i32 {
    match *frac {
        [a] => a as i8 as i32 * 10_000,
        [a, b] => i16::from_be_bytes([a, b]) as i32 * 100,
        [a, b, c] => (i32::from_be_bytes([a, b, c, 0])) >> 8,
        _ => 0,
    }
}

fn int_value(v: i64, unsigned: bool) -> Value {
    if unsigned {
        Value::UInt(v as u64)
    } else {
        Value::Int(v)
    }
}

fn date_value(y: u16, m: u8, d: u8) -> Value {
    match NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32) {
        Some(date) if y != 0 => Value::Date(date),
        _ => zero_date(),
    }
}

#[allow(clippy::too_many_arguments)]
fn datetime_value(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32, precision: u8) -> Value {
    match NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
        .and_then(|date| date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us))
    {
        Some(value) if y != 0 => Value::DateTime { value, precision },
        _ => zero_date(),
    }
}

/// Parses the common fixed-width and length-prefixed types straight from the row bytes,
/// with the same result as [`parse_value_generic`] (the tests below compare both on random
/// bytes). `Ok(None)`: left to the generic parser, `buf` untouched — other types and a column
/// kind that does not fit the type. Byte patterns MySQL never writes and on which mysql_common
/// overflows (negative DATETIME2, DECIMAL digit groups out of range) are an `InvalidData`
/// error saying so. On a truncated value: the same `UnexpectedEof` error as the generic parser.
/// `buf` is untouched on every error. A column whose metadata fails [`check_meta`]
/// ([`ValueOp::BadMeta`]) is declined. Used where one value is wanted (the generic entry
/// point, the tests); the row reader calls [`push_fast`].
fn parse_fast(col: &ColumnPlan, buf: &mut ParseBuf<'_>) -> io::Result<Option<Value>> {
    let mut one = Vec::with_capacity(1);
    Ok(if push_fast(col, buf, &mut one)? { one.pop() } else { None })
}

/// [`parse_fast`] that appends the value to `out` (`Ok(true)`) instead of returning it: the
/// value is built in its final place, not moved through `Result`s (those moves of a 32-byte
/// enum cost more than parsing most values). `Ok(false)`: declined, `buf` and `out` untouched.
#[inline(always)]
pub(crate) fn push_fast(col: &ColumnPlan, buf: &mut ParseBuf<'_>, out: &mut Vec<Value>) -> io::Result<bool> {
    let mut view: &[u8] = buf.0;
    let v = match col.op {
        ValueOp::Int { width, unsigned_src, unsigned_out } => {
            let v = match width {
                1 => {
                    let [a] = take_arr::<1>(&mut view)?;
                    if unsigned_src {
                        a as i64
                    } else {
                        a as i8 as i64
                    }
                }
                2 => {
                    let b = take_arr(&mut view)?;
                    if unsigned_src {
                        u16::from_le_bytes(b) as i64
                    } else {
                        i16::from_le_bytes(b) as i64
                    }
                }
                4 => {
                    let b = take_arr(&mut view)?;
                    if unsigned_src {
                        u32::from_le_bytes(b) as i64
                    } else {
                        i32::from_le_bytes(b) as i64
                    }
                }
                // Signed or not, the 64 bits end up the same (convert: UInt(u) as i64, Int(i) as u64).
                _ => i64::from_le_bytes(take_arr(&mut view)?),
            };
            int_value(v, unsigned_out)
        }
        ValueOp::Float => Value::Float(f32::from_le_bytes(take_arr(&mut view)?)),
        ValueOp::Double => Value::Double(f64::from_le_bytes(take_arr(&mut view)?)),
        ValueOp::Date => {
            // 3 bytes little-endian: day (5 bits), month (4 bits), year (15 bits).
            let [a, b, c] = take_arr::<3>(&mut view)?;
            let raw = a as u32 | (b as u32) << 8 | (c as u32) << 16;
            date_value((raw >> 9) as u16, ((raw >> 5) & 15) as u8, (raw & 31) as u8)
        }
        ValueOp::DateTime2 { frac, precision } => {
            // 5 bytes big-endian, offset by 2^39: year*13+month (17 bits), day (5), hour (5),
            // minute (6), second (6); then the fraction (my_datetime_packed_from_binary).
            let b = take(&mut view, 5 + frac as usize)?;
            let raw = u64::from_be_bytes([0, 0, 0, b[0], b[1], b[2], b[3], b[4]]);
            let micros = frac_micros(&b[5..]);
            if raw < 0x80_0000_0000 || micros < 0 {
                // A negative packed value: never written by MySQL (mysql_common would overflow:
                // a panic in debug builds, a wrong date in release).
                return Err(never_written("DATETIME2 value below zero"));
            }
            let ymdhms = raw - 0x80_0000_0000;
            let (ymd, hms) = (ymdhms >> 17, ymdhms & 0x1_ffff);
            let ym = ymd >> 5;
            datetime_value(
                (ym / 13) as u16,
                (ym % 13) as u8,
                (ymd & 31) as u8,
                (hms >> 12) as u8,
                ((hms >> 6) & 63) as u8,
                (hms & 63) as u8,
                micros as u32,
                precision,
            )
        }
        ValueOp::Timestamp2 { frac, precision } => {
            // Seconds since the epoch, 4 bytes big-endian (read as an i32 like mysql_common),
            // then the fraction.
            let b = take(&mut view, 4 + frac as usize)?;
            let secs = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64;
            let micros = frac_micros(&b[4..]) as i64;
            if secs == 0 && micros == 0 {
                zero_date()
            } else {
                Value::Timestamp { micros: secs * 1_000_000 + micros, precision }
            }
        }
        ValueOp::Decimal { precision, scale } => {
            Value::Decimal(decimal_text(precision as usize, scale as usize, &mut view)?)
        }
        ValueOp::Chars { max_len } => {
            let n = string_length(&mut view, max_len as usize)?;
            bytes_value(&col.kind, take(&mut view, n)?)
        }
        ValueOp::Blob { len_bytes } => {
            let n = match len_bytes {
                1 => take_arr::<1>(&mut view)?[0] as usize,
                2 => u16::from_le_bytes(take_arr(&mut view)?) as usize,
                3 => {
                    let [a, b, c] = take_arr::<3>(&mut view)?;
                    u32::from_le_bytes([a, b, c, 0]) as usize
                }
                _ => u32::from_le_bytes(take_arr(&mut view)?) as usize,
            };
            bytes_value(&col.kind, take(&mut view, n)?)
        }
        ValueOp::Enum { width } => {
            let i = match width {
                1 => take_arr::<1>(&mut view)?[0] as i64,
                _ => u16::from_le_bytes(take_arr(&mut view)?) as i64,
            };
            match &col.kind {
                Kind::Enum(labels) => enum_value(labels, i)?,
                _ => return Ok(false),
            }
        }
        ValueOp::BadMeta | ValueOp::Year | ValueOp::Int24 | ValueOp::ShortTime2 | ValueOp::Generic => return Ok(false),
    };
    out.push(v);
    buf.0 = view;
    Ok(true)
}

/// The length prefix of a CHAR/VARCHAR value: one byte when the column holds at most 255 bytes
/// (`max_len`), else two, little-endian.
fn string_length(view: &mut &[u8], max_len: usize) -> io::Result<usize> {
    Ok(if max_len < 256 { take_arr::<1>(view)?[0] as usize } else { u16::from_le_bytes(take_arr(view)?) as usize })
}

/// A CHAR/VARCHAR/BLOB value as [`convert`] renders it for `kind` (Text, Bytes or
/// FixedBinary; anything else is not passed here).
fn bytes_value(kind: &Kind, bytes: &[u8]) -> Value {
    match kind {
        Kind::Text(cs) => decode_text(bytes, *cs),
        Kind::FixedBinary(n) => {
            let mut v = Vec::with_capacity(bytes.len().max(*n));
            v.extend_from_slice(bytes);
            if v.len() < *n {
                v.resize(*n, 0);
            }
            Value::Bytes(v)
        }
        _ => Value::Bytes(bytes.to_vec()),
    }
}

/// The error for a value whose bytes MySQL never writes (a corrupt rows event); the text says
/// so, and the fast-path tests recognise it by the phrase "never written by MySQL".
fn never_written(what: impl std::fmt::Display) -> io::Error {
    bad(format!("{what}: never written by MySQL (corrupt rows event)"))
}

/// Bytes of a DECIMAL group of 0..=9 digits (MySQL's dig2bytes).
const DIG_TO_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const POW10: [u32; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// The text of a DECIMAL(`precision`,`scale`) (validated by [`check_meta`]) read from `buf`,
/// exactly as mysql_common's `Decimal::read_bin` + `Display` write it: integer digits without
/// leading zeros (`0` when there are none), `scale` fraction digits, a `-` for negative values
/// including a negative zero with a fraction (`-0.00`) but not without one (`0`).
///
/// Encoding (MySQL strings/decimal.c, decimal2bin): big-endian groups of 9 digits in 4 bytes,
/// the leading integer group and the trailing fraction group shorter (dig2bytes), all bits
/// inverted for a negative value, then the top bit of the first byte flipped.
///
/// Errors (`buf` untouched): a group beyond its digits (never written by MySQL), a truncated
/// value.
fn decimal_text(precision: usize, scale: usize, buf: &mut &[u8]) -> io::Result<CompactString> {
    let intg = precision - scale;
    let (int_full, int_head) = (intg / 9, intg % 9);
    let (frac_full, frac_tail) = (scale / 9, scale % 9);
    let size = DIG_TO_BYTES[int_head] + 4 * int_full + 4 * frac_full + DIG_TO_BYTES[frac_tail];
    let bytes = buf.get(..size).ok_or_else(eof)?;
    let negative = bytes[0] & 0x80 == 0;
    let mask = if negative { u32::MAX } else { 0 };

    // At most 8 integer and 4 fraction groups (65 digits, 30 after the point).
    let mut groups = [0u32; 12];
    let digits = std::iter::repeat_n(int_head, usize::from(int_head > 0))
        .chain(std::iter::repeat_n(9, int_full + frac_full))
        .chain(std::iter::repeat_n(frac_tail, usize::from(frac_tail > 0)));
    let mut at = 0;
    for (i, digits) in digits.enumerate() {
        let len = DIG_TO_BYTES[digits];
        let mut raw = 0u32;
        for &b in &bytes[at..at + len] {
            raw = raw << 8 | b as u32;
        }
        if at == 0 {
            raw ^= 0x80 << (8 * (len - 1));
        }
        let v = (raw ^ mask) & (u32::MAX >> (32 - 8 * len));
        if v >= POW10[digits] {
            // mysql_common would overflow (a panic in debug builds, wrong digits in release).
            return Err(never_written(format!("DECIMAL digit group {v} wider than its {digits} digits")));
        }
        groups[i] = v;
        at += len;
    }
    *buf = &buf[size..];

    let int_groups = usize::from(int_head > 0) + int_full;
    let first_digit = groups[..int_groups].iter().position(|&g| g != 0);
    if first_digit.is_none() && scale == 0 {
        // mysql_common turns an all-zero value without fraction into a positive 0.
        return Ok(CompactString::const_new("0"));
    }
    // At most 65 digits, a sign and a point.
    let mut text = [0u8; 67];
    let mut n = 0;
    let mut put = |b: u8| {
        text[n] = b;
        n += 1;
    };
    if negative {
        put(b'-');
    }
    match first_digit {
        None => put(b'0'),
        Some(i) => {
            push_digits(&mut put, groups[i], 1);
            for &g in &groups[i + 1..int_groups] {
                push_digits(&mut put, g, 9);
            }
        }
    }
    if scale > 0 {
        put(b'.');
        for &g in &groups[int_groups..int_groups + frac_full] {
            push_digits(&mut put, g, 9);
        }
        if frac_tail > 0 {
            push_digits(&mut put, groups[int_groups + frac_full], frac_tail);
        }
    }
    // ASCII digits, sign and point only.
    Ok(CompactString::new(std::str::from_utf8(&text[..n]).map_err(|_| bad("DECIMAL text"))?))
}

/// Writes `v` (below 10^9) in decimal through `put`, zero-padded to at least `width` (1..=9)
/// digits.
fn push_digits(put: &mut impl FnMut(u8), mut v: u32, width: usize) {
    let mut tmp = [b'0'; 10];
    let mut i = tmp.len();
    while v > 0 || tmp.len() - i < width {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for &c in &tmp[i..] {
        put(c);
    }
}

/// The ENUM value of 1-based index `i`: its label, `""` for 0 (MySQL's error value), or the
/// index itself when no labels are known (no metadata and no schema). Errors: an index beyond
/// the labels.
fn enum_value(labels: &[String], i: i64) -> io::Result<Value> {
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

/// Applies MySQL JSON diffs (`binlog_row_value_options=PARTIAL_JSON`) to the before-image
/// document. Paths use MySQL's JSON path syntax (`$`, `.key`, `."key"`, `[n]`).
///
/// When the before image does not carry the document (`binlog_row_image=MINIMAL` together with
/// PARTIAL_JSON — the precheck rejects both; seen in old files), the new document cannot be
/// rebuilt and the value is the diff itself:
/// `{"$json_diff":[{"op":"replace"|"insert"|"remove","path":"$.a","value":...}]}`.
pub(crate) fn apply_json_diffs(before: &Value, diffs: &[JsonDiff<'static>]) -> io::Result<Value> {
    let mut doc = match before {
        Value::Json(j) => (**j).clone(),
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
            return Ok(Value::Json(Box::new(serde_json::json!({ "$json_diff": list }))));
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
    Ok(Value::Json(Box::new(doc)))
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
        ColumnPlan::new(ty, meta.into(), unsigned, kind)
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
        assert_eq!(one(&en, &[0]), Value::String(CompactString::default()));
        let bit = col(ColumnType::MYSQL_TYPE_BIT, &[1, 1], false, Kind::Bit);
        assert_eq!(one(&bit, &[0x01, 0x15]), Value::Bit(0x115));
    }

    #[test]
    fn a_set_is_as_long_as_its_metadata_says() {
        // The OceanBase binlog service writes a 40-member SET in (40 + 7) / 8 = 5 bytes with
        // metadata (248, 5) (oblogproxy data_type.cpp `fixed_len`); MySQL and MariaDB in 8.
        let labels: Arc<[String]> = (1..=40).map(|i| format!("m{i:02}")).collect::<Vec<_>>().into();
        let five = col(ColumnType::MYSQL_TYPE_SET, &[248, 5], false, Kind::Set(labels.clone()));
        let eight = col(ColumnType::MYSQL_TYPE_SET, &[248, 8], false, Kind::Set(labels));
        let want = Value::String("m01,m33,m40".into());
        assert_eq!(one(&five, &[0x01, 0, 0, 0, 0x81]), want);
        assert_eq!(one(&eight, &[0x01, 0, 0, 0, 0x81, 0, 0, 0]), want);
        // The next value starts right after the 5 bytes.
        let mut buf = ParseBuf(&[0x01, 0, 0, 0, 0x81, 0xaa][..]);
        assert!(matches!(parse_value(&five, false, &mut buf), Ok(Parsed::Value(v)) if v == want));
        assert_eq!(buf.0, [0xaa]);
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

    // ---- The fast path against the generic parser (mysql_common BinlogValue + convert) ----

    use proptest::prelude::*;

    type Outcome = Result<(Value, usize), io::ErrorKind>;

    /// `parse_fast` alone. None: declined (then `buf` must be untouched).
    fn run_fast(c: &ColumnPlan, bytes: &[u8]) -> Option<Outcome> {
        check_meta(c).expect("test metadata is valid");
        let mut buf = ParseBuf(bytes);
        match parse_fast(c, &mut buf) {
            Ok(Some(v)) => Some(Ok((v, bytes.len() - buf.len()))),
            Ok(None) => {
                assert_eq!(buf.len(), bytes.len(), "declined without consuming");
                None
            }
            Err(e) => {
                assert_eq!(buf.len(), bytes.len(), "failed without consuming");
                if e.to_string().contains("never written by MySQL") {
                    // Refused on purpose where mysql_common would overflow: not comparable.
                    return None;
                }
                Some(Err(e.kind()))
            }
        }
    }

    /// The reference: the generic parser only (what `parse_value` did before the fast path).
    fn run_generic(c: &ColumnPlan, bytes: &[u8]) -> Outcome {
        check_meta(c).expect("test metadata is valid");
        let mut buf = ParseBuf(bytes);
        match parse_value_generic(c, false, &mut buf) {
            Ok(Parsed::Value(v)) => Ok((v, bytes.len() - buf.len())),
            Ok(Parsed::JsonDiff(_)) => panic!("diff"),
            Err(e) => Err(e.kind()),
        }
    }

    /// The entry point the decoder calls.
    fn run_full(c: &ColumnPlan, bytes: &[u8]) -> Outcome {
        let mut buf = ParseBuf(bytes);
        match parse_value(c, false, &mut buf) {
            Ok(Parsed::Value(v)) => Ok((v, bytes.len() - buf.len())),
            Ok(Parsed::JsonDiff(_)) => panic!("diff"),
            Err(e) => Err(e.kind()),
        }
    }

    /// Equal outcomes; FLOAT/DOUBLE compared bit for bit (NaN included).
    fn same(a: &Outcome, b: &Outcome) -> bool {
        match (a, b) {
            (Ok((Value::Float(x), n)), Ok((Value::Float(y), m))) => x.to_bits() == y.to_bits() && n == m,
            (Ok((Value::Double(x), n)), Ok((Value::Double(y), m))) => x.to_bits() == y.to_bits() && n == m,
            _ => a == b,
        }
    }

    /// The fast path agrees with the generic parser on `bytes`; with `must_handle` it must also
    /// not decline them. Declined bytes are not given to the generic parser here: those are
    /// byte patterns MySQL never writes, on which mysql_common may overflow (a panic in debug).
    fn check(c: &ColumnPlan, bytes: &[u8], must_handle: bool) -> Result<(), TestCaseError> {
        let Some(fast) = run_fast(c, bytes) else {
            prop_assert!(!must_handle, "fast path declined {c:?} {bytes:02x?}");
            return Ok(());
        };
        let generic = run_generic(c, bytes);
        prop_assert!(same(&fast, &generic), "{c:?} {bytes:02x?}: fast {fast:?}, generic {generic:?}");
        let full = run_full(c, bytes);
        prop_assert!(same(&fast, &full), "{c:?} {bytes:02x?}: fast {fast:?}, parse_value {full:?}");
        Ok(())
    }

    /// `bytes` followed by `tail`, or cut to `cut` bytes when given.
    fn finish(mut bytes: Vec<u8>, tail: &[u8], cut: Option<prop::sample::Index>) -> Vec<u8> {
        match cut {
            Some(i) => bytes.truncate(i.index(bytes.len())),
            None => bytes.extend_from_slice(tail),
        }
        bytes
    }

    fn int_type() -> impl Strategy<Value = ColumnType> {
        prop::sample::select(vec![
            ColumnType::MYSQL_TYPE_TINY,
            ColumnType::MYSQL_TYPE_SHORT,
            ColumnType::MYSQL_TYPE_LONG,
            ColumnType::MYSQL_TYPE_LONGLONG,
        ])
    }

    fn text_kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            prop::sample::select(vec![Charset::Utf8, Charset::Latin1, Charset::Binary, Charset::Other])
                .prop_map(Kind::Text),
            Just(Kind::Bytes),
            (0usize..300).prop_map(Kind::FixedBinary),
        ]
    }

    /// Text bytes: arbitrary, or valid UTF-8 with multi-byte characters.
    fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![prop::collection::vec(any::<u8>(), 0..300), "\\PC{0,80}".prop_map(String::into_bytes),]
    }

    /// Digits per DECIMAL group, in binlog order, for DECIMAL(p,s).
    fn decimal_groups(p: usize, s: usize) -> Vec<usize> {
        let intg = p - s;
        let mut g = Vec::new();
        if intg % 9 > 0 {
            g.push(intg % 9);
        }
        g.extend(std::iter::repeat_n(9, intg / 9 + s / 9));
        if s % 9 > 0 {
            g.push(s % 9);
        }
        g
    }

    /// MySQL's decimal2bin for the digit groups `values` (each below 10^digits).
    fn encode_decimal(p: usize, s: usize, negative: bool, values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for (digits, v) in decimal_groups(p, s).into_iter().zip(values) {
            let len = DIG_TO_BYTES[digits];
            let v = if negative { !v } else { *v };
            out.extend_from_slice(&v.to_be_bytes()[4 - len..]);
        }
        out[0] ^= 0x80;
        out
    }

    /// Fraction bytes of a DATETIME2/TIMESTAMP2 of `fsp` digits holding `raw` (in the unit of
    /// the stored field: 1/100 s, 1/10000 s or µs).
    fn encode_frac(fsp: u8, raw: u32) -> Vec<u8> {
        let len = frac_len(fsp);
        raw.to_be_bytes()[4 - len..].to_vec()
    }

    /// The largest stored fraction of `fsp` digits, plus one.
    fn frac_limit(fsp: u8) -> u32 {
        match frac_len(fsp) {
            1 => 100,
            2 => 10_000,
            3 => 1_000_000,
            _ => 1,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn fast_ints_match_generic(
            ty in int_type(),
            unsigned in any::<bool>(),
            kind_unsigned in any::<bool>(),
            bytes in prop::collection::vec(any::<u8>(), 0..10),
        ) {
            // A signedness mismatch between the parser flag and the kind is covered too.
            let c = col(ty, &[], unsigned, Kind::Int { unsigned: kind_unsigned });
            check(&c, &bytes, true)?;
        }

        #[test]
        fn fast_float_and_double_match_generic(
            double in any::<bool>(),
            bytes in prop::collection::vec(any::<u8>(), 0..10),
        ) {
            let c = if double {
                col(ColumnType::MYSQL_TYPE_DOUBLE, &[8], false, Kind::Double)
            } else {
                col(ColumnType::MYSQL_TYPE_FLOAT, &[4], false, Kind::Float)
            };
            check(&c, &bytes, true)?;
        }

        #[test]
        fn fast_date_matches_generic(
            y in prop_oneof![Just(0u32), 0u32..10_000, 0u32..32_768],
            m in 0u32..16,
            d in 0u32..32,
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        ) {
            let raw = y << 9 | m << 5 | d;
            let bytes = finish(raw.to_le_bytes()[..3].to_vec(), &tail, cut);
            check(&col(ColumnType::MYSQL_TYPE_NEWDATE, &[], false, Kind::Date), &bytes, true)?;
        }

        #[test]
        fn fast_datetime2_matches_generic_for_every_fsp(
            fsp in 0u8..=8,
            y in prop_oneof![Just(0u64), 0u64..10_000, 0u64..10_082],
            mo in prop_oneof![0u64..13, Just(0u64)],
            d in 0u64..32,
            h in prop_oneof![0u64..24, 0u64..32],
            mi in 0u64..64,
            s in 0u64..64,
            frac in any::<u32>(),
            zero_frac in any::<bool>(),
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        ) {
            let packed = ((y * 13 + mo) << 5 | d) << 17 | h << 12 | mi << 6 | s;
            let mut bytes = (packed + 0x80_0000_0000).to_be_bytes()[3..].to_vec();
            bytes.extend(encode_frac(fsp, if zero_frac { 0 } else { frac % frac_limit(fsp) }));
            let bytes = finish(bytes, &tail, cut);
            let c = col(ColumnType::MYSQL_TYPE_DATETIME2, &[fsp], false, Kind::DateTime { precision: fsp });
            check(&c, &bytes, true)?;
        }

        #[test]
        fn fast_datetime2_matches_generic_on_random_bytes(
            fsp in 0u8..=6,
            bytes in prop::collection::vec(any::<u8>(), 0..12),
        ) {
            let c = col(ColumnType::MYSQL_TYPE_DATETIME2, &[fsp], false, Kind::DateTime { precision: fsp });
            // Declines negative packed values (first byte below 0x80, negative fraction).
            check(&c, &bytes, bytes.len() < 5 + frac_len(fsp) || (bytes[0] >= 0x80 && frac_micros(&bytes[5..5 + frac_len(fsp)]) >= 0))?;
        }

        #[test]
        fn fast_timestamp2_matches_generic_for_every_fsp(
            fsp in 0u8..=8,
            secs in prop_oneof![Just(0u32), any::<u32>(), 0u32..2_147_483_648],
            frac in prop_oneof![Just(0u32), any::<u32>()],
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        ) {
            // Any fraction bytes, including "negative" ones: TIMESTAMP2 is never declined.
            let mut bytes = secs.to_be_bytes().to_vec();
            bytes.extend(encode_frac(fsp, frac));
            let bytes = finish(bytes, &tail, cut);
            let c = col(ColumnType::MYSQL_TYPE_TIMESTAMP2, &[fsp], false, Kind::Timestamp { precision: fsp });
            check(&c, &bytes, true)?;
        }

        #[test]
        fn fast_decimal_matches_generic(
            (p, s) in (1usize..=65).prop_flat_map(|p| (Just(p), 0..=p.min(30))),
            negative in any::<bool>(),
            picks in prop::collection::vec((0u8..4, any::<u32>()), 12),
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
        ) {
            // Each group: zero (often, to exercise leading-zero trimming and zero values), its
            // largest value, 1, or any value in range.
            let values: Vec<u32> = decimal_groups(p, s)
                .into_iter()
                .zip(&picks)
                .map(|(digits, &(how, r))| match how {
                    0 => 0,
                    1 => POW10[digits] - 1,
                    2 if r % 2 == 0 => 1,
                    _ => r % POW10[digits],
                })
                .collect();
            let bytes = finish(encode_decimal(p, s, negative, &values), &tail, cut);
            let c = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[p as u8, s as u8], false, Kind::Decimal);
            check(&c, &bytes, true)?;
        }

        #[test]
        fn fast_decimal_matches_generic_on_random_bytes(
            (p, s) in (1usize..=65).prop_flat_map(|p| (Just(p), 0..=p.min(30))),
            bytes in prop::collection::vec(any::<u8>(), 0..32),
        ) {
            // Out-of-range digit groups are refused as corrupt (not compared).
            let c = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[p as u8, s as u8], false, Kind::Decimal);
            check(&c, &bytes, false)?;
        }

        #[test]
        fn fast_varchar_matches_generic(
            var_string in any::<bool>(),
            max_len in prop_oneof![0u16..256, any::<u16>()],
            kind in text_kind(),
            content in text_bytes(),
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        ) {
            let ty = if var_string { ColumnType::MYSQL_TYPE_VAR_STRING } else { ColumnType::MYSQL_TYPE_VARCHAR };
            let mut bytes = if max_len < 256 {
                vec![content.len().min(255) as u8]
            } else {
                (content.len() as u16).to_le_bytes().to_vec()
            };
            bytes.extend_from_slice(&content[..if max_len < 256 { content.len().min(255) } else { content.len() }]);
            let bytes = finish(bytes, &tail, cut);
            check(&col(ty, &max_len.to_le_bytes(), false, kind), &bytes, true)?;
        }

        #[test]
        fn fast_char_matches_generic(
            meta in any::<[u8; 2]>(),
            kind in text_kind(),
            bytes in prop_oneof![
                text_bytes().prop_map(|c| { let mut b = vec![c.len().min(255) as u8]; b.extend(&c[..c.len().min(255)]); b }),
                text_bytes().prop_map(|c| { let mut b = (c.len() as u16).to_le_bytes().to_vec(); b.extend(c); b }),
                prop::collection::vec(any::<u8>(), 0..8),
            ],
        ) {
            check(&col(ColumnType::MYSQL_TYPE_STRING, &meta, false, kind), &bytes, true)?;
        }

        #[test]
        fn fast_blob_matches_generic_for_every_length_size(
            ty in prop::sample::select(vec![
                ColumnType::MYSQL_TYPE_TINY_BLOB,
                ColumnType::MYSQL_TYPE_BLOB,
                ColumnType::MYSQL_TYPE_MEDIUM_BLOB,
                ColumnType::MYSQL_TYPE_LONG_BLOB,
                ColumnType::MYSQL_TYPE_GEOMETRY,
                ColumnType::MYSQL_TYPE_VECTOR,
            ]),
            len_bytes in 0u8..=5,
            kind in text_kind(),
            // Now and then a value longer than 64 KiB, so the 3rd length byte is set.
            content in prop_oneof![20 => text_bytes(), 1 => prop::collection::vec(any::<u8>(), 65_536..70_000)],
            // A wrong length: any, or small with any upper bytes (a wrong byte order or width
            // then reads a short value where the real length runs past the end).
            claim in prop_oneof![
                2 => Just(None),
                1 => any::<u32>().prop_map(Some),
                1 => (any::<u16>(), 0u32..400).prop_map(|(high, low)| Some((high as u32) << 16 | low)),
            ],
            tail in prop::collection::vec(any::<u8>(), 0..3),
            cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        ) {
            // The length prefix: the content's (capped to what fits), or any claimed length.
            let n = if (1..=4).contains(&len_bytes) { 1u64 << (8 * len_bytes as u32) } else { 1 };
            let content = &content[..content.len().min(n as usize - 1)];
            let len = claim.map(|c| c as u64 % n).unwrap_or(content.len() as u64);
            let mut bytes = len.to_le_bytes()[..(len_bytes as usize).clamp(1, 4)].to_vec();
            bytes.extend_from_slice(content);
            let bytes = finish(bytes, &tail, cut);
            // Length-byte counts other than 1..=4 are left to mysql_common ("Unknown BLOB").
            check(&col(ty, &[len_bytes], false, kind), &bytes, (1..=4).contains(&len_bytes))?;
        }

        #[test]
        fn fast_enum_matches_generic(
            width in 0u8..=3,
            labels in prop::collection::vec("[a-z]{0,6}", 0..5),
            bytes in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            // An index beyond the labels is an error on both paths; widths other than 1 and 2
            // are left to mysql_common ("Unknown ENUM").
            let c = col(ColumnType::MYSQL_TYPE_ENUM, &[247, width], false, Kind::Enum(labels.into()));
            check(&c, &bytes, matches!(width, 1 | 2))?;
        }
    }

    /// Every DECIMAL(p,s) MySQL allows, with values that exercise the text rendering: zero,
    /// negative zero, the largest and smallest values, one unit in the last place, and a
    /// leading group of zeros.
    #[test]
    fn fast_decimal_matches_generic_for_every_precision_and_scale() {
        let mut checked = 0;
        for p in 1..=65usize {
            for s in 0..=p.min(30) {
                let groups = decimal_groups(p, s);
                let zero = vec![0; groups.len()];
                let max: Vec<u32> = groups.iter().map(|&d| POW10[d] - 1).collect();
                let mut ulp = zero.clone();
                *ulp.last_mut().unwrap() = 1;
                let mut head_zero = max.clone();
                head_zero[0] = 0;
                for values in [&zero, &max, &ulp, &head_zero] {
                    for negative in [false, true] {
                        let bytes = encode_decimal(p, s, negative, values);
                        let c = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[p as u8, s as u8], false, Kind::Decimal);
                        if let Err(e) = check(&c, &bytes, true) {
                            panic!("DECIMAL({p},{s}) {values:?} negative={negative}: {e}");
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 8 * (1..=65usize).map(|p| p.min(30) + 1).sum::<usize>());
    }

    #[test]
    fn known_vectors() {
        let dec = |p: u8, s: u8, bytes: &[u8]| {
            one(&col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[p, s], false, Kind::Decimal), bytes)
        };
        let text = |s: &str| Value::Decimal(s.into());
        assert_eq!(dec(5, 2, &[0x80, 0x7b, 0x2d]), text("123.45"));
        assert_eq!(dec(5, 2, &[0x7f, 0x84, 0xd2]), text("-123.45"));
        assert_eq!(dec(5, 2, &[0x80, 0x00, 0x00]), text("0.00"));
        assert_eq!(dec(5, 2, &[0x7f, 0xff, 0xff]), text("-0.00"), "negative zero keeps its sign with a fraction");
        assert_eq!(dec(3, 0, &[0x7f, 0xff]), text("0"), "but not without one");
        assert_eq!(dec(20, 0, &[0x8c, 0x14, 0x9a, 0xa4, 0x35, 0x0d, 0xfb, 0x38, 0xd2]), text("12345678901234567890"));
        assert_eq!(dec(20, 0, &[0x73, 0xeb, 0x65, 0x5b, 0xca, 0xf2, 0x04, 0xc7, 0x2d]), text("-12345678901234567890"));
        assert_eq!(dec(12, 3, &[0x80, 0x00, 0x00, 0x01, 0x01, 0xf4]), text("1.500"));
        assert_eq!(dec(18, 0, &[0x80, 0, 0, 0, 0, 0, 0, 123]), text("123"));
        assert_eq!(
            dec(30, 20, &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xe8]),
            text("-0.00000000000000000123")
        );

        let dt = col(ColumnType::MYSQL_TYPE_DATETIME2, &[6], false, Kind::DateTime { precision: 6 });
        let want = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(23, 59, 59, 123_456).unwrap();
        assert_eq!(
            one(&dt, &[0x99, 0xb2, 0xbb, 0x7e, 0xfb, 0x01, 0xe2, 0x40]),
            Value::DateTime { value: want, precision: 6 }
        );
        let dt0 = col(ColumnType::MYSQL_TYPE_DATETIME2, &[0], false, Kind::DateTime { precision: 0 });
        assert_eq!(one(&dt0, &[0x80, 0, 0, 0, 0]), Value::Null, "0000-00-00 00:00:00");

        let ts = col(ColumnType::MYSQL_TYPE_TIMESTAMP2, &[3], false, Kind::Timestamp { precision: 3 });
        assert_eq!(
            one(&ts, &[0x65, 0x53, 0xf1, 0x00, 0x04, 0xce]),
            Value::Timestamp { micros: 1_700_000_000_123_000, precision: 3 }
        );
        assert_eq!(one(&ts, &[0, 0, 0, 0, 0, 0]), Value::Null, "TIMESTAMP 0");

        let date = col(ColumnType::MYSQL_TYPE_NEWDATE, &[], false, Kind::Date);
        assert_eq!(one(&date, &[0x5d, 0xd0, 0x0f]), Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()));
        assert_eq!(one(&date, &[0, 0, 0]), Value::Null, "0000-00-00");

        let int = col(ColumnType::MYSQL_TYPE_LONGLONG, &[], true, Kind::Int { unsigned: true });
        assert_eq!(one(&int, &[0xff; 8]), Value::UInt(u64::MAX));
        let tiny = col(ColumnType::MYSQL_TYPE_TINY, &[], false, Kind::Int { unsigned: false });
        assert_eq!(one(&tiny, &[0x80]), Value::Int(-128));

        let bin = col(ColumnType::MYSQL_TYPE_STRING, &[0xfe, 4], false, Kind::FixedBinary(4));
        assert_eq!(one(&bin, &[2, b'a', b'b']), Value::Bytes(b"ab\0\0".to_vec()), "BINARY(4) padded");
        let latin1 = col(ColumnType::MYSQL_TYPE_VARCHAR, &[10, 0], false, Kind::Text(Charset::Latin1));
        assert_eq!(one(&latin1, &[2, b'a', 0xe9]), Value::String("aé".into()));
        let blob = col(ColumnType::MYSQL_TYPE_BLOB, &[2], false, Kind::Bytes);
        assert_eq!(one(&blob, &[3, 0, 1, 2, 3]), Value::Bytes(vec![1, 2, 3]));
    }

    #[test]
    fn truncated_fast_values_are_errors() {
        let cases = [
            col(ColumnType::MYSQL_TYPE_LONG, &[], false, Kind::Int { unsigned: false }),
            col(ColumnType::MYSQL_TYPE_DOUBLE, &[8], false, Kind::Double),
            col(ColumnType::MYSQL_TYPE_DATETIME2, &[6], false, Kind::DateTime { precision: 6 }),
            col(ColumnType::MYSQL_TYPE_TIMESTAMP2, &[6], false, Kind::Timestamp { precision: 6 }),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[65, 30], false, Kind::Decimal),
            col(ColumnType::MYSQL_TYPE_LONG_BLOB, &[4], false, Kind::Bytes),
        ];
        for c in &cases {
            // A LONGBLOB claiming 4 GiB with 3 bytes present: an error, no allocation.
            let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
            let mut buf =
                ParseBuf(&bytes[..bytes.len().min(if c.ty == ColumnType::MYSQL_TYPE_LONG_BLOB { 7 } else { 3 })]);
            let err = parse_value(c, false, &mut buf).err().expect("an error");
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{c:?}");
        }
    }

    /// Own micro-measurement, not a test: `cargo test --release -p cdc-core --lib -- --ignored
    /// value_parse_speed --nocapture`. Times the full parser (fast path) and the generic parser
    /// over the same synthetic rows.
    #[test]
    #[ignore]
    fn value_parse_speed() {
        let cols = [
            col(ColumnType::MYSQL_TYPE_LONG, &[], false, Kind::Int { unsigned: false }),
            col(ColumnType::MYSQL_TYPE_LONGLONG, &[], true, Kind::Int { unsigned: true }),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[12, 2], false, Kind::Decimal),
            col(ColumnType::MYSQL_TYPE_DATETIME2, &[0], false, Kind::DateTime { precision: 0 }),
            col(ColumnType::MYSQL_TYPE_TIMESTAMP2, &[3], false, Kind::Timestamp { precision: 3 }),
            col(ColumnType::MYSQL_TYPE_VARCHAR, &[0, 1], false, Kind::Text(Charset::Utf8)),
            col(ColumnType::MYSQL_TYPE_DOUBLE, &[8], false, Kind::Double),
            col(ColumnType::MYSQL_TYPE_NEWDATE, &[], false, Kind::Date),
        ];
        let names =
            ["INT", "BIGINT UNSIGNED", "DECIMAL(12,2)", "DATETIME", "TIMESTAMP(3)", "VARCHAR", "DOUBLE", "DATE"];
        // Column `k` of row `i`.
        let encode = |k: usize, i: u32, data: &mut Vec<u8>| match k {
            0 => data.extend_from_slice(&(i as i32).to_le_bytes()),
            1 => data.extend_from_slice(&(i as u64 * 7919).to_le_bytes()),
            2 => data.extend(encode_decimal(12, 2, i % 3 == 0, &[i % 10, i * 13 % 1_000_000_000, i % 100])),
            3 => {
                let packed =
                    ((2024u64 * 13 + 1 + (i % 12) as u64) << 5 | (1 + i % 28) as u64) << 17 | 12 << 12 | 34 << 6 | 56;
                data.extend_from_slice(&(packed + 0x80_0000_0000).to_be_bytes()[3..]);
            }
            4 => {
                data.extend_from_slice(&(1_700_000_000 + i).to_be_bytes());
                data.extend_from_slice(&((i % 1000) as u16 * 10).to_be_bytes());
            }
            5 => {
                let s = format!("customer-{i}@example.com");
                data.extend_from_slice(&(s.len() as u16).to_le_bytes());
                data.extend_from_slice(s.as_bytes());
            }
            6 => data.extend_from_slice(&(i as f64 * 1.5).to_le_bytes()),
            _ => data.extend_from_slice(&((2024u32 << 9 | 2 << 5 | (1 + i % 28)).to_le_bytes()[..3])),
        };
        let rows = 200_000u32;
        // Best of 5 runs over `rows` rows of the columns `which`, in ns per value.
        let time = |which: &[usize], f: &dyn Fn(&ColumnPlan, &mut ParseBuf<'_>) -> io::Result<Parsed>| {
            let mut data = Vec::new();
            for i in 0..rows {
                for &k in which {
                    encode(k, i, &mut data);
                }
            }
            let values = rows as usize * which.len();
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = std::time::Instant::now();
                let mut buf = ParseBuf(&data);
                let mut n = 0usize;
                while !buf.is_empty() {
                    for &k in which {
                        if let Parsed::Value(v) = f(&cols[k], &mut buf).unwrap() {
                            n += usize::from(!v.is_null());
                        }
                    }
                }
                assert_eq!(n, values);
                best = best.min(start.elapsed().as_secs_f64());
            }
            best * 1e9 / values as f64
        };
        let fast = |c: &ColumnPlan, b: &mut ParseBuf<'_>| parse_value(c, false, b);
        let generic = |c: &ColumnPlan, b: &mut ParseBuf<'_>| {
            check_meta(c)?;
            parse_value_generic(c, false, b)
        };
        let all: Vec<usize> = (0..cols.len()).collect();
        println!(
            "{rows} rows x {} columns: parse_value {:.1} ns/value, generic {:.1} ns/value",
            cols.len(),
            time(&all, &fast),
            time(&all, &generic)
        );
        for (k, name) in names.iter().enumerate() {
            println!("  {name:16} parse_value {:6.1} ns, generic {:6.1} ns", time(&[k], &fast), time(&[k], &generic));
        }
    }
}
