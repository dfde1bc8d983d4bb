//! The value faults of the OceanBase binlog service: how oblogproxy's converter writes SET, ENUM,
//! BIGINT UNSIGNED and BIT values where MySQL (and the upstream MariaDB) write others. The
//! converter ([`crate::convert`]) passes every other value through as the upstream wrote it.
//!
//! oblogproxy does not copy binary values: obcdc hands it each value as text
//! (`ObObj2strHelper::obj2str`, oceanbase `src/logservice/libobcdc/src/ob_obj2str_helper.cpp`:
//! ENUM as its label, SET as its comma-joined labels, integers and BIT as decimal text) and
//! `get_column_val_bytes` in oblogproxy `src/binlog/data_type.cpp`
//! (<https://github.com/oceanbase/oblogproxy/blob/2d1e5030b8ddf8288f97c116d3993b51c4e51c0b/src/binlog/data_type.cpp>)
//! encodes the text again. Here the upstream's bytes are turned into that text and encoded as
//! oblogproxy does, one [`Quirk`] per behaviour:
//!
//! | Quirk | Column | What is written |
//! |---|---|---|
//! | [`Quirk::SetShortBitmap`] | SET of `n` members | a `(n + 7) / 8`-byte bitmap, TABLE_MAP metadata `(248, (n + 7) / 8)` |
//! | [`Quirk::SetPrefixMatch`] | SET | member `j` set when an item of the value starts with label `j` |
//! | [`Quirk::EnumPrefixMatch`] | ENUM | the first label that is a prefix of the value; none: 0 bytes |
//! | [`Quirk::UnsignedBigintAtoll`] | BIGINT UNSIGNED | `atoll` of the value: > 2^63−1 becomes 2^63−1 |
//! | [`Quirk::BitAtoi`] | BIT(n) | `(int) strtol` of the value, sign-extended, low `(n + 7) / 8` bytes |
//!
//! What a column needs beyond its TABLE_MAP type bytes — signedness, ENUM/SET labels — comes
//! from the upstream TABLE_MAP's optional metadata ([`ColumnFacts::of`]): labels need
//! `binlog_row_metadata=FULL` on the upstream, signedness MINIMAL or FULL. A column whose facts
//! are missing is left as the upstream wrote it.

use std::collections::BTreeSet;

use mysql_common::binlog::events::{OptionalMetadataField, TableMapEvent};

use crate::binlog::{col, meta_len, value_len, FormatError, TableMap};
use crate::Quirk;

/// The quirks of this module (those that change row values or their TABLE_MAP metadata).
pub const VALUE_QUIRKS: [Quirk; 5] =
    [Quirk::SetShortBitmap, Quirk::SetPrefixMatch, Quirk::EnumPrefixMatch, Quirk::UnsignedBigintAtoll, Quirk::BitAtoi];

/// Per-column facts of one upstream TABLE_MAP that its type bytes do not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnFacts {
    /// Per column: `Some(true)` for an UNSIGNED numeric column, `Some(false)` for a signed one,
    /// `None` for a non-numeric column or when the TABLE_MAP has no SIGNEDNESS metadata.
    pub unsigned: Vec<Option<bool>>,
    /// Per column: the ENUM or SET labels as bytes (in the column's character set), in
    /// definition order; `None` for other columns or when the TABLE_MAP has no
    /// ENUM_STR_VALUE / SET_STR_VALUE metadata.
    pub labels: Vec<Option<Vec<Vec<u8>>>>,
}

/// The real type of a column: ENUM/SET for a STRING whose metadata byte 0 says so (MySQL and
/// MariaDB write ENUM and SET as STRING, `Field_enum::binlog_type`), else the type byte.
fn real_type(t: u8, m: [u8; 2]) -> u8 {
    if t == col::STRING && (m[0] == col::ENUM || m[0] == col::SET) {
        m[0]
    } else {
        t
    }
}

impl ColumnFacts {
    /// The facts `tme` (the upstream's TABLE_MAP, parsed by mysql_common) carries in its
    /// optional metadata (MySQL `Table_map_log_event` SIGNEDNESS, ENUM_STR_VALUE and
    /// SET_STR_VALUE fields: one signedness bit per numeric column, one label list per ENUM or
    /// SET column, in column order). Errors: optional metadata that does not parse.
    pub fn of(tme: &TableMapEvent<'_>) -> Result<ColumnFacts, FormatError> {
        let n = tme.columns_count() as usize;
        let bad = |e: std::io::Error| FormatError(format!("TABLE_MAP optional metadata: {e}"));
        let mut signedness: Option<Vec<bool>> = None;
        let mut enums: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut sets: Vec<Vec<Vec<u8>>> = Vec::new();
        for field in tme.iter_optional_meta() {
            match field.map_err(bad)? {
                OptionalMetadataField::Signedness(bits) => signedness = Some(bits.iter().by_vals().collect()),
                OptionalMetadataField::EnumStrValue(v) => {
                    for e in v.iter_values() {
                        enums.push(e.map_err(bad)?.values().iter().map(|l| l.value_raw().to_vec()).collect());
                    }
                }
                OptionalMetadataField::SetStrValue(v) => {
                    for s in v.iter_values() {
                        sets.push(s.map_err(bad)?.values().iter().map(|l| l.value_raw().to_vec()).collect());
                    }
                }
                _ => {}
            }
        }
        let mut signed_bits = signedness.map(|v| v.into_iter());
        let (mut enums, mut sets) = (enums.into_iter(), sets.into_iter());
        let mut facts = ColumnFacts { unsigned: Vec::with_capacity(n), labels: Vec::with_capacity(n) };
        for i in 0..n {
            let ty = tme.get_column_type(i).map_err(|e| FormatError(format!("column {i}: {e}")))?;
            let numeric = ty.is_some_and(|t| t.is_numeric_type());
            facts.unsigned.push(if numeric { signed_bits.as_mut().and_then(|b| b.next()) } else { None });
            let raw = tme.get_raw_column_type(i).ok().flatten().map(|t| t as u8).unwrap_or(0);
            let meta = tme.get_column_metadata(i).unwrap_or_default();
            let m = [meta.first().copied().unwrap_or(0), meta.get(1).copied().unwrap_or(0)];
            facts.labels.push(match real_type(raw, m) {
                col::ENUM => enums.next(),
                col::SET => sets.next(),
                _ => None,
            });
        }
        Ok(facts)
    }

    /// Names of the facts a quirk of `quirks` needs for a column of `tm` and that are missing
    /// (`"signedness"`, `"ENUM/SET labels"`), for the converter's warning. Empty when nothing
    /// is missing.
    pub fn missing(&self, tm: &TableMap, quirks: &BTreeSet<Quirk>) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (i, (&t, &m)) in tm.types.iter().zip(&tm.meta).enumerate() {
            let rt = real_type(t, m);
            let labels = self.labels.get(i).is_some_and(Option::is_some);
            let wants_labels = (rt == col::ENUM && quirks.contains(&Quirk::EnumPrefixMatch))
                || (rt == col::SET
                    && (quirks.contains(&Quirk::SetPrefixMatch) || quirks.contains(&Quirk::SetShortBitmap)));
            if wants_labels && !labels && !out.contains(&"ENUM/SET labels") {
                out.push("ENUM/SET labels");
            }
            let sign = self.unsigned.get(i).is_some_and(Option::is_some);
            if rt == col::LONGLONG
                && quirks.contains(&Quirk::UnsignedBigintAtoll)
                && !sign
                && !out.contains(&"signedness")
            {
                out.push("signedness");
            }
        }
        out
    }
}

/// `(n + 7) / 8`: the SET bitmap length oblogproxy writes for `n` members (`fixed_len` in
/// `data_type.cpp`), 1 to 8 bytes for MySQL's 1 to 64 members.
pub fn short_set_len(members: usize) -> usize {
    members.div_ceil(8)
}

/// The TABLE_MAP the converter writes for upstream map `tm`: with [`Quirk::SetShortBitmap`],
/// each SET column whose labels are known gets metadata byte 1 = [`short_set_len`] (oblogproxy
/// `set_column_metadata`, `OB_TYPE_SET`); everything else as in `tm`.
pub fn output_table_map(tm: &TableMap, facts: &ColumnFacts, quirks: &BTreeSet<Quirk>) -> TableMap {
    let mut out = tm.clone();
    if !quirks.contains(&Quirk::SetShortBitmap) {
        return out;
    }
    let mut changed = false;
    for (i, (&t, m)) in tm.types.iter().zip(out.meta.iter_mut()).enumerate() {
        if real_type(t, *m) == col::SET {
            if let Some(Some(labels)) = facts.labels.get(i) {
                let len = short_set_len(labels.len()) as u8;
                changed |= m[1] != len;
                m[1] = len;
            }
        }
    }
    if changed {
        out.meta_raw =
            tm.types.iter().zip(&out.meta).flat_map(|(&t, m)| m[..meta_len(t)].iter().copied()).collect::<Vec<u8>>();
    }
    out
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))
}

/// glibc's `atoll` of the decimal text of `v` (`strtoll(s, NULL, 10)`): `v` when it fits an
/// `i64`, else `LLONG_MAX` (strtoll saturates on overflow, C11 7.22.1.4).
pub fn atoll_of_unsigned(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What oblogproxy's `binary_to_hex` makes of BIT value `v`: `std::bitset<64>(atoi(text))`
/// where glibc's `atoi` is `(int) strtol(s, NULL, 10)`: strtol saturates at `LONG_MAX`
/// (2^63−1 on LP64 Linux), the cast to `int` keeps the low 32 bits (GCC's modulo conversion),
/// and the `int` converted to the bitset's `unsigned long long` is sign-extended.
pub fn atoi_bitset_of(v: u64) -> u64 {
    let long = atoll_of_unsigned(v);
    let int = long as i32;
    int as i64 as u64
}

/// Re-encodes one row image (null bitmap over the `present` columns, then their non-NULL
/// values, as the upstream wrote it against upstream map `tm`) the way the quirks in `quirks`
/// say. Columns no quirk applies to, and columns whose facts are missing, are copied.
///
/// Errors: the image does not parse against `tm`.
pub fn reencode_image(
    tm: &TableMap,
    present: &[u8],
    image: &[u8],
    facts: &ColumnFacts,
    quirks: &BTreeSet<Quirk>,
) -> Result<Vec<u8>, FormatError> {
    let bit = |b: &[u8], i: usize| b.get(i / 8).is_some_and(|x| x & (1 << (i % 8)) != 0);
    let cols: Vec<usize> = (0..tm.types.len()).filter(|&i| bit(present, i)).collect();
    let nb = cols.len().div_ceil(8);
    let nulls = image.get(..nb).ok_or_else(|| FormatError("row null bitmap truncated".into()))?;
    let mut out = Vec::with_capacity(image.len());
    out.extend_from_slice(nulls);
    let mut p = nb;
    for (k, &c) in cols.iter().enumerate() {
        if bit(nulls, k) {
            continue;
        }
        let (t, m) = (tm.types[c], tm.meta[c]);
        let n = value_len(t, m, &image[p..])?;
        let v = image.get(p..p + n).ok_or_else(|| FormatError("row value runs past the image".into()))?;
        p += n;
        let labels = facts.labels.get(c).and_then(Option::as_ref);
        match (real_type(t, m), labels) {
            (col::SET, Some(labels)) => {
                let mut mask = le(v);
                if quirks.contains(&Quirk::SetPrefixMatch) {
                    // obcdc's text: the labels of the set bits, comma-joined; oblogproxy splits
                    // it at ',' and sets member j when an item starts with label j.
                    let items: Vec<&[u8]> = (0..labels.len().min(64))
                        .filter(|&j| mask & (1 << j) != 0)
                        .map(|j| labels[j].as_slice())
                        .collect();
                    mask = 0;
                    for (j, label) in labels.iter().enumerate().take(64) {
                        if items.iter().any(|item| item.starts_with(label)) {
                            mask |= 1 << j;
                        }
                    }
                }
                let len = if quirks.contains(&Quirk::SetShortBitmap) { short_set_len(labels.len()) } else { v.len() };
                out.extend_from_slice(&mask.to_le_bytes()[..len.min(8)]);
            }
            (col::ENUM, Some(labels)) if quirks.contains(&Quirk::EnumPrefixMatch) => {
                let idx = le(v) as usize;
                // Index 0 is MariaDB's empty "error" value: obcdc's text is ''.
                let text: &[u8] = match idx {
                    0 => b"",
                    i => match labels.get(i - 1) {
                        Some(l) => l,
                        None => {
                            out.extend_from_slice(v);
                            continue;
                        }
                    },
                };
                // No label matched: oblogproxy pushes a null buffer of length 0, nothing here.
                if let Some(j) = labels.iter().position(|l| text.starts_with(l)) {
                    out.extend_from_slice(&((j + 1) as u64).to_le_bytes()[..v.len()]);
                }
            }
            (col::LONGLONG, _)
                if quirks.contains(&Quirk::UnsignedBigintAtoll) && facts.unsigned.get(c) == Some(&Some(true)) =>
            {
                out.extend_from_slice(&atoll_of_unsigned(le(v)).to_le_bytes());
            }
            (col::BIT, _) if quirks.contains(&Quirk::BitAtoi) && v.len() <= 8 => {
                let b = atoi_bitset_of(be(v)).to_be_bytes();
                out.extend_from_slice(&b[8 - v.len()..]);
            }
            _ => out.extend_from_slice(v),
        }
    }
    if p != image.len() {
        return Err(FormatError(format!("row image of {} bytes, its values end at {p}", image.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_conversions() {
        assert_eq!(atoll_of_unsigned(u64::MAX), i64::MAX);
        assert_eq!(atoll_of_unsigned(1 << 63), i64::MAX);
        assert_eq!(atoll_of_unsigned(i64::MAX as u64), i64::MAX);
        assert_eq!(atoll_of_unsigned(42), 42);
        // BIT(32): exact, bit 31 included (the sign extension is cut off again).
        assert_eq!(atoi_bitset_of(0xffff_ffff) & 0xffff_ffff, 0xffff_ffff);
        assert_eq!(atoi_bitset_of(0x8000_0000), 0xffff_ffff_8000_0000);
        // Wider: the high 32 bits are lost.
        assert_eq!(atoi_bitset_of(0x1_0000_0005), 5);
        assert_eq!(atoi_bitset_of(u64::MAX), u64::MAX, "LONG_MAX cut to int is -1");
    }

    #[test]
    fn short_set_lengths() {
        let lens: Vec<usize> = [1, 8, 9, 32, 33, 40, 41, 56, 57, 64].into_iter().map(short_set_len).collect();
        assert_eq!(lens, [1, 1, 2, 4, 5, 5, 6, 7, 8, 8]);
    }
}
