//! Unit tests of [`Decoder::handle`] (positions, transactions, MariaDB GTIDs, the TABLE_MAP
//! cache, heartbeats, a start inside a transaction), of [`checksum_ok`] and of the coalescing of
//! the decoder's output ([`keep_gathering`]).
//!
//! Events are built in memory as a server sends them — a 19-byte header (timestamp, type,
//! server_id, event size, log_pos = end of the event, flags), the body, and a CRC32 of both when
//! checksums are on (MySQL manual "Binlog Event Header"; bodies after the MySQL source
//! `libbinlogevents` and MariaDB `sql/log_event.h`) — and read back with mysql_common's
//! `Event::read`, as the network and file readers do. One test feeds the real MariaDB 10.5 file
//! of `tests/prop_corpus/`.

use std::path::PathBuf;
use std::sync::Arc;

use mysql_common::binlog::consts::{BinlogChecksumAlg, BinlogVersion};
use mysql_common::binlog::events::{BinlogEventFooter, Event, FormatDescriptionEvent, QueryEvent, RotateEvent};
use mysql_common::binlog::EventStreamReader;
use mysql_common::proto::MySerialize;

use super::*;
use crate::source::coalesce::{keep_gathering, COALESCE_BYTES, COALESCE_VALUES};
use crate::source::table::SchemaColumn;

const FILE: &str = "mysql-bin.000007";
/// server_id written in every built event's header.
const SERVER: u32 = 11;
/// `LOG_EVENT_BINLOG_IN_USE_F`.
const IN_USE_F: u16 = 0x01;
/// A 4-byte INT column (`MYSQL_TYPE_LONG`, no metadata).
const INT: (u8, &[u8]) = (3, &[]);
/// A BLOB column with a 2-byte length (`MYSQL_TYPE_BLOB`, metadata = length bytes): a BLOB.
const BLOB: (u8, &[u8]) = (252, &[2]);

// ---------------------------------------------------------------------------------------------
// Event builders

/// The bytes of one event: header, `body`, and the CRC32 of both when `crc`.
fn raw(et: u8, log_pos: u32, flags: u16, body: &[u8], crc: bool) -> Vec<u8> {
    let size = 19 + body.len() + if crc { 4 } else { 0 };
    let mut b = Vec::with_capacity(size);
    b.extend(1_700_000_000u32.to_le_bytes());
    b.push(et);
    b.extend(SERVER.to_le_bytes());
    b.extend((size as u32).to_le_bytes());
    b.extend(log_pos.to_le_bytes());
    b.extend(flags.to_le_bytes());
    b.extend(body);
    if crc {
        let sum = crc32fast::hash(&b);
        b.extend(sum.to_le_bytes());
    }
    b
}

/// Reads `bytes` as mysql_common does after a FORMAT_DESCRIPTION announcing CRC32 (`crc`) or
/// no checksums.
fn read(bytes: &[u8], crc: bool) -> Event {
    let mut fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
    if crc {
        fde = fde.with_footer(BinlogEventFooter::new(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32));
    }
    Event::read(&fde, bytes).expect("an event")
}

/// One event without checksum.
fn event(et: u8, log_pos: u32, flags: u16, body: &[u8]) -> Event {
    read(&raw(et, log_pos, flags, body, false), false)
}

fn query(schema: &str, sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    QueryEvent::new(&[][..], schema.as_bytes()).with_query(sql.as_bytes()).serialize(&mut b);
    b
}

fn rotate(pos: u64, name: &str) -> Vec<u8> {
    let mut b = Vec::new();
    RotateEvent::new(pos, name.as_bytes()).serialize(&mut b);
    b
}

/// A FORMAT_DESCRIPTION event of `server_version` announcing CRC32 (the checksum-algorithm
/// byte, then the CRC: an FDE always carries one).
fn fde_event(server_version: &str, log_pos: u32, flags: u16) -> Event {
    let mut body = Vec::new();
    FormatDescriptionEvent::new(BinlogVersion::Version4)
        .with_server_version(server_version.as_bytes())
        .serialize(&mut body);
    body.push(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32 as u8);
    read(&raw(ty::FORMAT_DESCRIPTION, log_pos, flags, &body, true), false)
}

/// A TABLE_MAP body (MySQL source `Table_map_log_event::write_data_body`): table_id (6 bytes),
/// flags, schema and table (length, name, NUL), column count, types, metadata, NULL-ability
/// bitmap; no optional metadata (binlog_row_metadata=NO_LOG, MariaDB's default).
fn table_map(table_id: u64, db: &str, table: &str, columns: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = table_id.to_le_bytes()[..6].to_vec();
    b.extend([1, 0]);
    for name in [db, table] {
        b.push(name.len() as u8);
        b.extend(name.as_bytes());
        b.push(0);
    }
    b.push(columns.len() as u8);
    b.extend(columns.iter().map(|c| c.0));
    let meta: Vec<u8> = columns.iter().flat_map(|c| c.1.iter().copied()).collect();
    b.push(meta.len() as u8);
    b.extend(meta);
    b.extend(vec![0xff; columns.len().div_ceil(8)]);
    b
}

/// The head of a WRITE_ROWS (v2) body: table_id, flags, extra-data length (2: none), column
/// count and the after-image bitmap with every column present (binlog_row_image=FULL).
fn rows_head(table_id: u64, columns: usize) -> Vec<u8> {
    let mut b = table_id.to_le_bytes()[..6].to_vec();
    b.extend([0, 0]);
    b.extend(2u16.to_le_bytes());
    b.push(columns as u8);
    let mut bitmap = vec![0u8; columns.div_ceil(8)];
    for i in 0..columns {
        bitmap[i / 8] |= 1 << (i % 8);
    }
    b.extend(bitmap);
    b
}

/// A WRITE_ROWS body of INT rows: per row the NULL bitmap (no NULLs), then each value.
fn write_rows(table_id: u64, rows: &[Vec<i32>]) -> Vec<u8> {
    let columns = rows.first().map_or(1, Vec::len);
    let mut b = rows_head(table_id, columns);
    for row in rows {
        assert_eq!(row.len(), columns);
        b.extend(vec![0u8; columns.div_ceil(8)]);
        for v in row {
            b.extend(v.to_le_bytes());
        }
    }
    b
}

/// One-column INT rows `from..to`.
fn int_rows(from: i32, to: i32) -> Vec<Vec<i32>> {
    (from..to).map(|v| vec![v]).collect()
}

/// A MariaDB GTID body (`Gtid_log_event::write`): seq_no, domain_id, flags, 6 bytes of padding.
fn maria_gtid(seq: u64, domain: u32, flags: u8) -> Vec<u8> {
    let mut b = seq.to_le_bytes().to_vec();
    b.extend(domain.to_le_bytes());
    b.push(flags);
    b.extend([0; 6]);
    b
}

/// Consecutive events of one binlog file, each with log_pos = its end = the next one's start.
struct Binlog {
    end: u32,
}

impl Binlog {
    fn at(pos: u32) -> Self {
        Binlog { end: pos }
    }

    fn next(&mut self, et: u8, body: &[u8]) -> Event {
        self.end += (19 + body.len()) as u32;
        event(et, self.end, 0, body)
    }

    fn query(&mut self, sql: &str) -> Event {
        self.next(ty::QUERY, &query("d", sql))
    }

    fn begin(&mut self) -> Event {
        self.query("BEGIN")
    }

    fn table_map(&mut self, table_id: u64, columns: &[(u8, &[u8])]) -> Event {
        self.next(ty::TABLE_MAP, &table_map(table_id, "d", "t", columns))
    }

    fn rows(&mut self, table_id: u64, rows: &[Vec<i32>]) -> Event {
        self.next(ty::WRITE_ROWS, &write_rows(table_id, rows))
    }

    fn xid(&mut self) -> Event {
        self.next(ty::XID, &77u64.to_le_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers on the decoder and its messages

fn at(file: &str, pos: u64, gtids: Option<&str>) -> Resume {
    Resume::Position {
        position: BinlogPosition::new(file, pos),
        gtid_set: gtids.map(|g| g.parse().expect("a GTID set")),
    }
}

fn decoder(start: &Resume) -> Decoder {
    Decoder::new("test", TableFilter::default(), start)
}

fn feed(d: &mut Decoder, events: &[Event]) -> Vec<SourceMessage> {
    let mut out = Vec::new();
    for ev in events {
        d.handle(ev, &mut out).expect("the event decodes");
    }
    out
}

fn kinds(out: &[SourceMessage]) -> Vec<&'static str> {
    out.iter()
        .map(|m| match m {
            SourceMessage::Events(_) => "events",
            SourceMessage::Commit(_) => "commit",
            SourceMessage::SchemaChange(_) => "schema",
            SourceMessage::Heartbeat { .. } => "heartbeat",
        })
        .collect()
}

/// The resume position and GTID text of a Commit.
fn commit(m: &SourceMessage) -> (BinlogPosition, Option<String>) {
    let SourceMessage::Commit(cp) = m else { panic!("not a commit: {m:?}") };
    match &cp.resume {
        Resume::Position { position, gtid_set } => (position.clone(), gtid_set.as_ref().map(|g| g.text.clone())),
        other => panic!("not a position checkpoint: {other:?}"),
    }
}

/// The first column of every row (after image) of the messages' events, as i64.
fn ints(out: &[SourceMessage]) -> Vec<i64> {
    out.iter()
        .flat_map(SourceMessage::events)
        .map(|e| match e.after.as_ref().expect("an after image").values[0] {
            Value::Int(v) => v,
            ref v => panic!("not an INT: {v:?}"),
        })
        .collect()
}

fn pos(file: &str, pos: u32) -> BinlogPosition {
    BinlogPosition::new(file, u64::from(pos))
}

// ---------------------------------------------------------------------------------------------
// 1. Positions

#[test]
fn rotate_names_the_file_and_the_next_checkpoint_is_in_it() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4000);
    let out = feed(&mut d, &[log.next(ty::ROTATE, &rotate(4, "mysql-bin.000008"))]);
    assert!(out.is_empty(), "a ROTATE is no message: {out:?}");
    assert_eq!(d.position(), pos("mysql-bin.000008", 4), "ROTATE: its file, its position (not its log_pos)");

    let mut log = Binlog::at(4);
    let (begin, tm, rows, xid) = (log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 2)), log.xid());
    let out = feed(&mut d, &[begin, tm, rows, xid]);
    assert_eq!(kinds(&out), ["events", "commit"]);
    assert_eq!(out[0].events()[0].source.file.as_ref(), "mysql-bin.000008");
    assert_eq!(commit(&out[1]).0, pos("mysql-bin.000008", log.end));
}

#[test]
fn position_is_the_end_of_each_event() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(120);
    let events = [
        log.begin(),
        log.table_map(7, &[INT]),
        log.rows(7, &int_rows(1, 3)),
        // ROWS_QUERY (29): skipped, yet the position passes it.
        log.next(29, b"\x05insert"),
        log.xid(),
    ];
    let mut out = Vec::new();
    for ev in &events {
        d.handle(ev, &mut out).unwrap();
        assert_eq!(d.position(), pos(FILE, ev.header().log_pos()), "after event type {}", ev.header().event_type_raw());
    }
    // The rows carry their event's start; the commit is at the XID's end.
    let rows_start = events[2].header().log_pos() - events[2].header().event_size();
    assert_eq!(out[0].events()[0].source.pos, u64::from(rows_start));
    assert_eq!(commit(&out[1]).0, pos(FILE, events[4].header().log_pos()));
}

#[test]
fn artificial_events_at_connection_start_keep_the_position() {
    let resume = at(FILE, 1234, None);
    let mut d = decoder(&resume);
    d.begin_connection(false, &resume);
    let fake_rotate = event(ty::ROTATE, 0, ARTIFICIAL_F, &rotate(1234, FILE));
    // The FDE from the file's start, re-sent: log_pos 0 (MySQL `Binlog_sender`), or flagged
    // artificial with its real log_pos (120 = end of an FDE at offset 4).
    let fde_pos_0 = fde_event("10.5.15-MariaDB-log", 0, 0);
    let fde_flagged = fde_event("10.5.15-MariaDB-log", 120, ARTIFICIAL_F);
    for ev in [fake_rotate, fde_pos_0, fde_flagged] {
        let out = feed(&mut d, &[ev]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(d.position(), pos(FILE, 1234), "not moved back");
    }
    assert!(d.mariadb, "the FDE's server version says MariaDB");
    let mut log = Binlog::at(1234);
    let (begin, xid) = (log.begin(), log.xid());
    let out = feed(&mut d, &[begin, xid]);
    assert_eq!(commit(&out[0]).0, pos(FILE, log.end));
}

#[test]
fn fake_rotate_name_loses_a_trailing_crc_only_when_it_is_one() {
    // MariaDB checksums the first fake ROTATE although the reader cannot know it yet
    // (mysql_async#189): mysql_common leaves the 4 CRC bytes at the end of the name.
    let with_crc = read(&raw(ty::ROTATE, 0, ARTIFICIAL_F, &rotate(4, "mysql-bin.000009"), true), false);
    assert_eq!(with_crc.data().len(), 8 + "mysql-bin.000009".len() + 4);
    let mut d = decoder(&Resume::Gtid { gtid_set: "0-1-5".parse().unwrap() });
    d.begin_connection(true, &Resume::Gtid { gtid_set: "0-1-5".parse().unwrap() });
    feed(&mut d, &[with_crc]);
    assert_eq!(d.position(), pos("mysql-bin.000009", 4));
    // A name without CRC (the OceanBase binlog service) is kept whole.
    let mut d = decoder(&Resume::Gtid { gtid_set: "0-1-5".parse().unwrap() });
    d.begin_connection(true, &Resume::Gtid { gtid_set: "0-1-5".parse().unwrap() });
    feed(&mut d, &[event(ty::ROTATE, 0, ARTIFICIAL_F, &rotate(4, "mysql-bin.000009"))]);
    assert_eq!(d.position(), pos("mysql-bin.000009", 4));
}

// ---------------------------------------------------------------------------------------------
// 2. Transactions

#[test]
fn xid_commits_after_the_rows_and_not_before() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(200);
    let begin = log.begin();
    let begin_start = 200;
    let tm = log.table_map(7, &[INT]);
    let rows1 = log.rows(7, &int_rows(1, 3));
    let rows2 = log.rows(7, &int_rows(3, 4));
    let mut out = Vec::new();
    for ev in [&begin, &tm, &rows1, &rows2] {
        d.handle(ev, &mut out).unwrap();
        assert!(d.in_transaction());
        assert!(!out.iter().any(|m| matches!(m, SourceMessage::Commit(_))), "no commit inside: {out:?}");
    }
    let xid = log.xid();
    d.handle(&xid, &mut out).unwrap();
    assert!(!d.in_transaction());
    assert_eq!(kinds(&out), ["events", "commit"], "rows of consecutive rows events in one message");
    assert_eq!(ints(&out), [1, 2, 3]);
    let (at_xid, gtid) = commit(&out[1]);
    assert_eq!(at_xid, pos(FILE, xid.header().log_pos()));
    assert_eq!(gtid, None, "no GTIDs in this stream");
    let SourceMessage::Commit(cp) = &out[1] else { unreachable!() };
    assert_eq!(cp.server_id, SERVER);
    // Without a GTID the transaction id is file:offset of its BEGIN.
    let ids: Vec<_> =
        out[0].events().iter().map(|e| e.transaction.as_ref().map(|t| (t.id.to_string(), t.total_order))).collect();
    let id = format!("{FILE}:{begin_start}");
    assert_eq!(ids, [Some((id.clone(), 1)), Some((id.clone(), 2)), Some((id, 3))]);
    let e = &out[0].events()[0];
    assert_eq!((e.op, &*e.source.db, &*e.source.table), (Op::Create, "d", "t"));
}

#[test]
fn query_commit_ends_the_transaction() {
    for sql in ["COMMIT", "commit;\n"] {
        let mut d = decoder(&at(FILE, 4, None));
        let mut log = Binlog::at(4);
        let events = [log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 2)), log.query(sql)];
        let out = feed(&mut d, &events);
        assert_eq!(kinds(&out), ["events", "commit"], "{sql:?}");
        assert_eq!(commit(&out[1]).0, pos(FILE, log.end));
        assert!(!d.in_transaction());
    }
}

#[test]
fn rollback_to_savepoint_stays_inside_the_transaction() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let events = [log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 2)), log.query("ROLLBACK TO sp1")];
    let out = feed(&mut d, &events);
    assert_eq!(kinds(&out), ["events"]);
    assert!(d.in_transaction());
    let out = feed(&mut d, &[log.xid()]);
    assert_eq!(commit(&out[0]).0, pos(FILE, log.end));
}

#[test]
fn rows_of_a_filtered_table_give_no_events_but_the_commit_comes() {
    let filter = TableFilter::new(&["shop".into()], &[]).unwrap();
    let mut d = Decoder::new("test", filter, &at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let tm = log.table_map(7, &[INT]);
    assert_eq!(d.needs_schema(&tm), None, "no schema lookup for a filtered table");
    let events = [log.begin(), tm, log.rows(7, &int_rows(1, 4)), log.xid()];
    let out = feed(&mut d, &events);
    assert_eq!(kinds(&out), ["commit"]);
    assert_eq!(commit(&out[0]).0, pos(FILE, log.end));
    assert_eq!(d.rows_total, 0);

    // A transaction over a filtered and a captured table: the captured table's rows only.
    let shop_tm = log.next(ty::TABLE_MAP, &table_map(8, "shop", "orders", &[INT]));
    let events = [log.begin(), log.table_map(7, &[INT]), shop_tm, log.rows(7, &int_rows(1, 3))];
    let mut out = feed(&mut d, &events);
    let (shop_rows, xid) = (log.rows(8, &int_rows(10, 12)), log.xid());
    out.extend(feed(&mut d, &[shop_rows, xid]));
    assert_eq!(kinds(&out), ["events", "commit"]);
    assert_eq!(ints(&out), [10, 11]);
    assert_eq!(&*out[0].events()[0].source.table, "orders");
}

#[test]
fn ddl_outside_a_transaction_is_a_schema_change_then_its_commit() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let out = feed(&mut d, &[log.next(ty::ANONYMOUS_GTID, &[0; 25]), log.query("CREATE TABLE t2 (a INT)")]);
    assert_eq!(kinds(&out), ["schema", "commit"]);
    let SourceMessage::SchemaChange(change) = &out[0] else { unreachable!() };
    assert_eq!((change.db.as_str(), change.sql.as_str()), ("d", "CREATE TABLE t2 (a INT)"));
    assert_eq!(change.position, pos(FILE, log.end), "the end of the QUERY event");
    assert_eq!(commit(&out[1]).0, pos(FILE, log.end));
}

// ---------------------------------------------------------------------------------------------
// 3. MariaDB GTIDs

#[test]
fn mariadb_standalone_ddl_is_a_schema_change_then_a_commit_with_its_gtid() {
    let mut d = decoder(&at(FILE, 4, Some("0-1-5,1-2-9")));
    let mut log = Binlog::at(500);
    let out = feed(&mut d, &[log.next(ty::MARIA_GTID, &maria_gtid(10, 1, MARIA_FL_STANDALONE))]);
    assert!(out.is_empty());
    assert!(d.in_transaction());
    assert_eq!(d.gtid_state().as_deref(), Some("0-1-5,1-2-9"), "the GTID counts once committed");
    let out = feed(&mut d, &[log.query("ALTER TABLE t ADD COLUMN c INT")]);
    assert_eq!(kinds(&out), ["schema", "commit"]);
    let SourceMessage::SchemaChange(change) = &out[0] else { unreachable!() };
    assert_eq!(change.sql, "ALTER TABLE t ADD COLUMN c INT");
    // Domain 1 advances to the event's server_id and seq_no; domain 0 is kept.
    assert_eq!(commit(&out[1]), (pos(FILE, log.end), Some(format!("0-1-5,1-{SERVER}-10"))));
    assert_eq!(d.gtid_state(), Some(format!("0-1-5,1-{SERVER}-10")));
    assert!(!d.in_transaction());
}

#[test]
fn mariadb_transaction_commits_at_xid_with_its_gtid() {
    let mut d = decoder(&at(FILE, 4, Some("0-1-5")));
    let mut log = Binlog::at(500);
    // MariaDB writes no BEGIN after the GTID of a transactional (FL_TRANSACTIONAL 0x08) one.
    let events =
        [log.next(ty::MARIA_GTID, &maria_gtid(6, 0, 0x0c)), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 3))];
    let out = feed(&mut d, &events);
    assert_eq!(kinds(&out), ["events"]);
    let gtid = format!("0-{SERVER}-6");
    for e in out[0].events() {
        assert_eq!(e.source.gtid.as_deref(), Some(gtid.as_str()));
        assert_eq!(e.transaction.as_ref().map(|t| t.id.to_string()), Some(gtid.clone()), "the GTID is the id");
    }
    assert_eq!(d.gtid_state().as_deref(), Some("0-1-5"));
    let out = feed(&mut d, &[log.xid()]);
    assert_eq!(commit(&out[0]), (pos(FILE, log.end), Some(gtid)));
}

#[test]
fn real_mariadb_file_decodes_into_two_committed_transactions() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/prop_corpus/mariadb-bin.000001");
    let bytes = std::fs::read(path).unwrap();
    let mut input = &bytes[4..];
    let mut reader = EventStreamReader::new(BinlogVersion::Version4);
    let mut d = decoder(&at("mariadb-bin.000001", 4, None));
    let mut out = Vec::new();
    let mut xid_ends = Vec::new();
    while let Some(ev) = reader.read(&mut input).unwrap() {
        assert_eq!(checksum_ok(&ev), Some(true), "type {}", ev.header().event_type_raw());
        if ev.header().event_type_raw() == ty::XID {
            xid_ends.push(ev.header().log_pos());
        }
        d.handle(&ev, &mut out).unwrap();
    }
    assert!(d.mariadb);
    // Two transactions (GTID 0-1-1 and 0-1-2), each one row into toddy_test.outbox.
    assert_eq!(kinds(&out), ["events", "commit", "events", "commit"]);
    assert_eq!(xid_ends.len(), 2);
    assert_eq!(commit(&out[1]), (pos("mariadb-bin.000001", xid_ends[0]), Some("0-1-1".into())));
    assert_eq!(commit(&out[3]), (pos("mariadb-bin.000001", xid_ends[1]), Some("0-1-2".into())));
    let (a, b) = (&out[0].events()[0], &out[2].events()[0]);
    assert_eq!((&*a.source.db, &*a.source.table), ("toddy_test", "outbox"));
    assert_eq!(a.source.gtid.as_deref(), Some("0-1-1"));
    // Both transactions re-send the same TABLE_MAP (table_id 38): one plan serves both.
    assert!(Arc::ptr_eq(&a.after.as_ref().unwrap().columns, &b.after.as_ref().unwrap().columns));
}

// ---------------------------------------------------------------------------------------------
// 4. The TABLE_MAP cache

fn plan_of(d: &Decoder, table_id: u64) -> Arc<TablePlan> {
    match d.tables.get(&table_id) {
        Some(Mapped::Captured(p, ..)) => p.clone(),
        other => panic!("table {table_id} not captured: {other:?}"),
    }
}

fn columns_of(out: &[SourceMessage]) -> Arc<[Arc<str>]> {
    out.last().unwrap().events()[0].after.as_ref().unwrap().columns.clone()
}

fn names(columns: &[Arc<str>]) -> Vec<&str> {
    columns.iter().map(|c| &**c).collect()
}

#[test]
fn identical_table_map_reuses_its_plan() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let first = feed(&mut d, &[log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 2)), log.xid()]);
    let plan = plan_of(&d, 7);
    let second = feed(&mut d, &[log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(2, 3)), log.xid()]);
    assert!(Arc::ptr_eq(&plan, &plan_of(&d, 7)), "the same plan");
    assert!(Arc::ptr_eq(&columns_of(&first[..1]), &columns_of(&second[..1])));
    assert_eq!(ints(&second), [2]);
}

#[test]
fn changed_table_map_is_planned_again() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let one = feed(&mut d, &[log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(1, 2))]);
    assert_eq!(names(&columns_of(&one)), ["@0"]);
    let plan = plan_of(&d, 7);

    // Same table_id, a column more: a new plan, rows of two columns.
    let two = feed(&mut d, &[log.table_map(7, &[INT, INT]), log.rows(7, &[vec![5, 6]])]);
    assert!(!Arc::ptr_eq(&plan, &plan_of(&d, 7)));
    assert_eq!(names(&columns_of(&two)), ["@0", "@1"]);
    assert_eq!(two.last().unwrap().events()[0].after.as_ref().unwrap().values, [Value::Int(5), Value::Int(6)]);

    // A new table_id (the server's after a DDL): planned on its own.
    let three = feed(&mut d, &[log.table_map(8, &[INT, INT, INT]), log.rows(8, &[vec![1, 2, 3]])]);
    assert_eq!(names(&columns_of(&three)), ["@0", "@1", "@2"]);
    assert_eq!(plan_of(&d, 7).columns.len(), 2, "table 7 is untouched");

    // New information_schema facts: the identical TABLE_MAP is planned again, with them.
    let tm = log.table_map(8, &[INT, INT, INT]);
    assert_eq!(d.needs_schema(&tm), Some(("d".into(), "t".into())));
    let column = |name: &str| SchemaColumn { name: name.into(), data_type: "int".into(), ..SchemaColumn::default() };
    d.put_schema(
        "d".into(),
        "t".into(),
        TableSchema { columns: vec![column("id"), column("a"), column("b")], primary_key: vec![0] },
    );
    assert_eq!(d.needs_schema(&tm), None, "cached");
    let four = feed(&mut d, &[tm, log.rows(8, &[vec![1, 2, 3]])]);
    assert_eq!(names(&columns_of(&four)), ["id", "a", "b"]);
    assert_eq!(&*four.last().unwrap().events()[0].key_columns, [0]);
}

#[test]
fn rows_of_an_unknown_table_id_are_a_decode_error() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let mut out = Vec::new();
    d.handle(&log.begin(), &mut out).unwrap();
    let before = d.position();
    let err = d.handle(&log.rows(99, &int_rows(1, 2)), &mut out).unwrap_err();
    match err {
        SourceError::Decode { position, message } => {
            assert_eq!(position, before, "the position of the last decoded event");
            assert!(message.contains("unknown table_id 99"), "{message}");
        }
        other => panic!("not a decode error: {other:?}"),
    }
    assert!(out.is_empty());
}

/// The OceanBase binlog service writes an ENUM value that is none of the labels as 0 bytes
/// (oblogproxy `data_type.cpp` `convert_binlog_enum`): the row does not parse, and the error
/// names the column, found by reading the one-row event again with the ENUM column empty.
#[test]
fn a_row_with_a_0_byte_enum_value_is_an_error_naming_the_column() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let column = |name: &str, data_type: &str, labels: &[&str]| SchemaColumn {
        name: name.into(),
        data_type: data_type.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        ..SchemaColumn::default()
    };
    d.put_schema(
        "d".into(),
        "t".into(),
        TableSchema {
            columns: vec![column("id", "int", &[]), column("e", "enum", &["x", "y"]), column("n", "int", &[])],
            primary_key: vec![0],
        },
    );
    let en: (u8, &[u8]) = (254, &[247, 1]);
    let mut out = Vec::new();
    d.handle(&log.begin(), &mut out).unwrap();
    d.handle(&log.table_map(7, &[INT, en, INT]), &mut out).unwrap();
    let image = |id: i32, e: &[u8], n: Option<i32>| {
        let mut b = vec![0u8];
        b.extend(id.to_le_bytes());
        b.extend_from_slice(e);
        if let Some(n) = n {
            b.extend(n.to_le_bytes());
        }
        b
    };
    let named = |err: SourceError| match err {
        SourceError::Decode { message, .. } => message,
        other => panic!("not a decode error: {other:?}"),
    };

    // A well-formed row decodes.
    let mut ok = rows_head(7, 3);
    ok.extend(image(1, &[2], Some(9)));
    d.handle(&log.next(ty::WRITE_ROWS, &ok), &mut out).unwrap();
    assert_eq!(out.last().unwrap().events()[0].after.as_ref().unwrap().values[1], Value::String("y".into()));

    // An insert whose ENUM holds no byte: the next INT's first byte would be index 9.
    let mut insert = rows_head(7, 3);
    insert.extend(image(2, &[], Some(9)));
    let message = named(d.handle(&log.next(ty::WRITE_ROWS, &insert), &mut out).unwrap_err());
    assert!(message.contains("ENUM column d.t.e holds no bytes"), "{message}");

    // An update (UPDATE_ROWS v2, type 31) whose after image lacks it (the before image is whole).
    let mut update = rows_head(7, 3);
    update.push(0b111);
    update.extend(image(2, &[1], Some(9)));
    update.extend(image(2, &[], Some(10)));
    let message = named(d.handle(&log.next(31, &update), &mut out).unwrap_err());
    assert!(message.contains("ENUM column d.t.e holds no bytes"), "{message}");

    // A row broken otherwise (cut after the id): the parser's error, the ENUM named as a
    // possible cause only.
    let mut cut = rows_head(7, 3);
    cut.extend(image(3, &[], None));
    let message = named(d.handle(&log.next(ty::WRITE_ROWS, &cut), &mut out).unwrap_err());
    assert!(!message.contains("holds no bytes"), "{message}");
    assert!(message.contains("this table has ENUM columns e"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// 5. Heartbeats

#[test]
fn heartbeat_reports_the_position_and_commits_nothing() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    feed(&mut d, &[log.begin(), log.xid()]);
    let here = d.position();
    // MySQL: body = the file name, log_pos = the server's position in it.
    let out = feed(&mut d, &[event(ty::HEARTBEAT, log.end, 0, FILE.as_bytes())]);
    assert_eq!(kinds(&out), ["heartbeat"]);
    let SourceMessage::Heartbeat { position, .. } = &out[0] else { unreachable!() };
    assert_eq!(*position, here);
    // A server position past ours (events it did not send): reported, but not our checkpoint.
    let out = feed(&mut d, &[event(ty::HEARTBEAT, log.end + 100, 0, format!("/var/lib/mysql/{FILE}").as_bytes())]);
    let SourceMessage::Heartbeat { position, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(*position, pos(FILE, log.end + 100));
    assert_eq!(d.position(), here);
    // About the previous file (sent after its ROTATE): our position.
    let out = feed(&mut d, &[event(ty::HEARTBEAT, 99_999, 0, b"mysql-bin.000006")]);
    let SourceMessage::Heartbeat { position, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(*position, here);
    // Inside a transaction: nothing (the position is not a consistent point).
    feed(&mut d, &[log.begin()]);
    let out = feed(&mut d, &[event(ty::HEARTBEAT, log.end, 0, FILE.as_bytes())]);
    assert!(out.is_empty(), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. A stream that starts inside a transaction

#[test]
fn stream_started_inside_a_transaction_emits_its_rest_then_commits() {
    let mut d = decoder(&at(FILE, 500, None));
    let mut log = Binlog::at(500);
    let tm = log.table_map(7, &[INT]);
    let rows = log.rows(7, &int_rows(1, 3));
    let rows_start = u64::from(rows.header().log_pos() - rows.header().event_size());
    let out = feed(&mut d, &[tm, rows]);
    assert!(d.in_transaction(), "the rows event opened the transaction");
    assert!(d.txn.started_inside);
    assert_eq!(ints(&out), [1, 2]);
    let id = out[0].events()[0].transaction.as_ref().unwrap().id.to_string();
    assert_eq!(id, format!("{FILE}:{rows_start}"), "named after its first event read");
    let out = feed(&mut d, &[log.xid()]);
    assert_eq!(commit(&out[0]).0, pos(FILE, log.end));
    assert!(!d.txn.started_inside);
}

#[test]
fn rows_without_their_table_map_at_the_start_are_skipped_in_that_transaction_only() {
    let mut d = decoder(&at(FILE, 500, None));
    let mut log = Binlog::at(500);
    // The start fell between a TABLE_MAP and its rows event.
    let out = feed(&mut d, &[log.rows(7, &int_rows(1, 3))]);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(d.position(), pos(FILE, log.end));
    let out = feed(&mut d, &[log.xid()]);
    assert_eq!(kinds(&out), ["commit"]);
    // The next transaction began after the start: an unknown table_id is an error again.
    let mut out = Vec::new();
    d.handle(&log.begin(), &mut out).unwrap();
    assert!(d.handle(&log.rows(7, &int_rows(1, 2)), &mut out).is_err());
}

// ---------------------------------------------------------------------------------------------
// 7. Checksums

#[test]
fn checksum_ok_verifies_the_crc32() {
    let good = raw(ty::QUERY, 300, 0, &query("d", "BEGIN"), true);
    assert_eq!(checksum_ok(&read(&good, true)), Some(true));
    for i in [0, 4, 13, 19, good.len() - 8, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        assert_eq!(checksum_ok(&read(&bad, true)), Some(false), "byte {i} flipped");
    }
    assert_eq!(checksum_ok(&event(ty::QUERY, 300, 0, &query("d", "BEGIN"))), None, "no checksum to verify");

    // A real file's rows event, one byte of its row flipped.
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/prop_corpus/mariadb-bin.000001")).unwrap();
    let (fde, rows) = (&bytes[4..256], &bytes[612..671]);
    assert_eq!(rows[4], ty::WRITE_ROWS_V1, "the file's first rows event");
    let mut reader = EventStreamReader::new(BinlogVersion::Version4);
    reader.read(fde).unwrap();
    assert_eq!(checksum_ok(&reader.read(rows).unwrap().unwrap()), Some(true));
    let mut bad = rows.to_vec();
    bad[40] ^= 1;
    assert_eq!(checksum_ok(&reader.read(&bad[..]).unwrap().unwrap()), Some(false));
}

#[test]
fn checksum_ok_clears_the_in_use_flag_of_a_format_description_only() {
    // MySQL verifies an FDE with LOG_EVENT_BINLOG_IN_USE_F cleared (the flag is reset when the
    // file is closed)…
    let mut body = Vec::new();
    FormatDescriptionEvent::new(BinlogVersion::Version4).with_server_version(&b"8.0.36"[..]).serialize(&mut body);
    body.push(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32 as u8);
    let mut fde = raw(ty::FORMAT_DESCRIPTION, 120, 0, &body, true);
    fde[17] |= IN_USE_F as u8;
    assert_eq!(checksum_ok(&read(&fde, false)), Some(true));
    // …any other event as sent (OceanBase sets the flag on every event).
    let ev = raw(ty::QUERY, 300, IN_USE_F, &query("d", "BEGIN"), true);
    assert_eq!(checksum_ok(&read(&ev, true)), Some(true));
    let mut cleared = ev.clone();
    cleared[17] &= !(IN_USE_F as u8);
    assert_eq!(checksum_ok(&read(&cleared, true)), Some(false), "the flag is covered by the CRC");
}

// ---------------------------------------------------------------------------------------------
// 8. Coalescing of the decoder's output

/// The binlog source's sending rule (`stream_once`): the decoder's output waits while
/// [`keep_gathering`] says so, counting the binlog bytes of the rows events it holds; else
/// everything waiting is sent (here: collected as one batch).
fn pump(d: &mut Decoder, events: &[Event]) -> Vec<Vec<SourceMessage>> {
    let (mut sent, mut out, mut bytes) = (Vec::new(), Vec::new(), 0);
    for ev in events {
        d.handle(ev, &mut out).unwrap();
        if let [SourceMessage::Events(_)] = &out[..] {
            bytes += ev.data().len();
        }
        if keep_gathering(&out, bytes) {
            continue;
        }
        bytes = 0;
        if !out.is_empty() {
            sent.push(std::mem::take(&mut out));
        }
    }
    assert!(out.is_empty(), "rows left waiting at the end: {out:?}");
    sent
}

#[test]
fn rows_of_a_transaction_travel_together_up_to_the_value_bound() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    // One-column rows, 3,000 per rows event: the 8,192-value bound is passed by the third.
    let per_event = 3000;
    let mut events = vec![log.begin(), log.table_map(7, &[INT])];
    for k in 0..4 {
        events.push(log.rows(7, &int_rows(k * per_event, (k + 1) * per_event)));
    }
    events.push(log.xid());
    let sent = pump(&mut d, &events);
    let shapes: Vec<_> = sent.iter().map(|b| kinds(b)).collect();
    assert_eq!(shapes, [vec!["events"], vec!["events", "commit"]]);
    let sizes: Vec<_> = sent.iter().map(|b| b[0].events().len()).collect();
    assert!(3 * per_event as usize >= COALESCE_VALUES && 2 * (per_event as usize) < COALESCE_VALUES);
    assert_eq!(sizes, [3 * per_event as usize, per_event as usize]);
    // Binlog order, across messages.
    let all: Vec<_> = sent.iter().flat_map(|b| ints(b)).collect();
    assert_eq!(all, (0..4 * i64::from(per_event)).collect::<Vec<_>>());
    let orders: Vec<_> = sent
        .iter()
        .flatten()
        .flat_map(SourceMessage::events)
        .map(|e| e.transaction.as_ref().unwrap().total_order)
        .collect();
    assert_eq!(orders, (1..=4 * per_event as u64).collect::<Vec<_>>());
}

#[test]
fn rows_of_a_transaction_travel_together_up_to_the_byte_bound() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    // 40 BLOBs of 4,000 bytes per rows event: few values, many bytes; the second passes 256 KiB.
    let blob_rows = |n: usize| {
        let mut b = rows_head(7, 1);
        for _ in 0..n {
            b.push(0);
            b.extend(4000u16.to_le_bytes());
            b.extend([b'x'; 4000]);
        }
        b
    };
    let mut events = vec![log.begin(), log.table_map(7, &[BLOB])];
    for _ in 0..3 {
        events.push(log.next(ty::WRITE_ROWS, &blob_rows(40)));
    }
    events.push(log.xid());
    assert!(events[2].data().len() < COALESCE_BYTES && 2 * events[2].data().len() >= COALESCE_BYTES);
    let sent = pump(&mut d, &events);
    let shapes: Vec<_> = sent.iter().map(|b| kinds(b)).collect();
    assert_eq!(shapes, [vec!["events"], vec!["events", "commit"]]);
    let sizes: Vec<_> = sent.iter().map(|b| b[0].events().len()).collect();
    assert_eq!(sizes, [80, 40]);
}

#[test]
fn commits_schema_changes_and_heartbeats_are_never_merged() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let mut events = vec![log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(0, 2)), log.xid()];
    events.push(event(ty::HEARTBEAT, log.end, 0, FILE.as_bytes()));
    events.push(log.query("ALTER TABLE t ADD COLUMN c INT"));
    events.extend([log.begin(), log.table_map(8, &[INT, INT]), log.rows(8, &[vec![2, 0]]), log.xid()]);
    events.extend([log.begin(), log.table_map(8, &[INT, INT]), log.rows(8, &[vec![3, 0]]), log.xid()]);
    let sent = pump(&mut d, &events);
    let shapes: Vec<_> = sent.iter().map(|b| kinds(b)).collect();
    assert_eq!(
        shapes,
        [
            vec!["events", "commit"],
            vec!["heartbeat"],
            vec!["schema", "commit"],
            vec!["events", "commit"],
            vec!["events", "commit"]
        ]
    );
    let all: Vec<_> = sent.iter().flat_map(|b| ints(b)).collect();
    assert_eq!(all, [0, 1, 2, 3]);
    // Rows of two transactions fed into one output are two messages, each before its commit.
    let mut out = Vec::new();
    for ev in [log.begin(), log.rows(8, &[vec![4, 0]]), log.xid(), log.begin(), log.rows(8, &[vec![5, 0]]), log.xid()] {
        d.handle(&ev, &mut out).unwrap();
    }
    assert_eq!(kinds(&out), ["events", "commit", "events", "commit"]);
    assert_eq!(ints(&out), [4, 5]);
}

#[test]
fn only_a_lone_events_message_waits() {
    let mut d = decoder(&at(FILE, 4, None));
    let mut log = Binlog::at(4);
    let rows = feed(&mut d, &[log.begin(), log.table_map(7, &[INT]), log.rows(7, &int_rows(0, 1))]);
    assert!(keep_gathering(&rows, 10));
    let heartbeat = SourceMessage::Heartbeat { position: pos(FILE, 4), ts_ms: 0 };
    let change = SourceMessage::SchemaChange(SchemaChange {
        db: "d".into(),
        sql: "DROP TABLE t".into(),
        position: pos(FILE, 4),
        ts_ms: 0,
    });
    assert!(!keep_gathering(std::slice::from_ref(&heartbeat), 0));
    assert!(!keep_gathering(std::slice::from_ref(&change), 0));
    assert!(!keep_gathering(&[rows[0].clone(), heartbeat], 10));
    assert!(!keep_gathering(&[rows[0].clone(), change], 10));
}
