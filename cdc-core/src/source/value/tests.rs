//! Tests of the value parsers: known vectors, and the fast path against the generic parser on
//! random bytes (proptest).

use std::io;
use std::sync::Arc;

use chrono::NaiveDate;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use super::decimal::{DIG_TO_BYTES, POW10};
use super::fast::{frac_micros, parse_fast};
use super::generic::{parse_value_generic, Parsed};
use super::json_diff::{parse_path, Step};
use super::parse::{check_meta, parse_value};
use crate::event::{CompactString, Value};
use crate::source::column::{frac_len, Charset, ColumnPlan, Kind};

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
    let dec =
        |p: u8, s: u8, bytes: &[u8]| one(&col(ColumnType::MYSQL_TYPE_NEWDECIMAL, &[p, s], false, Kind::Decimal), bytes);
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
        let mut buf = ParseBuf(&bytes[..bytes.len().min(if c.ty == ColumnType::MYSQL_TYPE_LONG_BLOB { 7 } else { 3 })]);
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
    let names = ["INT", "BIGINT UNSIGNED", "DECIMAL(12,2)", "DATETIME", "TIMESTAMP(3)", "VARCHAR", "DOUBLE", "DATE"];
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
