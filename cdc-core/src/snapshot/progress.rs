//! The resumable state of a snapshot ([`SnapshotProgress`]): per table done / in progress after
//! a key / pending, plus the consistent point the snapshot's rows correspond to. Serde-encoded,
//! so it can travel inside the collector's checkpoint; key values are typed ([`KeyValue`]) so a
//! resume binds exactly the bytes and numbers the server returned.

use mysql_common::value::Value as MyValue;
use serde::{Deserialize, Serialize};

use super::point::SnapshotPoint;

/// `db`.`table`, the unit a snapshot reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableId {
    /// Schema (database) name.
    pub db: String,
    /// Table name.
    pub table: String,
}

impl TableId {
    /// `db`.`table`.
    pub fn new(db: impl Into<String>, table: impl Into<String>) -> Self {
        Self { db: db.into(), table: table.into() }
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.db, self.table)
    }
}

/// One primary-key column value as the server returned it (binary protocol), kept so that it
/// can be bound again as a statement parameter: the keyset condition `key > last` is then
/// evaluated by the server, under the column's own collation (never compared in Rust).
///
/// ENUM key columns are kept as their 1-based index ([`KeyValue::Int`]): the server orders and
/// compares an ENUM by index when it is compared with a number (MySQL manual 13.3.5, "The ENUM
/// Type", "Sorting").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyValue {
    /// A signed integer (TINYINT..BIGINT, YEAR, an ENUM index).
    Int(i64),
    /// An unsigned integer, up to 18446744073709551615 (BIGINT UNSIGNED beyond 2^63).
    UInt(u64),
    /// FLOAT / DOUBLE.
    Double(f64),
    /// Character or binary data that is valid UTF-8, as text (the column's own bytes: the
    /// snapshot session sets `character_set_results = NULL`).
    Text(String),
    /// Other bytes (latin1 text, binary strings), lower-case hex.
    Hex(String),
    /// DATE / DATETIME / TIMESTAMP (in the session time zone `+00:00`): year, month, day,
    /// hour, minute, second, microsecond.
    Date(u16, u8, u8, u8, u8, u8, u32),
    /// TIME: negative, days, hours, minutes, seconds, microseconds.
    Time(bool, u32, u8, u8, u8, u32),
}

impl KeyValue {
    /// The key value of a server value. None for NULL (a primary key column is NOT NULL).
    pub(crate) fn from_my(v: &MyValue) -> Option<Self> {
        Some(match v {
            MyValue::NULL => return None,
            MyValue::Int(i) => KeyValue::Int(*i),
            MyValue::UInt(u) => KeyValue::UInt(*u),
            MyValue::Float(f) => KeyValue::Double(*f as f64),
            MyValue::Double(d) => KeyValue::Double(*d),
            MyValue::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => KeyValue::Text(s.to_owned()),
                Err(_) => KeyValue::Hex(b.iter().map(|x| format!("{x:02x}")).collect()),
            },
            MyValue::Date(y, mo, d, h, mi, s, us) => KeyValue::Date(*y, *mo, *d, *h, *mi, *s, *us),
            MyValue::Time(neg, days, h, m, s, us) => KeyValue::Time(*neg, *days, *h, *m, *s, *us),
        })
    }

    /// The statement parameter for this key value. Errors: a [`KeyValue::Hex`] that is not
    /// hex (a hand-edited checkpoint).
    pub(crate) fn to_param(&self) -> Result<MyValue, String> {
        Ok(match self {
            KeyValue::Int(i) => MyValue::Int(*i),
            KeyValue::UInt(u) => MyValue::UInt(*u),
            KeyValue::Double(d) => MyValue::Double(*d),
            KeyValue::Text(s) => MyValue::Bytes(s.as_bytes().to_vec()),
            KeyValue::Hex(h) => {
                if h.len() % 2 != 0 {
                    return Err(format!("key value hex {h:?} has an odd length"));
                }
                let bytes: Result<Vec<u8>, _> =
                    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16)).collect();
                MyValue::Bytes(bytes.map_err(|_| format!("key value hex {h:?} is not hex"))?)
            }
            KeyValue::Date(y, mo, d, h, mi, s, us) => MyValue::Date(*y, *mo, *d, *h, *mi, *s, *us),
            KeyValue::Time(neg, days, h, m, s, us) => MyValue::Time(*neg, *days, *h, *m, *s, *us),
        })
    }
}

/// Where one table's snapshot stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TableState {
    /// Not started.
    Pending,
    /// Rows up to and including primary key `after` have been read (`rows` of them). `after`
    /// None: the table has no primary key (it is read whole in one pass, so a resume reads it
    /// again from the start), or no row has been read yet.
    InProgress {
        /// The last key read, one value per primary-key column, in key order.
        after: Option<Vec<KeyValue>>,
        /// Rows read so far.
        rows: u64,
    },
    /// Every row has been read.
    Done {
        /// Rows read.
        rows: u64,
    },
}

/// One table's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProgress {
    /// Which table.
    pub table: TableId,
    /// How far.
    #[serde(flatten)]
    pub state: TableState,
}

/// The resumable state of a snapshot: what the collector's checkpoint records while a snapshot
/// runs (and after, with every table done).
///
/// Tables are read in the order of `tables`. `point` is the binlog position and GTID state the
/// rows read correspond to (the consistent snapshot's `binlog_snapshot_file` /
/// `binlog_snapshot_position`); streaming starts there once the snapshot is acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotProgress {
    /// Where the rows delivered so far and the changes delivered so far meet: the consistent
    /// point the rows were read at, or a later commit the binlog was delivered up to before a
    /// resumed run reads at its own later point (see the module docs of [`crate::snapshot`]).
    /// Streaming resumes here. None before it is known.
    pub point: Option<SnapshotPoint>,
    /// Every table of the snapshot, in reading order.
    pub tables: Vec<TableProgress>,
    /// How the rows are read: in one consistent snapshot (the default, also for checkpoints
    /// written before the field existed) or in watermark windows inside the stream.
    #[serde(default, skip_serializing_if = "SnapshotMethod::is_consistent")]
    pub method: SnapshotMethod,
}

/// How a snapshot reads its rows (see the module docs of [`crate::snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMethod {
    /// One `START TRANSACTION WITH CONSISTENT SNAPSHOT` and its binlog point (MariaDB); the
    /// stream starts at the point once every row is delivered.
    #[default]
    Consistent,
    /// Chunks between low and high watermarks written to the signal table, emitted inside the
    /// stream (servers without a consistent point: the OceanBase binlog service, MySQL).
    Watermark,
}

impl SnapshotMethod {
    /// True for [`SnapshotMethod::Consistent`].
    pub fn is_consistent(&self) -> bool {
        *self == SnapshotMethod::Consistent
    }
}

impl SnapshotProgress {
    /// A snapshot of `tables`, all pending, point not yet known.
    pub fn new(tables: impl IntoIterator<Item = TableId>) -> Self {
        Self {
            point: None,
            tables: tables.into_iter().map(|table| TableProgress { table, state: TableState::Pending }).collect(),
            method: SnapshotMethod::Consistent,
        }
    }

    /// True when every table is done.
    pub fn is_done(&self) -> bool {
        self.tables.iter().all(|t| matches!(t.state, TableState::Done { .. }))
    }

    /// The state of `table`, if it is part of this snapshot.
    pub fn state(&self, table: &TableId) -> Option<&TableState> {
        self.tables.iter().find(|t| &t.table == table).map(|t| &t.state)
    }

    /// Records `state` for `table` (added at the end when it is not listed yet).
    pub fn set(&mut self, table: &TableId, state: TableState) {
        match self.tables.iter_mut().find(|t| &t.table == table) {
            Some(t) => t.state = state,
            None => self.tables.push(TableProgress { table: table.clone(), state }),
        }
    }

    /// Tables not done yet.
    pub fn remaining(&self) -> usize {
        self.tables.iter().filter(|t| !matches!(t.state, TableState::Done { .. })).count()
    }

    /// Rows read so far, over all tables.
    pub fn rows(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| match t.state {
                TableState::Pending => 0,
                TableState::InProgress { rows, .. } | TableState::Done { rows } => rows,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::BinlogPosition;

    #[test]
    fn progress_round_trips_through_json_with_typed_keys() {
        let mut p = SnapshotProgress::new([TableId::new("d", "a"), TableId::new("d", "b"), TableId::new("d", "c")]);
        p.point = Some(SnapshotPoint {
            position: BinlogPosition::new("binlog.000002", 345),
            gtid_set: Some("0-1-7".parse().unwrap()),
            server_id: 1,
            ts_ms: 5,
        });
        p.set(&TableId::new("d", "a"), TableState::Done { rows: 3 });
        let after = vec![KeyValue::UInt(u64::MAX), KeyValue::Text("Ab ü".into()), KeyValue::Hex("e9ff".into())];
        p.set(&TableId::new("d", "b"), TableState::InProgress { after: Some(after.clone()), rows: 10 });
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""state":"in_progress""#), "{json}");
        assert!(json.contains("18446744073709551615"), "{json}");
        let back: SnapshotProgress = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.remaining(), 2);
        assert_eq!(back.rows(), 13);
        assert!(!back.is_done());
        let params: Vec<MyValue> = after.iter().map(|k| k.to_param().unwrap()).collect();
        assert_eq!(params[0], MyValue::UInt(u64::MAX));
        assert_eq!(params[2], MyValue::Bytes(vec![0xe9, 0xff]));
    }

    #[test]
    fn key_values_keep_the_server_bytes() {
        let latin1 = MyValue::Bytes(vec![b'c', b'a', b'f', 0xe9]);
        let k = KeyValue::from_my(&latin1).unwrap();
        assert_eq!(k, KeyValue::Hex("636166e9".into()));
        assert_eq!(k.to_param().unwrap(), latin1);
        assert_eq!(KeyValue::from_my(&MyValue::NULL), None);
        assert!(KeyValue::Hex("abc".into()).to_param().is_err());
        assert!(KeyValue::Hex("zz".into()).to_param().is_err());
    }
}
