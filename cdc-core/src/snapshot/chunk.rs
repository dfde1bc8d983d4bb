//! Reading rows: one keyset chunk of a table ([`read_chunk`]), through the binary protocol
//! (prepared statements), each row turned into contract values exactly as the binlog decoder
//! would (`convert`), and the key a chunk ends at, in the form that binds it again.

use mysql_async::prelude::*;
use mysql_common::value::Value as MyValue;

use super::convert::to_value;
use super::error::SnapshotError;
use super::events::ReadEvents;
use super::layout::TableLayout;
use super::progress::KeyValue;
use super::query;
use crate::event::{ChangeEvent, Value};
use crate::source::column::Kind;

/// The rows of one chunk.
#[derive(Debug, Clone)]
pub struct ChunkRows {
    /// One read event per row, in primary-key order.
    pub events: Vec<ChangeEvent>,
    /// The primary key of the last row read (None when the chunk is empty): the next chunk
    /// starts after it.
    pub last_key: Option<Vec<KeyValue>>,
    /// True when the chunk had fewer rows than asked: the table has no rows after it.
    pub exhausted: bool,
}

/// Turns server rows of `layout`'s table into values and key values.
#[derive(Debug)]
pub(crate) struct RowConverter<'a> {
    layout: &'a TableLayout,
}

impl<'a> RowConverter<'a> {
    pub(crate) fn new(layout: &'a TableLayout) -> Self {
        Self { layout }
    }

    /// The contract values of `row` (columns in layout order).
    pub(crate) fn values(&self, row: mysql_async::Row) -> Result<Vec<Value>, SnapshotError> {
        let raw = row.unwrap();
        if raw.len() != self.layout.cols.len() {
            return Err(self.err(format!("{} values for {} columns", raw.len(), self.layout.cols.len())));
        }
        let mut out = Vec::with_capacity(raw.len());
        for (col, v) in self.layout.cols.iter().zip(raw) {
            out.push(to_value(col, v).map_err(|m| self.err(format!("column {}: {m}", col.name)))?);
        }
        Ok(out)
    }

    /// The key of a row from its converted values: the raw server form is not kept, so each
    /// key column is bound back from its contract value (see [`key_of`]).
    pub(crate) fn key(&self, values: &[Value]) -> Result<Vec<KeyValue>, SnapshotError> {
        self.layout
            .key_columns
            .iter()
            .map(|&i| key_of(&self.layout.cols[i].kind, &values[i]).map_err(|m| self.err(m)))
            .collect()
    }

    fn err(&self, message: String) -> SnapshotError {
        SnapshotError::Value { table: self.layout.id.clone(), message }
    }
}

/// The key value (statement parameter form) of a primary-key column's contract value. The
/// reverse of the conversion for the types a primary key can have: integers, DECIMAL (text),
/// dates and times (TIMESTAMP in UTC, as the session's time zone), character data (UTF-8, or
/// latin1 re-encoded byte for byte), binary data, ENUM (its 1-based index), SET (its labels),
/// BIT (big-endian bytes). Errors: a FLOAT/DOUBLE/JSON key, or a key the conversion cannot
/// reverse (text in a character set other than UTF-8 and latin1).
fn key_of(kind: &Kind, v: &Value) -> Result<KeyValue, String> {
    use crate::source::column::Charset;
    use chrono::Datelike;
    Ok(match (kind, v) {
        (Kind::Enum(labels), Value::String(s)) => KeyValue::Int(if s.is_empty() {
            0
        } else {
            labels.iter().position(|l| l.as_str() == s.as_str()).map_or(0, |i| i + 1) as i64
        }),
        (_, Value::Int(i)) => KeyValue::Int(*i),
        (_, Value::UInt(u)) => KeyValue::UInt(*u),
        (Kind::Bit, Value::Bit(b)) => {
            let bytes = b.to_be_bytes();
            let first = bytes.iter().position(|&x| x != 0).unwrap_or(7);
            KeyValue::from_my(&MyValue::Bytes(bytes[first..].to_vec())).expect("not NULL")
        }
        (Kind::Text(Charset::Latin1), Value::String(s)) => {
            KeyValue::from_my(&MyValue::Bytes(s.chars().map(|c| c as u32 as u8).collect())).expect("not NULL")
        }
        (Kind::Text(Charset::Other), _) => {
            return Err("a primary key in a character set other than UTF-8 and latin1 cannot be resumed exactly".into())
        }
        (_, Value::String(s)) | (_, Value::Decimal(s)) => KeyValue::Text(s.to_string()),
        (_, Value::Bytes(b)) => KeyValue::from_my(&MyValue::Bytes(b.clone())).expect("not NULL"),
        (_, Value::Date(d)) => KeyValue::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0),
        (_, Value::DateTime { value: t, .. }) => date_key(t),
        (_, Value::Timestamp { micros, .. }) => match chrono::DateTime::from_timestamp_micros(*micros) {
            Some(t) => date_key(&t.naive_utc()),
            None => return Err(format!("TIMESTAMP key {micros} out of range")),
        },
        (_, Value::Time { negative, hours, minutes, seconds, micros, .. }) => {
            KeyValue::Time(*negative, hours / 24, (hours % 24) as u8, *minutes, *seconds, *micros)
        }
        // A zero date in a key (sql_mode without NO_ZERO_DATE): the contract's null.
        (Kind::Date | Kind::DateTime { .. } | Kind::Timestamp { .. }, Value::Null) => {
            KeyValue::Date(0, 0, 0, 0, 0, 0, 0)
        }
        (kind, v) => return Err(format!("a primary key value {v:?} of a {kind:?} column cannot be resumed from")),
    })
}

/// The key value of a DATETIME / TIMESTAMP (UTC).
fn date_key(t: &chrono::NaiveDateTime) -> KeyValue {
    use chrono::{Datelike, Timelike};
    {
        KeyValue::Date(
            t.year() as u16,
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond() / 1000,
        )
    }
}

/// Reads the chunk of at most `limit` rows after `after` (None: from the first row) of
/// `layout`'s table, in primary-key order, on `conn` (a session prepared with
/// [`super::prepare_session`]). Row indexes of the events start at `first_row`.
///
/// A table without a primary key cannot be chunked: it is read whole (`limit` and `after`
/// ignored, every row in memory, `exhausted` true) — for the watermark snapshot, which reads
/// such a table in one window. [`super::SnapshotReader`] streams such tables instead.
///
/// Errors: [`SnapshotError::Sql`]; [`SnapshotError::Value`] for a value that does not fit its
/// column (or a resume key that cannot be bound).
pub async fn read_chunk(
    conn: &mut mysql_async::Conn,
    layout: &TableLayout,
    after: Option<&[KeyValue]>,
    limit: usize,
    events: &ReadEvents,
    first_row: u32,
) -> Result<ChunkRows, SnapshotError> {
    let limit = if layout.has_key() { limit.max(1) } else { usize::MAX };
    let (sql, params) = if layout.has_key() {
        query::chunk(layout, after, limit)
            .map_err(|message| SnapshotError::Value { table: layout.id.clone(), message })?
    } else {
        (query::whole_table(layout), Vec::new())
    };
    let conv = RowConverter::new(layout);
    let now = crate::status::now_ms();
    let mut out = Vec::with_capacity(limit.min(8192));
    let mut result = conn.exec_iter(sql, params).await?;
    while let Some(row) = result.next().await? {
        let values = conv.values(row)?;
        out.push(events.event(values, first_row.saturating_add(out.len() as u32), now));
    }
    drop(result);
    let last_key = match out.last() {
        Some(ev) if layout.has_key() => {
            Some(conv.key(&ev.after.as_ref().expect("read events have an after image").values)?)
        }
        _ => None,
    };
    Ok(ChunkRows { exhausted: out.len() < limit, events: out, last_key })
}
