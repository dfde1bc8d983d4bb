//! The fast path: the common types read straight from the row bytes into the row's value vector
//! ([`push_fast`], [`parse_fast`]) with the byte readers it uses.

use std::io;

use mysql_common::io::ParseBuf;

use super::decimal::decimal_text;
use super::helpers::{date_value, datetime_value, decode_text, enum_value, eof, never_written, zero_date};
use crate::event::Value;
use crate::source::column::{ColumnPlan, Kind, ValueOp};

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
pub(super) fn frac_micros(frac: &[u8]) -> i32 {
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

/// Parses the common fixed-width and length-prefixed types straight from the row bytes,
/// with the same result as [`parse_value_generic`](super::generic::parse_value_generic) (the
/// tests compare both on random bytes). `Ok(None)`: left to the generic parser, `buf`
/// untouched — other types and a column kind that does not fit the type. Byte patterns MySQL
/// never writes and on which mysql_common overflows (negative DATETIME2, DECIMAL digit groups
/// out of range) are an `InvalidData` error saying so. On a truncated value: the same
/// `UnexpectedEof` error as the generic parser. `buf` is untouched on every error. A column
/// whose metadata fails [`check_meta`](super::parse::check_meta) ([`ValueOp::BadMeta`]) is
/// declined. Used where one value is wanted (the generic entry point, the tests); the row
/// reader calls [`push_fast`].
pub(super) fn parse_fast(col: &ColumnPlan, buf: &mut ParseBuf<'_>) -> io::Result<Option<Value>> {
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

/// A CHAR/VARCHAR/BLOB value as [`convert`](super::generic::convert) renders it for `kind`
/// (Text, Bytes or FixedBinary; anything else is not passed here).
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
