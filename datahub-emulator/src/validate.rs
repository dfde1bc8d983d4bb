//! What the service refuses before storing anything: resource names (datahub-protocol §1, the
//! naming rules) and TUPLE values, refused with `MalformedRecord` (§8: ranges and text spellings
//! per type).

use crate::model::{Field, FieldType, RecordSchema};

/// Largest STRING field: 2 MB (Limits page).
pub(crate) const MAX_STRING_BYTES: usize = 2 * 1024 * 1024;
/// TIMESTAMP range in µs accepted by pydatahub (years 0001–9999).
const TS_MIN_US: i64 = -62_135_798_400_000_000;
const TS_MAX_US: i64 = 253_402_271_999_000_000;

/// True when `n` is a valid project or topic name: `^[a-zA-Z][a-zA-Z0-9_]*$` with `min..=max`
/// characters (project 3–32, topic 1–128; §1 naming rules, the Limits page).
pub(crate) fn valid_name(n: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&n.len())
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks one tuple against the schema; the error text names the field and the problem.
pub(crate) fn check_tuple(schema: &RecordSchema, values: &[Option<String>]) -> Result<(), String> {
    if values.len() != schema.fields.len() {
        return Err(format!(
            "Record field count {} does not match schema field count {}",
            values.len(),
            schema.fields.len()
        ));
    }
    for (f, v) in schema.fields.iter().zip(values) {
        check_value(f, v.as_deref())?;
    }
    Ok(())
}

fn check_value(f: &Field, v: Option<&str>) -> Result<(), String> {
    let Some(v) = v else {
        return if f.not_null { Err(format!("Field {} is not nullable", f.name)) } else { Ok(()) };
    };
    let bad = || format!("Field {} has invalid {} value {:?}", f.name, f.field_type.as_str(), truncate(v));
    let ok = match f.field_type {
        FieldType::Bigint => v.parse::<i64>().is_ok_and(|n| n != i64::MIN),
        FieldType::Integer => v.parse::<i32>().is_ok(),
        FieldType::Smallint => v.parse::<i16>().is_ok(),
        FieldType::Tinyint => v.parse::<i8>().is_ok(),
        FieldType::Double => parse_float(v).is_some(),
        // A FLOAT is in range when its text parses as a finite f32 (as Java's Float.parseFloat
        // and Go's ParseFloat(_, 32) read it): the shortest text of f32::MAX, `3.4028235e38`,
        // is a hair above f32::MAX as a double but rounds to it as an f32.
        FieldType::Float => {
            parse_float(v).is_some_and(|x| !x.is_finite() || v.parse::<f32>().is_ok_and(f32::is_finite))
        }
        FieldType::Boolean => matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "1" | "0"),
        FieldType::Timestamp => v.parse::<i64>().is_ok_and(|n| (TS_MIN_US..=TS_MAX_US).contains(&n)),
        FieldType::String => {
            if v.len() > MAX_STRING_BYTES {
                return Err(format!("Field {} is longer than 2 MB ({} bytes)", f.name, v.len()));
            }
            true
        }
        FieldType::Decimal => is_decimal(v),
        FieldType::Json => serde_json::from_str::<serde_json::Value>(v).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

fn truncate(v: &str) -> &str {
    match v.char_indices().nth(64) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

/// Float text in any SDK's spelling: Python `1.5e+00`, `1.e+20`, `nan`, `inf`; Java `1.0E10`,
/// `NaN`, `Infinity`; Go `10.01`. Rust's parser accepts all of them.
pub(crate) fn parse_float(v: &str) -> Option<f64> {
    if v.is_empty() || v.trim() != v {
        return None;
    }
    v.parse::<f64>().ok()
}

/// Plain or scientific decimal text: `[+-]digits[.digits][e[+-]digits]`.
fn is_decimal(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mant.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mant, ""),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mant_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mant_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(t: FieldType) -> Field {
        Field::new("f", t)
    }

    #[test]
    fn ranges_and_spellings() {
        let ok = |t, v: &str| check_value(&f(t), Some(v)).is_ok();
        assert!(ok(FieldType::Bigint, "9223372036854775807"));
        assert!(!ok(FieldType::Bigint, "-9223372036854775808"));
        assert!(!ok(FieldType::Bigint, "1.0"));
        assert!(ok(FieldType::Integer, "-2147483648"));
        assert!(!ok(FieldType::Integer, "2147483648"));
        assert!(!ok(FieldType::Smallint, "32768"));
        assert!(!ok(FieldType::Tinyint, "128"));
        assert!(ok(FieldType::Tinyint, "-128"));
        for d in [
            "1.5e+00",
            "1.e+20",
            "0.e+00",
            "1.0000000000000001e-01",
            "nan",
            "inf",
            "1.0E10",
            "NaN",
            "Infinity",
            "10.01",
            "-3",
        ] {
            assert!(ok(FieldType::Double, d), "{d}");
        }
        assert!(!ok(FieldType::Double, "abc"));
        assert!(!ok(FieldType::Double, " 1"));
        assert!(!ok(FieldType::Float, "1e39"));
        assert!(!ok(FieldType::Float, "3.5e38"));
        assert!(ok(FieldType::Float, &f32::MAX.to_string()));
        assert!(ok(FieldType::Float, "3.4028235e38"));
        assert!(ok(FieldType::Float, "-3.4028235E38"));
        assert!(ok(FieldType::Float, "3.5"));
        assert!(ok(FieldType::Boolean, "True"));
        assert!(ok(FieldType::Boolean, "0"));
        assert!(!ok(FieldType::Boolean, "yes"));
        assert!(ok(FieldType::Timestamp, "1455869335000000"));
        assert!(!ok(FieldType::Timestamp, "253402271999000001"));
        assert!(ok(FieldType::Decimal, "-12.3400"));
        assert!(ok(FieldType::Decimal, "1E+5"));
        assert!(!ok(FieldType::Decimal, "1.2.3"));
        assert!(!ok(FieldType::Decimal, "."));
        assert!(ok(FieldType::String, ""));
        assert!(!ok(FieldType::String, &"x".repeat(MAX_STRING_BYTES + 1)));
        assert!(ok(FieldType::Json, "{\"a\":1}"));
        assert!(!ok(FieldType::Json, "{"));
        assert!(check_value(&Field::not_null("n", FieldType::String), None).is_err());
        assert!(check_value(&f(FieldType::String), None).is_ok());
    }
}
