//! DECIMAL: the binary digit groups of a NEWDECIMAL value read straight into its text
//! ([`decimal_text`], used by the fast path).

use std::io;

use super::helpers::{bad, eof, never_written};
use crate::event::CompactString;

/// Bytes of a DECIMAL group of 0..=9 digits (MySQL's dig2bytes).
pub(super) const DIG_TO_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
pub(super) const POW10: [u32; 10] =
    [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// The text of a DECIMAL(`precision`,`scale`) (validated by
/// [`check_meta`](super::parse::check_meta)) read from `buf`, exactly as mysql_common's
/// `Decimal::read_bin` + `Display` write it: integer digits without leading zeros (`0` when
/// there are none), `scale` fraction digits, a `-` for negative values including a negative
/// zero with a fraction (`-0.00`) but not without one (`0`).
///
/// Encoding (MySQL strings/decimal.c, decimal2bin): big-endian groups of 9 digits in 4 bytes,
/// the leading integer group and the trailing fraction group shorter (dig2bytes), all bits
/// inverted for a negative value, then the top bit of the first byte flipped.
///
/// Errors (`buf` untouched): a group beyond its digits (never written by MySQL), a truncated
/// value.
pub(super) fn decimal_text(precision: usize, scale: usize, buf: &mut &[u8]) -> io::Result<CompactString> {
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
