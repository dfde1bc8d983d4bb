//! The typed shape of a change event: [`ChangeEvent`], its [`Row`]s of [`Value`]s, [`Op`], the
//! `source` block ([`SourceInfo`], [`RowsEventInfo`], [`Origin`]) and [`TransactionInfo`];
//! their JSON forms are in `serialize` (serde) and `json` (the direct writer).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime};
use compact_str::CompactString;
use serde::Serialize;

/// The version of the event contract the JSON writers write, in every event's
/// `source.contract` (a JSON number). A change of any value text or envelope field is a new
/// version.
pub const CONTRACT_VERSION: u32 = 2;

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

pub(super) fn fraction(micros: u32, precision: u8) -> String {
    if precision == 0 {
        return String::new();
    }
    let p = precision.min(6) as usize;
    let digits = format!("{micros:06}");
    format!(".{}", &digits[..p])
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

impl ChangeEvent {
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
