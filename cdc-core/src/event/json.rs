//! The direct JSON writer behind [`ChangeEvent::write_json`]: the contract's JSON written
//! straight into a byte buffer, byte-identical to the serde impls (`serialize`).

use base64::Engine as _;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::ser::{CompactFormatter, Formatter};

use super::types::{ChangeEvent, Row, SourceInfo, TransactionInfo, Value};

// Writing into a Vec<u8> cannot fail (io::Write for Vec is infallible).
fn str_(out: &mut Vec<u8>, s: &str) {
    // Fast path: nothing to escape (no control character, quote or backslash).
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_fallback(out, s);
    }
}

fn u64_(out: &mut Vec<u8>, v: u64) {
    let _ = CompactFormatter.write_u64(out, v);
}

fn i64_(out: &mut Vec<u8>, v: i64) {
    let _ = CompactFormatter.write_i64(out, v);
}

/// `n` as exactly `width` decimal digits (n < 10^width).
fn digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for i in (0..width).rev() {
        out[start + i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `.ffffff` cut to `precision` digits (nothing for 0), as the contract's `fraction`.
fn fraction(out: &mut Vec<u8>, micros: u32, precision: u8) {
    if precision == 0 {
        return;
    }
    out.push(b'.');
    let start = out.len();
    digits(out, micros, 6);
    out.truncate(start + precision.min(6) as usize);
}

fn date(out: &mut Vec<u8>, d: NaiveDate) {
    digits(out, d.year() as u32, 4);
    out.push(b'-');
    digits(out, d.month(), 2);
    out.push(b'-');
    digits(out, d.day(), 2);
}

fn hms(out: &mut Vec<u8>, h: u32, m: u32, s: u32) {
    digits(out, h, 2);
    out.push(b':');
    digits(out, m, 2);
    out.push(b':');
    digits(out, s, 2);
}

/// True when the digit path reproduces chrono's `%Y..%S` exactly: 4-digit year, no leap
/// second.
fn plain(t: &NaiveDateTime) -> bool {
    (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int(v) => i64_(out, *v),
        Value::UInt(v) | Value::Bit(v) => u64_(out, *v),
        Value::Float(v) if v.is_finite() => {
            let _ = CompactFormatter.write_f32(out, *v);
        }
        Value::Double(v) if v.is_finite() => {
            let _ = CompactFormatter.write_f64(out, *v);
        }
        Value::Float(_) | Value::Double(_) => out.extend_from_slice(b"null"),
        Value::Decimal(s) | Value::String(s) => str_(out, s),
        Value::Date(d) if (0..=9999).contains(&d.year()) => {
            out.push(b'"');
            date(out, *d);
            out.push(b'"');
        }
        Value::DateTime { value: t, precision } if plain(t) => {
            out.push(b'"');
            date(out, t.date());
            out.push(b' ');
            hms(out, t.hour(), t.minute(), t.second());
            fraction(out, t.nanosecond() / 1000, *precision);
            out.push(b'"');
        }
        Value::Timestamp { micros, precision } => match chrono::DateTime::from_timestamp_micros(*micros) {
            Some(t) if plain(&t.naive_utc()) => {
                let t = t.naive_utc();
                out.push(b'"');
                date(out, t.date());
                out.push(b' ');
                hms(out, t.hour(), t.minute(), t.second());
                fraction(out, t.nanosecond() / 1000, *precision);
                out.extend_from_slice(b"Z\"");
            }
            Some(_) => serde_fallback(out, v),
            None => out.extend_from_slice(b"null"),
        },
        Value::Time { negative, hours, minutes, seconds, micros, precision }
            if *micros < 1_000_000 && *minutes < 100 && *seconds < 100 =>
        {
            out.push(b'"');
            if *negative {
                out.push(b'-');
            }
            if *hours < 10 {
                out.push(b'0');
            }
            u64_(out, *hours as u64);
            out.push(b':');
            digits(out, *minutes as u32, 2);
            out.push(b':');
            digits(out, *seconds as u32, 2);
            fraction(out, *micros, *precision);
            out.push(b'"');
        }
        Value::Bytes(b) => {
            let n = base64::encoded_len(b.len(), true).expect("base64 length fits usize");
            out.push(b'"');
            let start = out.len();
            out.resize(start + n, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(b, &mut out[start..])
                .expect("buffer sized by encoded_len");
            out.truncate(start + written);
            out.push(b'"');
        }
        // Out-of-range dates, leap seconds, minutes/seconds ≥ 100, JSON documents (a string
        // of their text): the serde path, which is the reference.
        _ => serde_fallback(out, v),
    }
}

fn serde_fallback<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("value serializes");
}

fn row(out: &mut Vec<u8>, r: &Option<Row>) {
    let Some(r) = r else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'{');
    for (i, (name, v)) in r.columns.iter().zip(&r.values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        str_(out, name);
        out.push(b':');
        value(out, v);
    }
    out.push(b'}');
}

fn source(out: &mut Vec<u8>, s: &SourceInfo) {
    out.extend_from_slice(br#"{"connector":"mysql","contract":"#);
    u64_(out, u64::from(super::CONTRACT_VERSION));
    out.extend_from_slice(br#","name":"#);
    str_(out, &s.name);
    out.extend_from_slice(br#","server_id":"#);
    u64_(out, s.server_id as u64);
    out.extend_from_slice(br#","db":"#);
    str_(out, &s.db);
    out.extend_from_slice(br#","table":"#);
    str_(out, &s.table);
    out.extend_from_slice(br#","file":"#);
    str_(out, &s.file);
    out.extend_from_slice(br#","pos":"#);
    u64_(out, s.pos);
    out.extend_from_slice(br#","row":"#);
    u64_(out, s.row as u64);
    out.extend_from_slice(br#","gtid":"#);
    match &s.gtid {
        Some(g) => str_(out, g),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","ts_ms":"#);
    i64_(out, s.ts_ms);
    out.extend_from_slice(br#","snapshot":""#);
    out.extend_from_slice(s.origin.snapshot_text().as_bytes());
    out.extend_from_slice(br#""}"#);
}

fn transaction(out: &mut Vec<u8>, t: &Option<TransactionInfo>) {
    let Some(t) = t else {
        out.extend_from_slice(b"null");
        return;
    };
    out.extend_from_slice(br#"{"id":"#);
    str_(out, &t.id);
    out.extend_from_slice(br#","total_order":"#);
    u64_(out, t.total_order);
    out.extend_from_slice(br#","data_collection_order":"#);
    u64_(out, t.data_collection_order);
    out.push(b'}');
}

pub(super) fn write_event(ev: &ChangeEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"before":"#);
    row(out, &ev.before);
    out.extend_from_slice(br#","after":"#);
    row(out, &ev.after);
    out.extend_from_slice(br#","source":"#);
    source(out, &ev.source);
    out.extend_from_slice(br#","op":""#);
    out.extend_from_slice(ev.op.code().as_bytes());
    out.extend_from_slice(br#"","ts_ms":"#);
    i64_(out, ev.ts_ms);
    out.extend_from_slice(br#","transaction":"#);
    transaction(out, &ev.transaction);
    out.push(b'}');
}
