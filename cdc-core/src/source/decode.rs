//! The event decoder: a synchronous state machine fed one binlog [`Event`] at a time (from the
//! network or from a file), producing [`SourceMessage`]s. It owns position tracking (file from
//! ROTATE, offset from `log_pos` = end of the event), transaction state (BEGIN/GTID … XID/COMMIT),
//! the MariaDB GTID state, the TABLE_MAP cache (one `TablePlan` per table_id) and row decoding
//! straight from `rows_data()` with the cached plan (binlog-probe §4.10: 5.6× the `BinlogRow`
//! path).
//!
//! Protocol facts: MySQL manual / MySQL source "Binary log event types"
//! (`libbinlogevents/include/binlog_event.h`); MariaDB event layouts (GTID 162, GTID_LIST 163)
//! from MariaDB's `sql/log_event.h` (<https://github.com/MariaDB/server/blob/11.4/sql/log_event.h>)

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

use bitvec::prelude::*;
use mysql_common::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_common::io::ParseBuf;

use super::error::SourceError;
use super::filter::TableFilter;
use super::gtid::{MysqlGtidSet, UuidText};
use super::message::{SchemaChange, SourceMessage};
use super::table::{build_plan, TablePlan, TableSchema};
use super::value::{apply_json_diffs, parse_value, push_fast, Parsed};
use crate::event::{ChangeEvent, Op, Origin, Row, RowsEventInfo, SourceInfo, TransactionInfo, Value};
use crate::metrics;
use crate::position::{BinlogPosition, GtidSet, Resume};

use crate::checkpoint::Checkpoint;
use crate::status::now_ms;

/// Binlog event type codes (MySQL `Log_event_type`, MariaDB additions from 160).
mod ty {
    pub(super) const QUERY: u8 = 2;
    pub(super) const STOP: u8 = 3;
    pub(super) const ROTATE: u8 = 4;
    pub(super) const FORMAT_DESCRIPTION: u8 = 15;
    pub(super) const XID: u8 = 16;
    pub(super) const TABLE_MAP: u8 = 19;
    pub(super) const WRITE_ROWS_V1: u8 = 23;
    pub(super) const DELETE_ROWS_V1: u8 = 25;
    pub(super) const HEARTBEAT: u8 = 27;
    pub(super) const WRITE_ROWS: u8 = 30;
    pub(super) const DELETE_ROWS: u8 = 32;
    pub(super) const GTID: u8 = 33;
    pub(super) const ANONYMOUS_GTID: u8 = 34;
    pub(super) const PREVIOUS_GTIDS: u8 = 35;
    pub(super) const PARTIAL_UPDATE_ROWS: u8 = 39;
    pub(super) const TRANSACTION_PAYLOAD: u8 = 40;
    pub(super) const HEARTBEAT_V2: u8 = 41;
    pub(super) const GTID_TAGGED: u8 = 42;
    pub(super) const MARIA_ANNOTATE_ROWS: u8 = 160;
    pub(super) const MARIA_BINLOG_CHECKPOINT: u8 = 161;
    pub(super) const MARIA_GTID: u8 = 162;
    pub(super) const MARIA_GTID_LIST: u8 = 163;
    pub(super) const MARIA_QUERY_COMPRESSED: u8 = 165;
    pub(super) const MARIA_DELETE_ROWS_COMPRESSED_V1: u8 = 171;
}

/// `LOG_EVENT_ARTIFICIAL_F`: the event was made up by the server (fake ROTATE, resent FDE).
const ARTIFICIAL_F: u16 = 0x20;
/// True for events the server wrote to the binlog (not artificial, not heartbeats), whose
/// timestamp says how far behind the reader is.
pub(crate) fn is_server_written(ev: &Event) -> bool {
    let h = ev.header();
    h.log_pos() != 0
        && h.flags_raw() & ARTIFICIAL_F == 0
        && !matches!(h.event_type_raw(), ty::HEARTBEAT | ty::HEARTBEAT_V2)
}

/// MariaDB GTID flag `FL_STANDALONE`: the transaction is a single statement without BEGIN.
const MARIA_FL_STANDALONE: u8 = 0x01;

fn skipped(reason: &'static str, event_type: u8) {
    ::metrics::counter!(metrics::BINLOG_EVENTS_SKIPPED_TOTAL, "reason" => reason, "event_type" => event_type.to_string())
        .increment(1);
}

/// A table the TABLE_MAP cache knows: captured (with its plan) or filtered out.
#[derive(Debug, Clone)]
enum Mapped {
    /// The plan, the TABLE_MAP body it was built from and the schema-cache generation then:
    /// an identical TABLE_MAP (the server re-sends one per transaction) reuses the plan.
    Captured(Arc<TablePlan>, Box<[u8]>, u64),
    Filtered,
}

/// State of the transaction being read.
#[derive(Debug, Default)]
struct Txn {
    open: bool,
    /// MariaDB standalone (DDL) transaction: committed by its single QUERY event.
    standalone: bool,
    gtid: Option<Arc<str>>,
    /// MariaDB (domain, server, seq) of the open transaction.
    maria: Option<(u32, u32, u64)>,
    /// MySQL (source UUID, tag or "", GNO) of the open transaction.
    mysql: Option<([u8; 16], String, u64)>,
    id: Option<Arc<str>>,
    total: u64,
    per_table: HashMap<(Arc<str>, Arc<str>), u64>,
    /// Opened by a rows event, not by GTID/BEGIN: the stream started inside this transaction.
    started_inside: bool,
}

/// Decodes binlog events into [`SourceMessage`]s. Usable on a live stream and on files
/// ([`super::file::decode_file`]).
#[derive(Debug)]
pub struct Decoder {
    name: Arc<str>,
    filter: TableFilter,
    /// Refuse row images that miss columns (see [`Decoder::require_full_row_image`]).
    require_full_image: bool,
    tables: HashMap<u64, Mapped>,
    schemas: HashMap<(String, String), Arc<TableSchema>>,
    /// Bumped whenever `schemas` changes, so plans built from older facts are rebuilt.
    schema_generation: u64,
    file: Arc<str>,
    pos: u64,
    mariadb: bool,
    server_id: u32,
    txn: Txn,
    /// MariaDB GTID state: domain → (server_id, seq_no).
    maria_gtids: BTreeMap<u32, (u32, u64)>,
    /// MySQL GTID set executed up to the current position: the set given at start, or the
    /// first PREVIOUS_GTIDS event read (the start of a binlog file), advanced by every
    /// committed transaction's GTID. None while unknown (started mid-file without a set).
    mysql_gtids: Option<MysqlGtidSet>,
    /// A start GTID set that is neither MariaDB nor MySQL text: carried as given.
    other_gtids: Option<String>,
    /// End offset of the TRANSACTION_PAYLOAD event whose inner events are being read.
    payload_end: Option<u64>,
    first_rotate_has_crc: bool,
    /// Rows decoded (for status).
    pub rows_total: u64,
    /// Wall clock (ms) read once per rows event for `ChangeEvent.ts_ms`.
    now_ms: i64,
    /// Events per `Op` (by discriminant) of the rows event being decoded.
    op_counts: [u64; 4],
    /// Rows of the current rows event's table in the transaction so far
    /// (`data_collection_order`), kept here while the rows event is decoded.
    table_rows: u64,
    /// Carried into every commit's checkpoint ([`Checkpoint::snapshotted`]).
    snapshotted: Option<Arc<std::collections::BTreeSet<crate::snapshot::TableId>>>,
}

impl Decoder {
    /// Whether a rows event whose before/after image misses columns is an error (default:
    /// true). The live source keeps it on: the precheck guarantees a GLOBAL
    /// `binlog_row_image=FULL`, so a partial image means a session override, and emitting it
    /// would lose the missing values. Offline decoding of arbitrary files turns it off: missing
    /// columns are then emitted as null.
    pub fn require_full_row_image(&mut self, on: bool) {
        self.require_full_image = on;
    }

    /// A decoder labelling events with `name`, capturing what `filter` selects, starting at
    /// `start` (file and offset, or a GTID set whose file the first ROTATE names) with the
    /// GTID state it carries (MariaDB `d-s-n,...` or MySQL set).
    pub fn new(name: &str, filter: TableFilter, start: &Resume) -> Self {
        let mut maria_gtids = BTreeMap::new();
        let mut mysql_gtids = None;
        let mut other = None;
        // Before the first ROTATE of a GTID start the file is unknown: empty, internally.
        let (file, pos) = start.position().map_or(("", 4), |p| (p.file.as_str(), p.pos));
        if let Some(g) = start.gtid_set().map(|g| g.text.as_str()).filter(|g| !g.trim().is_empty()) {
            if let Some(m) = parse_maria_gtids(g) {
                maria_gtids = m;
            } else if let Ok(m) = MysqlGtidSet::parse(g) {
                mysql_gtids = Some(m);
            } else {
                other = Some(g.to_string());
            }
        }
        Self {
            name: name.into(),
            filter,
            require_full_image: true,
            tables: HashMap::new(),
            schemas: HashMap::new(),
            schema_generation: 0,
            file: file.into(),
            pos,
            mariadb: false,
            server_id: 0,
            txn: Txn::default(),
            maria_gtids,
            mysql_gtids,
            other_gtids: other,
            payload_end: None,
            first_rotate_has_crc: false,
            rows_total: 0,
            now_ms: 0,
            op_counts: [0; 4],
            table_rows: 0,
            snapshotted: None,
        }
    }

    /// The tables an initial snapshot delivered, carried unchanged into every commit's
    /// checkpoint ([`Checkpoint::snapshotted`]; an `Arc`, so a commit costs no copy).
    pub fn carry_snapshotted(&mut self, tables: Option<Arc<std::collections::BTreeSet<crate::snapshot::TableId>>>) {
        self.snapshotted = tables;
    }

    /// Prepares for a new replication connection that will start at `at` (the last commit
    /// position sent; GTID state is kept); when
    /// `checksums_on`, the first (fake) ROTATE's name carries 4 CRC bytes (mysql_async#189).
    /// An open transaction is abandoned (the stream resumes at a transaction boundary).
    pub fn begin_connection(&mut self, checksums_on: bool, at: &Resume) {
        self.first_rotate_has_crc = checksums_on;
        if let Some(at) = at.position() {
            self.file = at.file.as_str().into();
            self.pos = at.pos;
        }
        self.txn = Txn::default();
        self.payload_end = None;
    }

    /// Sets whether the server is MariaDB (normally learnt from the FORMAT_DESCRIPTION event).
    pub fn set_mariadb(&mut self, mariadb: bool) {
        self.mariadb = mariadb;
    }

    /// The current position (end of the last non-artificial event).
    pub fn position(&self) -> BinlogPosition {
        BinlogPosition::new(self.file.to_string(), self.pos)
    }

    /// True while inside a transaction.
    pub fn in_transaction(&self) -> bool {
        self.txn.open
    }

    /// The current GTID state as text, if known: MariaDB `d-s-n,...` sorted by domain; MySQL
    /// the executed GTID set in canonical form (`uuid:1-n,...`, see [`MysqlGtidSet`]).
    pub fn gtid_state(&self) -> Option<String> {
        if !self.maria_gtids.is_empty() {
            Some(self.maria_gtids.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(","))
        } else if let Some(set) = self.mysql_gtids.as_ref().filter(|s| !s.is_empty()) {
            Some(set.to_string())
        } else {
            self.other_gtids.clone()
        }
    }

    /// For a TABLE_MAP event of a captured table whose schema is not cached, the (schema, table)
    /// to look up in `information_schema`: every fact the map lacks comes from there (with
    /// `binlog_row_metadata` NO_LOG, all of them), and the facts it holds are cross-checked
    /// against it (see `source/table.rs`).
    pub fn needs_schema(&self, ev: &Event) -> Option<(String, String)> {
        if ev.header().event_type_raw() != ty::TABLE_MAP {
            return None;
        }
        let tme: TableMapEvent<'_> = ev.read_event().ok()?;
        let (db, table) = (tme.database_name().into_owned(), tme.table_name().into_owned());
        if !self.filter.matches(&db, &table) {
            return None;
        }
        if self.schemas.contains_key(&(db.clone(), table.clone())) {
            return None;
        }
        Some((db, table))
    }

    /// Caches the `information_schema` facts of `db`.`table` (see [`Self::needs_schema`]).
    pub fn put_schema(&mut self, db: String, table: String, schema: TableSchema) {
        self.schemas.insert((db, table), Arc::new(schema));
        self.schema_generation += 1;
    }

    fn err(&self, message: impl Into<String>) -> SourceError {
        SourceError::Decode { position: self.position(), message: message.into() }
    }

    fn commit(&mut self, out: &mut Vec<SourceMessage>) {
        if let Some((d, s, n)) = self.txn.maria.take() {
            self.maria_gtids.insert(d, (s, n));
        }
        if let (Some((uuid, tag, gno)), Some(set)) = (self.txn.mysql.take(), self.mysql_gtids.as_mut()) {
            set.add(uuid, &tag, gno);
        }
        self.txn = Txn::default();
        self.payload_end = None;
        // The decoder writes the GTID text itself: it always parses.
        let gtid_set = self.gtid_state().and_then(|g| g.parse::<GtidSet>().ok());
        let resume = match (self.file.is_empty(), gtid_set) {
            // A commit before any ROTATE of a GTID start (no server sends one): still a GTID
            // resume point.
            (true, Some(gtid_set)) => Resume::Gtid { gtid_set },
            (_, gtid_set) => Resume::Position { position: self.position(), gtid_set },
        };
        out.push(SourceMessage::Commit(Checkpoint {
            resume,
            server_id: self.server_id,
            ts_ms: now_ms(),
            snapshot: None,
            snapshotted: self.snapshotted.clone(),
        }));
    }

    fn open_txn(&mut self, start: u64) {
        self.txn.open = true;
        if self.txn.id.is_none() {
            self.txn.id = Some(match &self.txn.gtid {
                Some(g) => g.clone(),
                None => format!("{}:{}", self.file, start).into(),
            });
        }
    }

    /// Feeds one event; messages it produces are appended to `out`.
    ///
    /// Errors: [`SourceError::Decode`] for an event that cannot be decoded (including MariaDB
    /// compressed events, which would otherwise lose rows silently).
    pub fn handle(&mut self, ev: &Event, out: &mut Vec<SourceMessage>) -> Result<(), SourceError> {
        let h = ev.header();
        let et = h.event_type_raw();
        let artificial = h.flags_raw() & ARTIFICIAL_F != 0 || h.log_pos() == 0;
        let size = h.event_size() as u64;
        // Inner events of a TRANSACTION_PAYLOAD carry log_pos 0: they sit at the payload's end.
        let end = if h.log_pos() == 0 { self.payload_end.unwrap_or(self.pos) } else { h.log_pos() as u64 };
        let start = end.saturating_sub(size);
        let ts_ms = h.timestamp() as i64 * 1000;
        ::metrics::counter!(metrics::BINLOG_BYTES_TOTAL).increment(size);

        match et {
            ty::ROTATE => {
                let data = ev.read_data().map_err(|e| self.err(format!("ROTATE: {e}")))?;
                if let Some(EventData::RotateEvent(r)) = data {
                    let mut name = r.name_raw().to_vec();
                    if h.log_pos() == 0 && self.first_rotate_has_crc && name.len() > 4 && rotate_has_trailing_crc(ev) {
                        name.truncate(name.len() - 4);
                    }
                    // The OceanBase binlog service sends a fake ROTATE without a CRC at the start
                    // of each following file (oblogproxy `binlog_dumper.cpp`); read with the CRC32
                    // setting of the previous FDE, its name lost its last 4 bytes to the
                    // "checksum". The real ROTATE before it already named the file.
                    if h.log_pos() == 0
                        && self.file.len() == name.len() + 4
                        && self.file.as_bytes().starts_with(&name)
                        && r.position() == 4
                    {
                        name = self.file.as_bytes().to_vec();
                    }
                    self.first_rotate_has_crc = false;
                    self.file = String::from_utf8_lossy(&name).as_ref().into();
                    self.pos = r.position();
                }
                return Ok(());
            }
            ty::FORMAT_DESCRIPTION => {
                if let Ok(Some(EventData::FormatDescriptionEvent(f))) = ev.read_data() {
                    self.mariadb = f.server_version().contains("MariaDB");
                }
                self.first_rotate_has_crc = false;
            }
            ty::HEARTBEAT | ty::HEARTBEAT_V2 => {
                if !self.txn.open {
                    // The body names the file the heartbeat's log_pos is in (MySQL: the file
                    // name; OceanBase: its full path). A heartbeat about the previous file,
                    // sent after its ROTATE (OceanBase's per-batch heartbeats), keeps our position.
                    let body = ev.data();
                    let base = body.rsplit(|&b| b == b'/').next().unwrap_or(body);
                    let same_file = et != ty::HEARTBEAT || base.is_empty() || base == self.file.as_bytes();
                    let pos = if h.log_pos() != 0 && same_file { h.log_pos() as u64 } else { self.pos };
                    out.push(SourceMessage::Heartbeat {
                        position: BinlogPosition::new(self.file.to_string(), pos),
                        ts_ms,
                    });
                }
                return Ok(());
            }
            ty::QUERY => {
                let q = match ev.read_data() {
                    Ok(Some(EventData::QueryEvent(q))) => q,
                    Ok(_) => return Err(self.err("QUERY event unreadable")),
                    Err(e) => return Err(self.err(format!("QUERY: {e}"))),
                };
                let sql = q.query();
                let word = sql
                    .trim_start()
                    .split(|c: char| c.is_whitespace() || c == ';')
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                let schema = q.schema().into_owned();
                if !artificial {
                    self.pos = end;
                }
                self.server_id = h.server_id();
                let upper = sql.trim_start().to_ascii_uppercase();
                let xa = |w: &str| upper.starts_with("XA ") && upper[3..].trim_start().starts_with(w);
                if word == "BEGIN" || xa("START") || xa("BEGIN") {
                    self.open_txn(start);
                } else if matches!(upper.trim_end_matches([';', ' ', '\n']), "COMMIT" | "ROLLBACK")
                    || xa("COMMIT")
                    || xa("ROLLBACK")
                    || xa("PREPARE")
                {
                    // Exactly COMMIT/ROLLBACK: `ROLLBACK TO SAVEPOINT` stays inside the transaction.
                    // XA PREPARE ends the binlogged part of an XA transaction (MySQL 5.7+).
                    self.commit(out);
                } else {
                    if word == "ROLLBACK" {
                        // `ROLLBACK TO sp` is only logged when a non-transactional table was
                        // changed after the savepoint; rows of transactional tables logged
                        // since then were undone but have been emitted (known limit).
                        tracing::warn!(query = %sql, position = %self.position(), "ROLLBACK TO SAVEPOINT in the binlog: rows of transactional tables since the savepoint were emitted although undone");
                    }
                    if is_dml(&word) && self.filter.may_capture(&schema, &sql) {
                        // Statement-format DML (a client set binlog_format=STATEMENT/MIXED for
                        // its session; the precheck sees only the GLOBAL value) carries no rows:
                        // skipping it would lose its changes silently. Stop instead.
                        return Err(self.err(format!(
                            "statement-based DML in the binlog (`{}`): its rows are not in the binlog. A \
                             client wrote it with binlog_format other than ROW (set for its session). Make every \
                             client use binlog_format=ROW, then restart from a later position \
                             (remove the checkpoint and set the start position) and re-snapshot the tables it changed",
                            sql.chars().take(80).collect::<String>()
                        )));
                    }
                    if is_ddl(&word) {
                        self.on_ddl(&schema, &sql, ts_ms, out);
                    }
                    if !self.txn.open || self.txn.standalone {
                        // A statement outside a transaction (DDL...) is its own boundary.
                        self.commit(out);
                    }
                }
                return Ok(());
            }
            ty::XID => {
                // Inside a TRANSACTION_PAYLOAD the XID has log_pos 0; `end` is then the
                // payload's end, the resume point.
                self.pos = end;
                self.server_id = h.server_id();
                self.commit(out);
                return Ok(());
            }
            ty::MARIA_GTID => {
                let d = ev.data();
                if d.len() < 13 {
                    return Err(self.err("MariaDB GTID event too short"));
                }
                let seq = u64::from_le_bytes(d[0..8].try_into().expect("8 bytes"));
                let domain = u32::from_le_bytes(d[8..12].try_into().expect("4 bytes"));
                let flags = d[12];
                let server = h.server_id();
                self.txn = Txn::default();
                self.txn.gtid = Some(format!("{domain}-{server}-{seq}").into());
                self.txn.maria = Some((domain, server, seq));
                self.txn.standalone = flags & MARIA_FL_STANDALONE != 0;
                self.open_txn(start);
                if !artificial {
                    self.pos = end;
                }
                return Ok(());
            }
            ty::MARIA_GTID_LIST => {
                let d = ev.data();
                if d.len() >= 4 {
                    let count = (u32::from_le_bytes(d[0..4].try_into().expect("4 bytes")) & 0x0fff_ffff) as usize;
                    if d.len() >= 4 + count * 16 {
                        let mut state = BTreeMap::new();
                        for i in 0..count {
                            let e = &d[4 + i * 16..4 + (i + 1) * 16];
                            let domain = u32::from_le_bytes(e[0..4].try_into().expect("4"));
                            let server = u32::from_le_bytes(e[4..8].try_into().expect("4"));
                            let seq = u64::from_le_bytes(e[8..16].try_into().expect("8"));
                            state.insert(domain, (server, seq));
                        }
                        // The list is the state at this point of the binlog; keep domains it
                        // does not mention (they can only be older).
                        for (d, v) in state {
                            let newer = self.maria_gtids.get(&d).is_none_or(|cur| cur.1 <= v.1);
                            if newer {
                                self.maria_gtids.insert(d, v);
                            }
                        }
                    }
                }
                skipped("gtid_list", et);
            }
            ty::GTID | ty::GTID_TAGGED => {
                if let Ok(Some(EventData::GtidEvent(g))) = ev.read_data() {
                    let sid = g.sid();
                    let u = UuidText(&sid);
                    let gtid = match g.tag() {
                        Some(t) => format!("{u}:{}:{}", t, g.gno()),
                        None => format!("{u}:{}", g.gno()),
                    };
                    self.txn = Txn::default();
                    self.txn.gtid = Some(gtid.into());
                    self.txn.mysql = Some((sid, g.tag().map(|t| t.as_str().to_string()).unwrap_or_default(), g.gno()));
                }
            }
            ty::PREVIOUS_GTIDS => {
                // The GTIDs executed before this binlog file: the start of tracking when the
                // set was not known (a start at a file's beginning, or the next file after a
                // start mid-file). A known set already holds them.
                if self.mysql_gtids.is_none() && !self.mariadb {
                    if let Ok(Some(EventData::PreviousGtidsEvent(p))) = ev.read_data() {
                        self.mysql_gtids = Some(MysqlGtidSet::from_previous_gtids(&p));
                    }
                }
                skipped("previous_gtids", et);
            }
            ty::ANONYMOUS_GTID => {
                self.txn = Txn::default();
            }
            ty::TRANSACTION_PAYLOAD => {
                self.payload_end = Some(end);
                skipped("transaction_payload", et);
            }
            ty::TABLE_MAP => {
                let tme: TableMapEvent<'_> = ev.read_event().map_err(|e| self.err(format!("TABLE_MAP: {e}")))?;
                if let Some(Mapped::Captured(_, raw, generation)) = self.tables.get(&tme.table_id()) {
                    if **raw == *ev.data() && *generation == self.schema_generation {
                        if !artificial {
                            self.pos = end;
                        }
                        return Ok(());
                    }
                }
                let (db, table) = (tme.database_name(), tme.table_name());
                let mapped = if self.filter.matches(&db, &table) {
                    let schema = self.schemas.get(&(db.to_string(), table.to_string())).cloned();
                    check_str_values(&tme).map_err(|e| self.err(format!("TABLE_MAP of {db}.{table}: {e}")))?;
                    let plan = build_plan(&tme, self.mariadb, schema.as_deref())
                        .map_err(|e| self.err(format!("TABLE_MAP of {db}.{table}: {e}")))?;
                    Mapped::Captured(Arc::new(plan), ev.data().into(), self.schema_generation)
                } else {
                    skipped("filtered", et);
                    Mapped::Filtered
                };
                self.tables.insert(tme.table_id(), mapped);
            }
            ty::WRITE_ROWS_V1..=ty::DELETE_ROWS_V1 | ty::WRITE_ROWS..=ty::DELETE_ROWS | ty::PARTIAL_UPDATE_ROWS => {
                let data = ev.read_data().map_err(|e| self.err(format!("rows event: {e}")))?;
                let Some(EventData::RowsEvent(re)) = data else {
                    return Err(self.err(format!("rows event type {et} unreadable")));
                };
                if !self.txn.open {
                    // MySQL without BEGIN (should not happen) or a file read from mid-txn.
                    self.open_txn(start);
                    self.txn.started_inside = true;
                }
                let plan = match self.tables.get(&re.table_id()) {
                    Some(Mapped::Captured(p, ..)) => p.clone(),
                    Some(Mapped::Filtered) => {
                        skipped("filtered", et);
                        if !artificial {
                            self.pos = end;
                        }
                        return Ok(());
                    }
                    // A start inside a transaction can land between a TABLE_MAP and its ROWS
                    // event: OceanBase's SHOW MASTER STATUS lags and can stop anywhere
                    // (goInception PR #619). The rest of that transaction is before the start.
                    None if self.txn.started_inside => {
                        tracing::warn!(
                            table_id = re.table_id(),
                            "rows event without its TABLE_MAP at the start of the stream (the start position is inside a transaction): skipped"
                        );
                        skipped("started inside a transaction", et);
                        if !artificial {
                            self.pos = end;
                        }
                        return Ok(());
                    }
                    None => return Err(self.err(format!("rows event for unknown table_id {}", re.table_id()))),
                };
                let info = Arc::new(RowsEventInfo {
                    name: self.name.clone(),
                    server_id: h.server_id(),
                    db: plan.db.clone(),
                    table: plan.table.clone(),
                    file: self.file.clone(),
                    pos: start,
                    gtid: self.txn.gtid.clone(),
                    ts_ms,
                    origin: Origin::Binlog,
                });
                self.decode_rows(&re, et, &plan, info, out)
                    .map_err(|e| self.err(format!("rows of {}.{}: {e}", plan.db, plan.table)))?;
            }
            ty::MARIA_QUERY_COMPRESSED..=ty::MARIA_DELETE_ROWS_COMPRESSED_V1 => {
                return Err(self.err(format!(
                    "MariaDB compressed event (type {et}) cannot be decoded; set log_bin_compress=OFF on the server"
                )));
            }
            ty::MARIA_ANNOTATE_ROWS => skipped("annotate_rows", et),
            ty::MARIA_BINLOG_CHECKPOINT => skipped("binlog_checkpoint", et),
            ty::STOP => skipped("stop", et),
            _ => skipped("skipped_event", et),
        }
        if !artificial {
            self.pos = end;
        }
        Ok(())
    }

    fn on_ddl(&mut self, schema: &str, sql: &str, ts_ms: i64, out: &mut Vec<SourceMessage>) {
        // Coarse but safe: forget every cached information_schema entry (they are re-read on
        // the next TABLE_MAP of each table). Table maps themselves are re-sent by the server
        // with a new table_id after a DDL.
        self.schemas.clear();
        self.schema_generation += 1;
        if self.filter.may_capture(schema, sql) {
            out.push(SourceMessage::SchemaChange(SchemaChange {
                db: schema.to_string(),
                sql: sql.to_string(),
                position: self.position(),
                ts_ms,
            }));
        }
    }

    fn decode_rows(
        &mut self,
        re: &RowsEventData<'_>,
        et: u8,
        plan: &Arc<TablePlan>,
        info: Arc<RowsEventInfo>,
        out: &mut Vec<SourceMessage>,
    ) -> io::Result<()> {
        let partial = et == ty::PARTIAL_UPDATE_ROWS;
        let before_cols = re.columns_before_image();
        let after_cols = re.columns_after_image();
        // Every image must hold every column: a client that set `binlog_row_image` to MINIMAL
        // or NOBLOB for its own session (the precheck sees only the GLOBAL value) writes rows
        // whose missing columns would otherwise be emitted as nulls (MySQL manual,
        // "binlog_row_image"). Stop rather than emit incomplete rows.
        let n = plan.columns.len();
        let before_image = before_cols.map(|c| ImageColumns::new(c, n));
        let after_image = after_cols.map(|c| ImageColumns::new(c, n));
        for (image, cols) in [("before", before_image), ("after", after_image)] {
            if let Some(cols) = cols.filter(|c| self.require_full_image && c.present < n) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the {image} image holds {} of {n} columns: a client wrote this row with binlog_row_image \
                         other than FULL (set for its session); the row cannot be emitted complete. Make every \
                         client use binlog_row_image=FULL, then restart from a later position \
                         (remove the checkpoint and set the start position) and re-snapshot {}.{}",
                        cols.present, plan.db, plan.table
                    ),
                ));
            }
        }
        let mut buf = ParseBuf(re.rows_data());
        let mut row_index = 0u32;
        // The table's running row count in the transaction (`data_collection_order`), looked up
        // once per rows event and stored back after it.
        let table_key = (plan.db.clone(), plan.table.clone());
        self.table_rows = self.txn.per_table.get(&table_key).copied().unwrap_or(0);
        // One clock read and one metrics update per rows event, not per row.
        self.now_ms = now_ms();
        self.op_counts = [0; 4];
        while !buf.is_empty() {
            let left = buf.0.len();
            let images = (|| {
                let before = match before_image {
                    Some(cols) => Some(read_image(plan, cols, false, &mut buf, None, None)?),
                    None => None,
                };
                let after = match after_image {
                    Some(cols) => Some(read_image(plan, cols, partial, &mut buf, before.as_ref(), None)?),
                    None => None,
                };
                Ok::<_, io::Error>((before, after))
            })();
            let (before, after) = match images {
                Ok(images) => images,
                Err(e) => {
                    return Err(explain_unreadable_row(e, plan, before_image, after_image, partial, re.rows_data()))
                }
            };
            // A row always holds at least its NULL bitmap: a row of 0 bytes (corrupt event,
            // images without columns) would loop forever, emitting rows until memory runs out.
            if buf.0.len() == left {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "rows event: a row of 0 bytes (corrupt event)"));
            }
            let info = SourceInfo { event: info.clone(), row: row_index };
            row_index += 1;
            let mk_row = |values: Vec<Value>| Row { columns: plan.columns.clone(), values };
            match (before, after) {
                (None, Some(a)) => self.emit(Op::Create, None, Some(mk_row(a)), plan, info, out),
                (Some(b), None) => self.emit(Op::Delete, Some(mk_row(b)), None, plan, info, out),
                (Some(b), Some(a)) => {
                    // Only key columns present in both images can show a change (MINIMAL
                    // after images omit unchanged columns).
                    let in_both =
                        |k: usize| before_image.is_some_and(|c| c.has(k)) && after_image.is_some_and(|c| c.has(k));
                    let key_changed = plan.key_columns.iter().any(|&k| in_both(k) && b.get(k) != a.get(k));
                    if key_changed {
                        self.emit(Op::Delete, Some(mk_row(b)), None, plan, info.clone(), out);
                        self.emit(Op::Create, None, Some(mk_row(a)), plan, info, out);
                    } else {
                        self.emit(Op::Update, Some(mk_row(b)), Some(mk_row(a)), plan, info, out);
                    }
                }
                (None, None) => return Err(io::Error::other("rows event without images")),
            }
        }
        if self.table_rows > 0 {
            self.txn.per_table.insert(table_key, self.table_rows);
        }
        for (op, n) in [Op::Create, Op::Update, Op::Delete].into_iter().map(|o| (o, self.op_counts[o as usize])) {
            if n > 0 {
                ::metrics::counter!(metrics::EVENTS_TOTAL, "op" => op.code()).increment(n);
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
        plan: &TablePlan,
        info: SourceInfo,
        out: &mut Vec<SourceMessage>,
    ) {
        self.txn.total += 1;
        self.table_rows += 1;
        let transaction = self.txn.id.clone().map(|id| TransactionInfo {
            id,
            total_order: self.txn.total,
            data_collection_order: self.table_rows,
        });
        self.rows_total += 1;
        self.op_counts[op as usize] += 1;
        let event = ChangeEvent {
            op,
            before,
            after,
            source: info,
            ts_ms: self.now_ms,
            transaction,
            key_columns: plan.key_columns.clone(),
        };
        // Rows travel together: one channel message per rows event (the source may merge those
        // of one transaction further), not one per row.
        match out.last_mut() {
            Some(SourceMessage::Events(events)) => events.push(event),
            _ => out.push(SourceMessage::Events(vec![event])),
        }
    }
}

/// Checks the ENUM/SET string lists of a TABLE_MAP's optional metadata before mysql_common
/// parses them: it reserves a `Vec` of the declared value count unchecked, so a corrupt count
/// panics ("capacity overflow") or allocates gigabytes. Every value takes at least one byte.
/// Errors: the count or a value does not fit the bytes (a corrupt event).
fn check_str_values(tme: &TableMapEvent<'_>) -> Result<(), String> {
    use mysql_common::binlog::events::OptionalMetadataField as F;
    use mysql_common::proto::MySerialize;
    for field in tme.iter_optional_meta() {
        let mut raw = Vec::new();
        match field {
            Ok(F::SetStrValue(v)) => v.serialize(&mut raw),
            Ok(F::EnumStrValue(v)) => v.serialize(&mut raw),
            _ => continue,
        }
        let mut buf = ParseBuf(&raw);
        while !buf.is_empty() {
            let n = buf.checked_eat_lenenc_int().ok_or("ENUM/SET values truncated")?;
            if n > buf.0.len() as u64 {
                return Err(format!("a column declares {n} ENUM/SET values in {} bytes (corrupt event)", buf.0.len()));
            }
            for _ in 0..n {
                buf.checked_eat_lenenc_str().ok_or("ENUM/SET value truncated")?;
            }
        }
    }
    Ok(())
}

/// The columns a rows event's before or after image holds (its `columns_before_image` /
/// `columns_after_image` bitmap), counted once per rows event rather than per row.
#[derive(Clone, Copy)]
struct ImageColumns<'a> {
    bits: &'a BitSlice<u8>,
    /// Number of columns present (bits set).
    present: usize,
    /// Every column of the table is present (`binlog_row_image=FULL`, the usual case).
    all: bool,
}

impl<'a> ImageColumns<'a> {
    fn new(bits: &'a BitSlice<u8>, columns: usize) -> Self {
        let present = bits.count_ones();
        ImageColumns { bits, present, all: present == columns && bits.len() >= columns }
    }

    fn has(&self, i: usize) -> bool {
        self.all || self.bits.get(i).map(|b| *b).unwrap_or(false)
    }
}

/// What a row that does not parse is told as, when its table has ENUM columns: the OceanBase
/// binlog service writes an ENUM value that is none of the column's labels (OceanBase accepts
/// `''` there) as **0 bytes** (oblogproxy `src/binlog/data_type.cpp` `convert_binlog_enum`,
/// v2.0.1; no release note of a fix), which shifts the rest of the row. Every row event of that
/// service holds one row, so the rows data is read again as one row with each ENUM column in
/// turn holding no bytes (in the before image, the after image, or both); when exactly that
/// reading consumes the event, the error names the column. Otherwise the original error, with
/// the ENUM columns named as possible causes.
///
/// Detectable: a 0-byte ENUM value makes the row unreadable unless the shifted bytes happen to
/// parse to exactly the event's length (possible in principle with variable-length columns after
/// it, not seen in practice). That case, and the prefix-matched ENUM/SET labels, cannot be told
/// from the stream (the precheck warns about such columns on an OceanBase server).
fn explain_unreadable_row(
    e: io::Error,
    plan: &TablePlan,
    before_image: Option<ImageColumns<'_>>,
    after_image: Option<ImageColumns<'_>>,
    partial: bool,
    rows_data: &[u8],
) -> io::Error {
    let enums: Vec<usize> =
        (0..plan.cols.len()).filter(|&i| matches!(plan.cols[i].kind, super::column::Kind::Enum(_))).collect();
    if enums.is_empty() {
        return e;
    }
    let variants: [(bool, bool); 3] = [(true, true), (true, false), (false, true)];
    for &j in &enums {
        for (in_before, in_after) in variants {
            let mut buf = ParseBuf(rows_data);
            let read = (|| {
                let skip_b = (in_before && before_image.is_some()).then_some(j);
                let skip_a = (in_after && after_image.is_some()).then_some(j);
                if skip_b.is_none() && skip_a.is_none() {
                    return Err(io::Error::other("no image to try"));
                }
                let before = match before_image {
                    Some(cols) => Some(read_image(plan, cols, false, &mut buf, None, skip_b)?),
                    None => None,
                };
                if let Some(cols) = after_image {
                    read_image(plan, cols, partial, &mut buf, before.as_ref(), skip_a)?;
                }
                Ok(())
            })();
            if read.is_ok() && buf.is_empty() {
                let column = &plan.columns[j];
                return io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "ENUM column {db}.{table}.{column} holds no bytes in this row ({e}; the row reads exactly \
                         when the column is taken as empty): the OceanBase binlog service writes an ENUM value \
                         that is none of the column's labels (OceanBase accepts '' there) as 0 bytes, and the \
                         value is lost. Set the row's {column} to one of its labels in the table, or change the \
                         column to VARCHAR; then restart from a position after this event (remove the checkpoint \
                         and set the start position) and re-snapshot {db}.{table}",
                        db = plan.db,
                        table = plan.table,
                    ),
                );
            }
        }
    }
    let names: Vec<&str> = enums.iter().map(|&i| &*plan.columns[i]).collect();
    io::Error::new(
        e.kind(),
        format!(
            "{e} (if the server is the OceanBase binlog service: it writes an ENUM value that is none of the \
             labels as 0 bytes, and this table has ENUM columns {})",
            names.join(", ")
        ),
    )
}

/// Reads one row image: optional shared-image header (PARTIAL_UPDATE after image), the NULL
/// bitmap over the present columns, then each present non-NULL value. `empty`: a column whose
/// non-NULL value is taken to hold no bytes (read as NULL), for [`explain_unreadable_row`].
fn read_image(
    plan: &TablePlan,
    cols: ImageColumns<'_>,
    partial_update_after: bool,
    buf: &mut ParseBuf<'_>,
    before: Option<&Vec<Value>>,
    empty: Option<usize>,
) -> io::Result<Vec<Value>> {
    let short = || io::Error::new(io::ErrorKind::UnexpectedEof, "row image truncated");
    let mut partial_bits: Option<Vec<bool>> = None;
    if partial_update_after {
        let opts = buf.checked_eat_lenenc_int().ok_or_else(short)?;
        if opts & 1 != 0 {
            let n = plan.json_columns.div_ceil(8);
            let bytes = buf.checked_eat(n).ok_or_else(short)?;
            let bits = BitSlice::<u8, Lsb0>::from_slice(bytes);
            partial_bits = Some(bits.iter().by_vals().take(plan.json_columns).collect());
        }
    }
    // The NULL bitmap has one bit per present column, bit k of byte k/8 (LSB first).
    let nulls = buf.checked_eat(cols.present.div_ceil(8)).ok_or_else(short)?;
    let mut values = Vec::with_capacity(plan.cols.len());
    let mut image_idx = 0;
    let mut json_idx = 0;
    for (i, col) in plan.cols.iter().enumerate() {
        let is_partial = match &partial_bits {
            Some(bits) if col.kind == super::column::Kind::Json => {
                json_idx += 1;
                bits.get(json_idx - 1).copied().unwrap_or(false)
            }
            _ => false,
        };
        if !cols.has(i) {
            // Column absent from this image (binlog_row_image != FULL): unknown → null.
            values.push(Value::Null);
            continue;
        }
        let is_null = nulls.get(image_idx >> 3).is_none_or(|b| b >> (image_idx & 7) & 1 != 0);
        image_idx += 1;
        if is_null || empty == Some(i) {
            values.push(Value::Null);
            continue;
        }
        if !is_partial && push_fast(col, buf, &mut values)? {
            continue;
        }
        match parse_value(col, is_partial, buf)? {
            Parsed::Value(v) => values.push(v),
            Parsed::JsonDiff(d) => {
                let b =
                    before.and_then(|b| b.get(i)).ok_or_else(|| io::Error::other("JSON diff without before image"))?;
                values.push(apply_json_diffs(b, &d)?);
            }
        }
    }
    Ok(values)
}

/// Verifies the event's CRC32 (binlog-probe §4.5: mysql_common strips but does not check it).
/// None when the event carries no checksum.
///
/// MySQL clears `LOG_EVENT_BINLOG_IN_USE_F` before checksumming only for a
/// FORMAT_DESCRIPTION (`Log_event_footer::event_checksum_test`, libbinlogevents
/// `binlog_event.cpp`); mysql_common's `calc_checksum` clears it on every event. The OceanBase
/// binlog service sets that flag on all its events (oblogproxy `ob_log_event.h`
/// `OblogEventHeader` `_flags(1)`), so those are checksummed here as sent.
pub fn checksum_ok(ev: &Event) -> Option<bool> {
    match (ev.checksum(), ev.footer().get_checksum_alg()) {
        (Some(sum), Ok(Some(alg))) => {
            let h = ev.header();
            let want = if h.event_type_raw() != ty::FORMAT_DESCRIPTION && h.flags_raw() & 1 != 0 {
                let mut c = crc32fast::Hasher::new();
                c.update(&header_bytes(&h));
                c.update(ev.data());
                c.finalize()
            } else {
                ev.calc_checksum(alg)
            };
            Some(u32::from_le_bytes(sum) == want)
        }
        _ => None,
    }
}

/// The 19 header bytes as they were sent (MySQL manual "Binlog Event Header").
fn header_bytes(h: &mysql_common::binlog::events::BinlogEventHeader) -> [u8; 19] {
    let mut b = [0u8; 19];
    b[0..4].copy_from_slice(&h.timestamp().to_le_bytes());
    b[4] = h.event_type_raw();
    b[5..9].copy_from_slice(&h.server_id().to_le_bytes());
    b[9..13].copy_from_slice(&h.event_size().to_le_bytes());
    b[13..17].copy_from_slice(&h.log_pos().to_le_bytes());
    b[17..19].copy_from_slice(&h.flags_raw().to_le_bytes());
    b
}

/// True when the last 4 bytes of a ROTATE body are the CRC32 of the event before them: the
/// fake ROTATE MariaDB checksums although the reader cannot know it yet (mysql_async#189).
/// The OceanBase binlog service sends no CRC there for `@master_binlog_checksum='ALL'`
/// (oblogproxy `binlog_dumper.cpp` `init_binlog_checksum`), so the name must not be cut blindly.
fn rotate_has_trailing_crc(ev: &Event) -> bool {
    let d = ev.data();
    if d.len() < 8 + 4 {
        return false;
    }
    let (body, crc) = d.split_at(d.len() - 4);
    let mut c = crc32fast::Hasher::new();
    c.update(&header_bytes(&ev.header()));
    c.update(body);
    c.finalize() == u32::from_le_bytes(crc.try_into().expect("4 bytes"))
}

/// First words of DML statements (MySQL manual 15.2, "Data Manipulation Statements").
fn is_dml(word: &str) -> bool {
    matches!(word, "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD")
}

fn is_ddl(word: &str) -> bool {
    matches!(word, "ALTER" | "CREATE" | "DROP" | "RENAME" | "TRUNCATE")
}

/// Parses a MariaDB GTID list `d-s-n,...`; None when `s` is not in that form.
pub(crate) fn parse_maria_gtids(s: &str) -> Option<BTreeMap<u32, (u32, u64)>> {
    let mut m = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        let d = it.next()?.parse().ok()?;
        let sv = it.next()?.parse().ok()?;
        let n = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        m.insert(d, (sv, n));
    }
    Some(m)
}

#[cfg(test)]
mod tests;
