//! The verifier: rebuilds each table's final state from the change events found in a DataHub
//! topic and compares it with `SELECT *` on the database.
//!
//! It reports rows missing, rows extra, values different, per-key order violations (a key's
//! events must appear in `(file, pos, row)` order within its shard) and duplicates (allowed by
//! at-least-once delivery, counted). Values are compared per column type (from the result-set
//! metadata of `SELECT *`): the server's text rendering is normalised to the contract JSON —
//! TIMESTAMP read in UTC (the verifier sets `time_zone='+00:00'` on its connection) against
//! `YYYY-MM-DD HH:MM:SS[.f]Z`, BINARY/VARBINARY/BLOB bytes against base64, BIT bytes against a
//! number, SET/ENUM labels, JSON parsed on both sides, DECIMAL exactly, TIME by value, FLOAT with
//! a relative tolerance of 1e-5 and DOUBLE of 1e-12 (the server prints shortest round-trip
//! text), integers and strings exactly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

/// One change event read back from the topic, with where it was stored.
#[derive(Debug, Clone)]
pub struct TopicEvent {
    /// Shard id it was stored in.
    pub shard: String,
    /// Its sequence in that shard.
    pub sequence: i64,
    /// The decoded contract JSON.
    pub event: Json,
    /// Record attributes.
    pub attributes: BTreeMap<String, String>,
}

impl TopicEvent {
    /// `(binlog file, pos, row, op)`: identifies the event.
    pub fn id(&self) -> (String, u64, u64, String) {
        let s = &self.event["source"];
        (
            s["file"].as_str().unwrap_or_default().to_owned(),
            s["pos"].as_u64().unwrap_or_default(),
            s["row"].as_u64().unwrap_or_default(),
            self.event["op"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// `db.table`.
    pub fn table(&self) -> String {
        format!(
            "{}.{}",
            self.event["source"]["db"].as_str().unwrap_or_default(),
            self.event["source"]["table"].as_str().unwrap_or_default()
        )
    }

    /// The row image that carries the key: `after`, or `before` for deletes.
    pub fn image(&self) -> &Json {
        if self.event["after"].is_null() {
            &self.event["before"]
        } else {
            &self.event["after"]
        }
    }
}

/// Decodes the emulator's stored BLOB records into [`TopicEvent`]s, sorted by shard then
/// sequence. Panics on a record that is not contract JSON (that is a test failure).
pub fn decode(records: Vec<(String, datahub_emulator::StoredRecord)>) -> Vec<TopicEvent> {
    let mut out: Vec<TopicEvent> = records
        .into_iter()
        .map(|(shard, r)| {
            let bytes = match &r.data {
                datahub_emulator::RecordData::Blob(b) => b.clone(),
                other => panic!("expected BLOB records, got {other:?}"),
            };
            let event: Json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("record {shard}/{} is not JSON: {e}: {}", r.sequence, String::from_utf8_lossy(&bytes))
            });
            TopicEvent { shard, sequence: r.sequence, event, attributes: r.attributes.clone() }
        })
        .collect();
    out.sort_by(|a, b| (a.shard.as_str(), a.sequence).cmp(&(b.shard.as_str(), b.sequence)));
    out
}

/// Renders a JSON value as the server's text protocol would render the column.
fn as_text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One database value with what its column type says about how to compare it.
#[derive(Debug, Clone)]
struct DbValue {
    ty: mysql_async::consts::ColumnType,
    binary: bool,
    raw: Option<Vec<u8>>,
}

impl DbValue {
    fn new(col: &mysql_async::Column, v: &mysql_async::Value) -> Self {
        let raw = match v {
            mysql_async::Value::NULL => None,
            mysql_async::Value::Bytes(b) => Some(b.clone()),
            other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
        };
        // Character set 63 is `binary` (BINARY, VARBINARY, BLOB; also numbers and dates, whose
        // types are told apart first).
        Self { ty: col.column_type(), binary: col.character_set() == 63, raw }
    }

    /// The value as the contract would render it, as text (for keys and reports).
    fn text(&self) -> Option<String> {
        use base64::Engine as _;
        use mysql_async::consts::ColumnType as T;
        let raw = self.raw.as_ref()?;
        Some(match self.ty {
            T::MYSQL_TYPE_BIT => raw.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)).to_string(),
            T::MYSQL_TYPE_STRING
            | T::MYSQL_TYPE_VAR_STRING
            | T::MYSQL_TYPE_VARCHAR
            | T::MYSQL_TYPE_BLOB
            | T::MYSQL_TYPE_TINY_BLOB
            | T::MYSQL_TYPE_MEDIUM_BLOB
            | T::MYSQL_TYPE_LONG_BLOB
            | T::MYSQL_TYPE_GEOMETRY
                if self.binary =>
            {
                base64::engine::general_purpose::STANDARD.encode(raw)
            }
            _ => String::from_utf8_lossy(raw).into_owned(),
        })
    }

    /// Whether the event's JSON value `ev` is this database value.
    fn matches(&self, ev: &Json) -> bool {
        use mysql_async::consts::ColumnType as T;
        let (Some(db), Some(evt)) = (self.text(), as_text(ev)) else {
            return self.raw.is_none() && ev.is_null();
        };
        match self.ty {
            T::MYSQL_TYPE_FLOAT | T::MYSQL_TYPE_DOUBLE => {
                let tol = if self.ty == T::MYSQL_TYPE_FLOAT { 1e-5 } else { 1e-12 };
                match (db.parse::<f64>(), ev.as_f64()) {
                    (Ok(a), Some(b)) => a == b || (a - b).abs() <= tol * a.abs().max(b.abs()),
                    _ => false,
                }
            }
            T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_TIMESTAMP2 => {
                // Server (UTC session): `YYYY-MM-DD HH:MM:SS[.f]`; contract v2: `… HH:MM:SS[.f]Z`.
                evt.strip_suffix('Z').map(|e| e.replacen('T', " ", 1)) == Some(db)
            }
            T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => {
                time_value(&db).is_some() && time_value(&db) == time_value(&evt)
            }
            T::MYSQL_TYPE_JSON => json_equal(&db, ev),
            T::MYSQL_TYPE_BLOB | T::MYSQL_TYPE_LONG_BLOB | T::MYSQL_TYPE_MEDIUM_BLOB
                if !self.binary && looks_like_json(&db) =>
            {
                // MariaDB's JSON is LONGTEXT: equal as text, or as JSON values.
                db == evt || json_equal(&db, ev)
            }
            _ => db == evt,
        }
    }
}

fn looks_like_json(s: &str) -> bool {
    matches!(s.trim_start().as_bytes().first(), Some(b'{') | Some(b'['))
}

fn json_equal(db: &str, ev: &Json) -> bool {
    let Ok(d) = serde_json::from_str::<Json>(db) else { return false };
    match ev {
        Json::String(s) => serde_json::from_str::<Json>(s).map(|e| e == d).unwrap_or(false),
        other => *other == d,
    }
}

/// `[-]H+:MM:SS[.f]` → (negative, hours, minutes, seconds, microseconds).
fn time_value(s: &str) -> Option<(bool, u64, u64, u64, u64)> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut it = hms.split(':');
    let (h, m, sec) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    let micros = if frac.is_empty() { 0 } else { format!("{frac:0<6}").get(..6)?.parse().ok()? };
    let zero = h == 0 && m == 0 && sec == 0 && micros == 0;
    Some((neg && !zero, h, m, sec, micros))
}

/// What the verifier found.
#[derive(Debug, Default)]
pub struct Report {
    /// Events checked.
    pub events: usize,
    /// Keys present in the database but not in the rebuilt state (or deleted there).
    pub missing: Vec<String>,
    /// Keys in the rebuilt state but not in the database.
    pub extra: Vec<String>,
    /// Keys whose values differ: (key, column, database text, event text).
    pub different: Vec<(String, String, Option<String>, Option<String>)>,
    /// Per-key order violations: a key's event with a smaller (file, pos, row) after a larger one.
    pub reorders: Vec<String>,
    /// Events seen more than once (same file, pos, row, op).
    pub duplicates: usize,
    /// Keys whose events were found on more than one shard.
    pub split_keys: Vec<String>,
}

impl Report {
    /// True when nothing is missing, extra, different or reordered (duplicates are allowed).
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.different.is_empty()
            && self.reorders.is_empty()
            && self.split_keys.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events: {} missing, {} extra, {} different, {} per-key reorders, {} keys on several shards, {} duplicates",
            self.events,
            self.missing.len(),
            self.extra.len(),
            self.different.len(),
            self.reorders.len(),
            self.split_keys.len(),
            self.duplicates
        )?;
        for (what, list) in [("missing", &self.missing), ("extra", &self.extra), ("reorder", &self.reorders)] {
            for k in list.iter().take(5) {
                write!(f, "\n  {what}: {k}")?;
            }
        }
        for d in self.different.iter().take(5) {
            write!(f, "\n  different: {d:?}")?;
        }
        Ok(())
    }
}

fn file_index(file: &str) -> u64 {
    cdc_core::position::BinlogPosition::new(file, 0).file_index().unwrap_or(0)
}

/// Rebuilds `db.table` from `events` and compares it with the database.
///
/// `key_columns` are the table's primary-key columns. Events of other tables are ignored (but
/// counted in order/duplicate checks done by [`check_order`]).
pub async fn verify_table(
    conn: &mut mysql_async::Conn,
    events: &[TopicEvent],
    db: &str,
    table: &str,
    key_columns: &[&str],
) -> Report {
    let mut report = check_order(events, key_columns);
    let name = format!("{db}.{table}");
    let key_of = |img: &Json| -> String {
        key_columns.iter().map(|c| as_text(&img[*c]).unwrap_or_else(|| "NULL".into())).collect::<Vec<_>>().join("|")
    };

    // Replay: within a shard, sequence order is binlog order, and one key lives on one shard.
    let mut state: BTreeMap<String, Json> = BTreeMap::new();
    let mut seen = HashSet::new();
    for ev in events.iter().filter(|e| e.table() == name) {
        if !seen.insert(ev.id()) {
            continue; // a duplicate replays the same change: skip it
        }
        match ev.event["op"].as_str() {
            Some("c") | Some("u") | Some("r") => {
                if ev.event["op"] == "u" {
                    state.remove(&key_of(&ev.event["before"]));
                }
                state.insert(key_of(&ev.event["after"]), ev.event["after"].clone());
            }
            Some("d") => {
                state.remove(&key_of(&ev.event["before"]));
            }
            other => panic!("unknown op {other:?}"),
        }
    }

    // The database, normalised per column type. TIMESTAMP values are read in UTC.
    conn.query_drop("SET time_zone='+00:00'").await.expect("SET time_zone");
    let rows: Vec<mysql_async::Row> =
        conn.query(format!("SELECT * FROM `{db}`.`{table}`")).await.expect("select the table");
    let mut db_state: BTreeMap<String, BTreeMap<String, DbValue>> = BTreeMap::new();
    for row in rows {
        let cols = row.columns();
        let mut m = BTreeMap::new();
        for (i, c) in cols.iter().enumerate() {
            m.insert(c.name_str().into_owned(), DbValue::new(c, row.as_ref(i).expect("value")));
        }
        let key =
            key_columns.iter().map(|c| m[*c].text().unwrap_or_else(|| "NULL".into())).collect::<Vec<_>>().join("|");
        db_state.insert(key, m);
    }

    for (key, cols) in &db_state {
        match state.get(key) {
            None => report.missing.push(format!("{name} key {key}")),
            Some(img) => {
                for (col, dbv) in cols {
                    let ev = &img[col.as_str()];
                    if !dbv.matches(ev) {
                        report.different.push((format!("{name} key {key}"), col.clone(), dbv.text(), as_text(ev)));
                    }
                }
            }
        }
    }
    for key in state.keys() {
        if !db_state.contains_key(key) {
            report.extra.push(format!("{name} key {key}"));
        }
    }
    report
}

/// Checks per-key order and shard affinity over all events, and counts duplicates.
pub fn check_order(events: &[TopicEvent], key_columns: &[&str]) -> Report {
    let mut report = Report { events: events.len(), ..Report::default() };
    let mut last: HashMap<String, (u64, u64, u64, String)> = HashMap::new();
    let mut shard_of: HashMap<String, String> = HashMap::new();
    let mut seen = HashSet::new();
    for ev in events {
        if !seen.insert(ev.id()) {
            report.duplicates += 1;
            continue;
        }
        let img = ev.image();
        let key = format!(
            "{}:{}",
            ev.table(),
            key_columns.iter().map(|c| as_text(&img[*c]).unwrap_or_default()).collect::<Vec<_>>().join("|")
        );
        let (file, pos, row, _) = ev.id();
        let here = (file_index(&file), pos, row, ev.shard.clone());
        if let Some(prev) = last.get(&key) {
            if prev.3 == here.3 && (prev.0, prev.1, prev.2) > (here.0, here.1, here.2) {
                report.reorders.push(format!("{key}: {prev:?} then {here:?}"));
            }
        }
        match shard_of.get(&key) {
            Some(s) if *s != ev.shard => {
                // A key may legitimately move when its shard was split or sealed; the caller
                // decides whether that happened. Record it.
                report.split_keys.push(format!("{key}: shards {s} and {}", ev.shard));
            }
            _ => {
                shard_of.insert(key.clone(), ev.shard.clone());
            }
        }
        last.insert(key, here);
    }
    report
}

impl Report {
    /// Adds `other`'s findings to this report (events and duplicates are summed).
    pub fn merge(&mut self, other: Report) {
        self.events += other.events;
        self.missing.extend(other.missing);
        self.extra.extend(other.extra);
        self.different.extend(other.different);
        self.reorders.extend(other.reorders);
        self.duplicates += other.duplicates;
        self.split_keys.extend(other.split_keys);
    }
}

/// Verifies every table of [`crate::workload::TABLES`] in `db` against `events` (each table with
/// its own key columns, order checked over that table's events only) and merges the reports.
pub async fn verify_workload(conn: &mut mysql_async::Conn, events: &[TopicEvent], db: &str) -> Report {
    let mut all = Report::default();
    for t in crate::workload::TABLES {
        let name = format!("{db}.{}", t.name);
        let mine: Vec<TopicEvent> = events.iter().filter(|e| e.table() == name).cloned().collect();
        all.merge(verify_table(conn, &mine, db, t.name, t.key).await);
    }
    all
}

/// For topics whose shards were split or sealed: keys whose events are on several shards *and
/// interleave* (an event on one shard sits, in binlog order, between two events of the same key
/// on another). A key that moved once, from a closed parent to a child, does not interleave.
/// `events` must be one table's, `key_columns` its key.
pub fn interleaved_moves(events: &[TopicEvent], key_columns: &[&str]) -> Vec<String> {
    /// `((file index, pos, row), shard)` of one event.
    type Placed = ((u64, u64, u64), String);
    let mut by_key: HashMap<String, Vec<Placed>> = HashMap::new();
    let mut seen = HashSet::new();
    for ev in events {
        if !seen.insert(ev.id()) {
            continue;
        }
        let img = ev.image();
        let key = key_columns.iter().map(|c| as_text(&img[*c]).unwrap_or_default()).collect::<Vec<_>>().join("|");
        let (file, pos, row, _) = ev.id();
        by_key
            .entry(format!("{}:{key}", ev.table()))
            .or_default()
            .push(((file_index(&file), pos, row), ev.shard.clone()));
    }
    let mut out = Vec::new();
    for (key, mut evs) in by_key {
        evs.sort();
        let mut shards_done: HashSet<String> = HashSet::new();
        let mut current: Option<&str> = None;
        for (_, s) in &evs {
            if current != Some(s.as_str()) {
                if !shards_done.insert(s.clone()) {
                    out.push(format!("{key}: back on shard {s} after moving: {evs:?}"));
                    break;
                }
                current = Some(s.as_str());
            }
        }
    }
    out
}
