//! The change-event contract, version 2 ([`CONTRACT_VERSION`]): one row change = one
//! [`ChangeEvent`], serialized as the Debezium-style JSON envelope described in the project
//! README ("The event contract"), with the contract version in `source.contract`.
//!
//! This module owns the typed shape of an event and its JSON encoding; it knows nothing about
//! binlogs or DataHub. Values are kept typed ([`Value`]) until they are serialized, so a consumer
//! of the library can build its own encoding without re-parsing text.
//!
//! # Versions
//!
//! The value texts are chosen so that Flink's `debezium-json` format reads every column into its
//! natural Flink type with its default options (`debezium-json.timestamp-format.standard` =
//! `SQL`): Flink parses `TIMESTAMP(p)` with `yyyy-MM-dd HH:mm:ss[.f]` and `TIMESTAMP_LTZ(p)` with
//! the same pattern followed by a literal `Z` (`SQL_TIMESTAMP_FORMAT` /
//! `SQL_TIMESTAMP_WITH_LOCAL_TIMEZONE_FORMAT` in
//! <https://github.com/apache/flink/blob/master/flink-formats/flink-format-common/src/main/java/org/apache/flink/formats/common/TimeFormats.java>),
//! `TIME` with `HH:mm:ss[.f]`, `DATE` with ISO `yyyy-MM-dd`, `BYTES` from base64 and `DECIMAL`
//! from a string or a number (`JsonToRowDataConverters` in `flink-formats/flink-json`; the
//! format's options: <https://nightlies.apache.org/flink/flink-docs-stable/docs/connectors/table/formats/debezium/>).
//! Checked with a real Flink (PyFlink 2.3.0) by `tests/tests/e2e/flink_debezium.rs`.
//!
//! * **2** (this one): TIMESTAMP is `"YYYY-MM-DD HH:MM:SS[.ffffff]Z"` (v1: `…THH:MM:SS…Z`, which
//!   Flink's `SQL` standard rejects while its `ISO-8601` standard rejects the DATETIME text, so
//!   no option set read both); a JSON column is a string holding the document's JSON text (v1:
//!   the value itself, which Flink reads into `STRING` only for objects and arrays: a string
//!   document lost its quotes and a `null` document became SQL NULL), as Debezium encodes JSON
//!   (`io.debezium.data.Json`); `source.contract` names the version.
//! * **1**: the first release; no `source.contract`.
//!
//! The partition key ([`ChangeEvent::partition_key`]) is not part of the JSON and keeps its v1
//! text, so an upgrade does not move a key to another shard.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime};
/// The inline-or-heap string of [`Value::String`] and [`Value::Decimal`] (crate `compact_str`),
/// re-exported so users can build values without naming the crate.
pub use compact_str::CompactString;
/// The version of the event contract this module writes, in every event's `source.contract`
/// (a JSON number). A change of any value text or envelope field is a new version.
pub const CONTRACT_VERSION: u32 = 2;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

/// The kind of row change, with Debezium's one-letter codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Op {
    /// An INSERT (`"c"`, create).
    #[serde(rename = "c")]
    Create,
    /// An UPDATE that keeps the primary key (`"u"`).
    #[serde(rename = "u")]
    Update,
    /// A DELETE (`"d"`).
    #[serde(rename = "d")]
    Delete,
    /// A snapshot read (`"r"`); not produced by the binlog source.
    #[serde(rename = "r")]
    Read,
}

impl Op {
    /// The one-letter code used in the envelope and in DataHub record attributes.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A typed column value, as decoded from a row image.
///
/// Each variant maps to one row of the value table of the event contract; [`Serialize`] writes
/// exactly that JSON form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL, and zero dates (`0000-00-00`), which the contract maps to null.
    Null,
    /// TINYINT..BIGINT (signed), YEAR. JSON number.
    Int(i64),
    /// TINYINT..BIGINT UNSIGNED, up to 18446744073709551615. JSON number.
    UInt(u64),
    /// FLOAT. JSON number (non-finite values become null).
    Float(f32),
    /// DOUBLE. JSON number (non-finite values become null).
    Double(f64),
    /// DECIMAL / NUMERIC with its exact digits and scale, e.g. `"-12.340000"`. JSON string.
    /// Held inline (no allocation) up to 24 bytes, i.e. up to 22 digits.
    Decimal(CompactString),
    /// DATE. JSON `"YYYY-MM-DD"`.
    Date(NaiveDate),
    /// DATETIME(p): wall-clock time with `precision` (0..=6) fractional digits.
    /// JSON `"YYYY-MM-DD HH:MM:SS[.ffffff]"`.
    DateTime {
        /// The value, no time zone.
        value: NaiveDateTime,
        /// Fractional-second digits of the column (0..=6).
        precision: u8,
    },
    /// TIMESTAMP(p): an instant, microseconds since the Unix epoch (UTC).
    /// JSON `"YYYY-MM-DD HH:MM:SS[.ffffff]Z"` (UTC; Flink `TIMESTAMP_LTZ(p)` under the `SQL`
    /// timestamp standard). Instants outside what chrono represents are null.
    Timestamp {
        /// Microseconds since 1970-01-01T00:00:00Z.
        micros: i64,
        /// Fractional-second digits of the column (0..=6).
        precision: u8,
    },
    /// TIME(p): a signed duration, JSON `"[-]HHH:MM:SS[.ffffff]"` (hours at least two digits).
    Time {
        /// True for negative durations.
        negative: bool,
        /// Whole hours (MySQL's range is 0..=838).
        hours: u32,
        /// Minutes, 0..=59.
        minutes: u8,
        /// Seconds, 0..=59.
        seconds: u8,
        /// Microseconds, 0..=999999.
        micros: u32,
        /// Fractional-second digits of the column (0..=6).
        precision: u8,
    },
    /// CHAR, VARCHAR, TEXT, ENUM label, SET members joined by `,`. JSON string.
    /// Held inline (no allocation) up to 24 bytes of UTF-8; dereferences to `&str`.
    String(CompactString),
    /// BINARY, VARBINARY, BLOB, GEOMETRY (and strings in a binary character set). JSON base64.
    Bytes(Vec<u8>),
    /// BIT(n), n ≤ 64. JSON number.
    Bit(u64),
    /// JSON column (MySQL's binary JSON): the document. JSON: a string holding the document's
    /// compact JSON text (`"{\"a\":[1,2]}"`), as Debezium writes JSON columns. Boxed: it is
    /// rare, and keeps every `Value` at 32 bytes.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Writes the value as text for a partition key: stable across runs and across contract
    /// versions (the v1 JSON text of the value for dates and times, the document's text for
    /// JSON), so an upgrade routes every key to the shard it had. Not the event's JSON form.
    pub fn write_key(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Value::Null => out.push_str("\u{0}N"),
            Value::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Value::UInt(v) | Value::Bit(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Bytes(b) => out.push_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            Value::String(s) | Value::Decimal(s) => out.push_str(s),
            // Contract v1 wrote TIMESTAMP as `"…T…Z"` and JSON as the document itself.
            Value::Timestamp { micros, precision } => match chrono::DateTime::from_timestamp_micros(*micros) {
                Some(t) => {
                    let _ = write!(
                        out,
                        "\"{}{}Z\"",
                        t.format("%Y-%m-%dT%H:%M:%S"),
                        fraction(t.timestamp_subsec_micros(), *precision)
                    );
                }
                None => out.push_str("null"),
            },
            Value::Json(j) => {
                let _ = write!(out, "{j}");
            }
            other => {
                let _ = write!(out, "{}", serde_json::to_string(other).unwrap_or_default());
            }
        }
    }
}

fn fraction(micros: u32, precision: u8) -> String {
    if precision == 0 {
        return String::new();
    }
    let p = precision.min(6) as usize;
    let digits = format!("{micros:06}");
    format!(".{}", &digits[..p])
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Int(v) => s.serialize_i64(*v),
            Value::UInt(v) | Value::Bit(v) => s.serialize_u64(*v),
            Value::Float(v) if v.is_finite() => s.serialize_f32(*v),
            Value::Double(v) if v.is_finite() => s.serialize_f64(*v),
            Value::Float(_) | Value::Double(_) => s.serialize_unit(),
            Value::Decimal(v) | Value::String(v) => s.serialize_str(v),
            Value::Date(d) => s.collect_str(&d.format("%Y-%m-%d")),
            Value::DateTime { value, precision } => {
                let micros = value.and_utc().timestamp_subsec_micros();
                s.collect_str(&format_args!("{}{}", value.format("%Y-%m-%d %H:%M:%S"), fraction(micros, *precision)))
            }
            Value::Timestamp { micros, precision } => match chrono::DateTime::from_timestamp_micros(*micros) {
                Some(t) => s.collect_str(&format_args!(
                    "{}{}Z",
                    t.format("%Y-%m-%d %H:%M:%S"),
                    fraction(t.timestamp_subsec_micros(), *precision)
                )),
                None => s.serialize_unit(),
            },
            Value::Time { negative, hours, minutes, seconds, micros, precision } => s.collect_str(&format_args!(
                "{}{:02}:{:02}:{:02}{}",
                if *negative { "-" } else { "" },
                hours,
                minutes,
                seconds,
                fraction(*micros, *precision)
            )),
            Value::Bytes(b) => {
                s.collect_str(&base64::display::Base64Display::new(b, &base64::engine::general_purpose::STANDARD))
            }
            Value::Json(v) => s.collect_str(v),
        }
    }
}

/// A full row image: column names (shared by every row of a table version) and values in
/// column order. Serialized as a JSON object in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Column names, in table order; shared by all rows decoded with the same table map.
    pub columns: Arc<[Arc<str>]>,
    /// One value per column, same order and length as `columns`.
    pub values: Vec<Value>,
}

impl Row {
    /// The value of the column called `name`, if the row has one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().position(|c| &**c == name).map(|i| &self.values[i])
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (name, value) in self.columns.iter().zip(&self.values) {
            m.serialize_entry(&**name, value)?;
        }
        m.end()
    }
}

/// Where a change came from: the `source` block of the envelope.
///
/// Everything but the row index is the same for every row of one rows event, so it lives in
/// one shared [`RowsEventInfo`] (built once per rows event, one reference count per row).
/// `SourceInfo` dereferences to it: `event.source.db`, `event.source.pos` read as fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// The fields shared by every row of the rows event.
    pub event: Arc<RowsEventInfo>,
    /// 0-based index of the row inside its rows event.
    pub row: u32,
}

impl SourceInfo {
    /// The source of row `row` (0-based) of the rows event described by `event`.
    pub fn new(event: RowsEventInfo, row: u32) -> Self {
        SourceInfo { event: Arc::new(event), row }
    }
}

impl std::ops::Deref for SourceInfo {
    type Target = RowsEventInfo;

    fn deref(&self) -> &RowsEventInfo {
        &self.event
    }
}

/// The part of the `source` block shared by every row of one rows event (MySQL manual,
/// "Binary Log Event" header: `server_id`, timestamp; the TABLE_MAP's schema and table; the
/// event's binlog coordinates; the transaction's GTID).
#[derive(Debug, Clone, PartialEq)]
pub struct RowsEventInfo {
    /// The configured logical server name (`name` in the envelope).
    pub name: Arc<str>,
    /// `server_id` from the binlog event header of the rows event.
    pub server_id: u32,
    /// Schema (database) of the rows.
    pub db: Arc<str>,
    /// Table of the rows.
    pub table: Arc<str>,
    /// Binlog file name of the rows event.
    pub file: Arc<str>,
    /// Start offset (bytes) of the rows event in `file`.
    pub pos: u64,
    /// The transaction's GTID: MySQL `uuid:n` or MariaDB `domain-server-seq`; None when the
    /// server sends none.
    pub gtid: Option<Arc<str>>,
    /// Binlog event timestamp, ms since the Unix epoch (the header has second precision).
    pub ts_ms: i64,
    /// Where the rows come from: the binlog, or a snapshot read at `file`/`pos`.
    pub origin: Origin,
}

/// Where a change event comes from; `source.snapshot` in the envelope is derived from it
/// (Debezium's values: `"false"`, `"true"`, `"last"`, `"incremental"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A rows event of the binlog, at `file`/`pos`, row `row` of it.
    Binlog,
    /// A row of the initial snapshot, read at the consistent point `file`/`pos`; `row` is its
    /// running index in the snapshot (with `op: "r"` the identity stays unique). `last` is true
    /// for the snapshot's last row.
    Snapshot {
        /// The snapshot's last row.
        last: bool,
    },
    /// A row of a watermark (incremental) snapshot chunk.
    Incremental,
}

impl Origin {
    /// The `source.snapshot` text.
    pub fn snapshot_text(self) -> &'static str {
        match self {
            Origin::Binlog => "false",
            Origin::Snapshot { last: false } => "true",
            Origin::Snapshot { last: true } => "last",
            Origin::Incremental => "incremental",
        }
    }
}

impl Serialize for SourceInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("source", 12)?;
        st.serialize_field("connector", "mysql")?;
        st.serialize_field("contract", &CONTRACT_VERSION)?;
        st.serialize_field("name", &*self.name)?;
        st.serialize_field("server_id", &self.server_id)?;
        st.serialize_field("db", &*self.db)?;
        st.serialize_field("table", &*self.table)?;
        st.serialize_field("file", &*self.file)?;
        st.serialize_field("pos", &self.pos)?;
        st.serialize_field("row", &self.row)?;
        st.serialize_field("gtid", &self.gtid.as_deref())?;
        st.serialize_field("ts_ms", &self.ts_ms)?;
        st.serialize_field("snapshot", self.origin.snapshot_text())?;
        st.end()
    }
}

/// Transaction metadata of the envelope (`transaction` block).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionInfo {
    /// Transaction id: the GTID when known, else `file:pos` of the transaction's first event.
    pub id: Arc<str>,
    /// 1-based position of this event among all events of the transaction.
    pub total_order: u64,
    /// 1-based position of this event among the transaction's events of the same table.
    pub data_collection_order: u64,
}

/// One row change: the unit that flows from the source to the sink.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// Insert, update or delete.
    pub op: Op,
    /// Row image before the change; None for `c` and `r`.
    pub before: Option<Row>,
    /// Row image after the change; None for `d`.
    pub after: Option<Row>,
    /// Origin of the change.
    pub source: SourceInfo,
    /// When the collector produced the event, ms since the Unix epoch.
    pub ts_ms: i64,
    /// Transaction metadata when known.
    pub transaction: Option<TransactionInfo>,
    /// Indexes (into the row's columns) of the primary key; empty when the table has none.
    /// Not serialized: used for the partition key.
    pub key_columns: Arc<[usize]>,
}

impl Serialize for ChangeEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ChangeEvent", 6)?;
        st.serialize_field("before", &self.before)?;
        st.serialize_field("after", &self.after)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("op", &self.op)?;
        st.serialize_field("ts_ms", &self.ts_ms)?;
        st.serialize_field("transaction", &self.transaction)?;
        st.end()
    }
}

impl ChangeEvent {
    /// The event as contract JSON bytes (UTF-8), as written into a DataHub BLOB record.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Appends the contract JSON of this event to `out`.
    ///
    /// Byte-identical to serializing the event with serde_json (the [`Serialize`] impls above,
    /// checked by `write_json_matches_serde`), but written directly: numbers and string escapes
    /// through serde_json's own `CompactFormatter`, dates and times as digits (no strftime), no
    /// intermediate `String`s.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        json::write_event(self, out);
    }

    /// The partition key: `db`, `table` and the primary-key values of the row, joined by
    /// `\u{1}`. All events of one key share it, so they are routed to one shard, in order.
    ///
    /// Tables without a primary key use `db` and `table` only: every change of such a table
    /// goes to one shard, which keeps the table's binlog order (rows without a key cannot be
    /// told apart, so no finer order is sound).
    pub fn partition_key(&self) -> String {
        let mut key = String::with_capacity(64);
        key.push_str(&self.source.db);
        key.push('\u{1}');
        key.push_str(&self.source.table);
        let row = self.after.as_ref().or(self.before.as_ref());
        if let Some(row) = row {
            for &i in self.key_columns.iter() {
                key.push('\u{1}');
                if let Some(v) = row.values.get(i) {
                    v.write_key(&mut key);
                }
            }
        }
        key
    }
}

/// The direct JSON writer behind [`ChangeEvent::write_json`].
mod json {
    use base64::Engine as _;
    use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
    use serde_json::ser::{CompactFormatter, Formatter};

    use super::{ChangeEvent, Row, SourceInfo, TransactionInfo, Value};

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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[&str], values: Vec<Value>) -> Row {
        Row { columns: cols.iter().map(|c| Arc::from(*c)).collect(), values }
    }

    #[test]
    fn values_serialize_as_the_contract_says() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let dt = d.and_hms_micro_opt(23, 59, 59, 123_456).unwrap();
        let r = row(
            &["i", "u", "dec", "date", "dt0", "dt3", "ts", "time", "s", "b", "bit", "j", "n"],
            vec![
                Value::Int(-9_223_372_036_854_775_808),
                Value::UInt(18_446_744_073_709_551_615),
                Value::Decimal("-12.340000".into()),
                Value::Date(d),
                Value::DateTime { value: dt, precision: 0 },
                Value::DateTime { value: dt, precision: 3 },
                Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 },
                Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 0, precision: 0 },
                Value::String("héllo 😀".into()),
                Value::Bytes(vec![0, 1, 2, 255]),
                Value::Bit(21),
                Value::Json(Box::new(serde_json::json!({"a": [1, 2]}))),
                Value::Null,
            ],
        );
        let got = serde_json::to_string(&r).unwrap();
        assert_eq!(
            got,
            r#"{"i":-9223372036854775808,"u":18446744073709551615,"dec":"-12.340000","date":"2024-02-29","dt0":"2024-02-29 23:59:59","dt3":"2024-02-29 23:59:59.123","ts":"2024-03-01 12:00:00.789Z","time":"-838:59:59","s":"héllo 😀","b":"AAEC/w==","bit":21,"j":"{\"a\":[1,2]}","n":null}"#
        );
    }

    #[test]
    fn envelope_has_the_contract_fields() {
        let ev = ChangeEvent {
            op: Op::Update,
            before: Some(row(&["id", "v"], vec![Value::Int(1), Value::String("a".into())])),
            after: Some(row(&["id", "v"], vec![Value::Int(1), Value::String("b".into())])),
            source: SourceInfo::new(
                RowsEventInfo {
                    name: "srv".into(),
                    server_id: 7,
                    db: "shop".into(),
                    table: "orders".into(),
                    file: "binlog.000001".into(),
                    pos: 1234,
                    gtid: Some("0-1-5".into()),
                    ts_ms: 1_700_000_000_000,
                    origin: Origin::Binlog,
                },
                0,
            ),
            ts_ms: 1_700_000_000_123,
            transaction: None,
            key_columns: Arc::from(vec![0usize]),
        };
        let v: serde_json::Value = serde_json::from_slice(&ev.to_json_bytes()).unwrap();
        assert_eq!(v["op"], "u");
        assert_eq!(v["before"]["v"], "a");
        assert_eq!(v["after"]["v"], "b");
        assert_eq!(v["source"]["connector"], "mysql");
        assert_eq!(v["source"]["contract"], 2, "the contract version is in the envelope");
        assert_eq!(v["source"]["file"], "binlog.000001");
        assert_eq!(v["source"]["pos"], 1234);
        assert_eq!(v["source"]["gtid"], "0-1-5");
        assert_eq!(v["source"]["snapshot"], "false");
        assert!(v["transaction"].is_null());
        assert_eq!(ev.partition_key(), "shop\u{1}orders\u{1}1");
    }

    #[test]
    fn json_documents_are_strings_of_their_text() {
        // Every document shape, scalars too: a string document keeps its quotes and a `null`
        // document is the text `null`, not a JSON null (which would read as SQL NULL).
        let cases = [
            (serde_json::json!({"a": [1, 2.5], "b": null}), r#""{\"a\":[1,2.5],\"b\":null}""#),
            (serde_json::json!("x\"y"), r#""\"x\\\"y\"""#),
            (serde_json::json!(null), r#""null""#),
            (serde_json::json!(12), r#""12""#),
            (serde_json::json!([true]), r#""[true]""#),
        ];
        for (doc, want) in cases {
            let text = serde_json::to_string(&Value::Json(Box::new(doc.clone()))).unwrap();
            assert_eq!(text, want);
            let back: String = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::from_str::<serde_json::Value>(&back).unwrap(), doc, "the text parses back");
        }
    }

    #[test]
    fn partition_keys_keep_their_v1_text() {
        // v2 changed the JSON of TIMESTAMP and JSON values, not their partition-key text: an
        // upgrade must not move a key to another shard.
        let key = |v: Value| {
            let mut s = String::new();
            v.write_key(&mut s);
            s
        };
        let dt = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(23, 59, 59, 123_456).unwrap();
        assert_eq!(
            key(Value::Timestamp { micros: 1_709_294_400_789_000, precision: 3 }),
            r#""2024-03-01T12:00:00.789Z""#
        );
        assert_eq!(key(Value::DateTime { value: dt, precision: 6 }), r#""2024-02-29 23:59:59.123456""#);
        assert_eq!(key(Value::Date(dt.date())), r#""2024-02-29""#);
        assert_eq!(key(Value::Json(Box::new(serde_json::json!({"a": [1]})))), r#"{"a":[1]}"#);
        assert_eq!(key(Value::Decimal("-1.50".into())), "-1.50");
        assert_eq!(key(Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(key(Value::Bytes(vec![0, 255])), "AP8=");
        assert_eq!(key(Value::Null), "\u{0}N");
    }

    #[test]
    fn table_without_key_partitions_by_table() {
        let mut ev = envelope_event();
        ev.after = Some(row(&["v"], vec![Value::Int(3)]));
        ev.key_columns = Arc::from(Vec::<usize>::new());
        assert_eq!(ev.partition_key(), "d\u{1}t");
    }

    #[test]
    fn write_json_matches_serde() {
        // The direct writer must produce exactly serde_json's bytes for every value shape,
        // including the edges that take the serde fallback.
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let dt = |y, us| d(y, 2, 28).and_hms_micro_opt(23, 59, 59, us).unwrap();
        let leap = d(2016, 12, 31).and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        let mut values = vec![
            Value::Null,
            Value::Int(i64::MIN),
            Value::Int(-1),
            Value::Int(0),
            Value::UInt(u64::MAX),
            Value::Bit(21),
            Value::Float(1.5),
            Value::Float(-0.1),
            Value::Float(3.4e38),
            Value::Float(f32::NAN),
            Value::Double(0.1 + 0.2),
            Value::Double(1e300),
            Value::Double(-0.0),
            Value::Double(5e-324),
            Value::Double(f64::INFINITY),
            Value::Double(12345678.0),
            Value::Decimal("-12.340000".into()),
            Value::String(CompactString::default()),
            Value::String("plain ascii".into()),
            Value::String("héllo 😀 \"quoted\" back\\slash \n\t\u{1}\u{1f} \u{7f} \u{2028}".into()),
            Value::Date(d(2024, 2, 29)),
            Value::Date(d(1, 1, 1)),
            Value::Date(d(999, 12, 31)),
            Value::Date(d(12345, 1, 1)),
            Value::Date(d(-5, 1, 1)),
            Value::DateTime { value: leap, precision: 3 },
            Value::DateTime { value: d(10000, 1, 1).and_hms_opt(0, 0, 0).unwrap(), precision: 0 },
            Value::Bytes(vec![]),
            Value::Bytes(vec![0]),
            Value::Bytes(vec![0, 1]),
            Value::Bytes(vec![0, 1, 2, 255, 254, 62, 63]),
            Value::Json(Box::new(serde_json::json!({"a": [1, 2.5, "x\"y"], "b": null}))),
            Value::Json(Box::new(serde_json::json!("a \"quoted\" \u{1} string"))),
            Value::Json(Box::new(serde_json::json!(null))),
            Value::Time { negative: false, hours: 0, minutes: 0, seconds: 0, micros: 0, precision: 0 },
            Value::Time { negative: true, hours: 838, minutes: 59, seconds: 59, micros: 999_999, precision: 6 },
            Value::Time { negative: false, hours: 5, minutes: 7, seconds: 9, micros: 120, precision: 4 },
            Value::Time { negative: false, hours: 1, minutes: 100, seconds: 200, micros: 1_000_001, precision: 6 },
        ];
        for p in 0..=7 {
            values.push(Value::DateTime { value: dt(2024, 123_456), precision: p });
            values.push(Value::DateTime { value: dt(987, 7), precision: p });
            values.push(Value::Timestamp { micros: 1_709_294_400_789_012, precision: p });
            values.push(Value::Timestamp { micros: -1, precision: p });
            values.push(Value::Timestamp { micros: 0, precision: p });
        }
        values.push(Value::Timestamp { micros: i64::MAX, precision: 0 });
        values.push(Value::Timestamp { micros: 300_000_000_000_000_000, precision: 2 });
        values.push(Value::Timestamp { micros: -62_167_219_200_000_001, precision: 6 });
        let names: Vec<String> = (0..values.len()).map(|i| format!("c{i}")).collect();
        let mut names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        names[1] = "we\"ird\\name\u{0}";
        let r = row(&names, values);
        let source = |gtid: Option<&str>| {
            SourceInfo::new(
                RowsEventInfo {
                    name: "srv \"x\"".into(),
                    server_id: u32::MAX,
                    db: "shop".into(),
                    table: "orders".into(),
                    file: "binlog.000001".into(),
                    pos: u64::MAX,
                    gtid: gtid.map(Arc::from),
                    ts_ms: -1,
                    origin: Origin::Binlog,
                },
                u32::MAX,
            )
        };
        let events = [
            ChangeEvent {
                op: Op::Update,
                before: Some(r.clone()),
                after: Some(r.clone()),
                source: source(Some("0-1-5")),
                ts_ms: i64::MAX,
                transaction: Some(TransactionInfo { id: "0-1-5".into(), total_order: 7, data_collection_order: 3 }),
                key_columns: Arc::from(vec![0usize]),
            },
            ChangeEvent {
                op: Op::Create,
                before: None,
                after: Some(row(&[], vec![])),
                source: source(None),
                ts_ms: 0,
                transaction: None,
                key_columns: Arc::from(Vec::<usize>::new()),
            },
            ChangeEvent {
                op: Op::Delete,
                before: Some(r),
                after: None,
                source: source(None),
                ts_ms: 1,
                transaction: None,
                key_columns: Arc::from(Vec::<usize>::new()),
            },
            ChangeEvent { op: Op::Read, ..ChangeEvent::clone(&envelope_event()) },
        ];
        for ev in &events {
            let reference = serde_json::to_vec(ev).unwrap();
            let mut direct = b"prefix".to_vec();
            ev.write_json(&mut direct);
            assert_eq!(String::from_utf8_lossy(&direct[6..]), String::from_utf8_lossy(&reference), "op {:?}", ev.op);
            assert_eq!(&direct[..6], b"prefix", "appends, keeps what was in the buffer");
            assert_eq!(ev.to_json_bytes(), reference);
        }
    }

    fn envelope_event() -> ChangeEvent {
        ChangeEvent {
            op: Op::Create,
            before: None,
            after: Some(row(&["id"], vec![Value::Int(1)])),
            source: SourceInfo::new(
                RowsEventInfo {
                    name: "n".into(),
                    server_id: 1,
                    db: "d".into(),
                    table: "t".into(),
                    file: "f".into(),
                    pos: 4,
                    gtid: None,
                    ts_ms: 0,
                    origin: Origin::Binlog,
                },
                0,
            ),
            ts_ms: 0,
            transaction: None,
            key_columns: Arc::from(vec![0usize]),
        }
    }
}
