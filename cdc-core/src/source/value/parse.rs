//! The entry point for one value ([`parse_value`]): the few types read here (YEAR, MEDIUMINT,
//! short TIME2), the metadata check, then the fast path or the generic one.

use std::io;

use mysql_common::io::ParseBuf;

use super::fast::parse_fast;
use super::generic::{convert, parse_value_generic, Parsed};
use super::helpers::bad;
use crate::event::Value;
use crate::source::column::{check_meta_of, ColumnPlan, ValueOp};

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
pub(super) fn check_meta(col: &ColumnPlan) -> io::Result<()> {
    check_meta_of(col.ty, &col.meta)
}
