//! Shared helpers of the emulator's tests: the upstream MariaDB (`scripts/test-mariadb` instance
//! `obup`, port 33079 shifted by `CDC_TEST_PORT_BASE − 33061`), emulators started in-process,
//! and a binlog reader built on `mysql_async`'s stream + `mysql_common`'s event parser (not the
//! emulator's own code, not cdc-core).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, Opts, OptsBuilder};
use mysql_common::binlog::consts::BinlogChecksumAlg;
use mysql_common::binlog::events::{Event, EventData};
use mysql_common::constants::ColumnType;
use oceanbase_emulator::{Config, Emulator};

pub const REPL_USER: &str = "cdc_repl";
pub const REPL_PASSWORD: &str = "cdc_repl_pw";
pub const ADMIN_USER: &str = "cdc_admin";
pub const ADMIN_PASSWORD: &str = "cdc_admin_pw";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The upstream's port: 33079 shifted as tests/src/mariadb.rs `dedicated_port` does.
pub fn upstream_port() -> u16 {
    let base: i32 = std::env::var("CDC_TEST_PORT_BASE").ok().and_then(|v| v.parse().ok()).unwrap_or(33061);
    u16::try_from(33079 + base - 33061).expect("port in range")
}

/// Starts (idempotently, once per process) the upstream MariaDB; returns its port.
pub async fn upstream() -> u16 {
    static CELL: OnceLock<u16> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        *CELL.get_or_init(|| {
            let port = upstream_port();
            let out = Command::new(repo_root().join("scripts/test-mariadb"))
                .args(["start", "--name", "obup", "--port", &port.to_string()])
                .output()
                .expect("run scripts/test-mariadb");
            assert!(out.status.success(), "test-mariadb: {}", String::from_utf8_lossy(&out.stderr));
            port
        })
    })
    .await
    .unwrap()
}

pub fn opts(port: u16, user: &str, pw: &str) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pw))
        .prefer_socket(false)
        .max_allowed_packet(Some(1 << 30))
        .into()
}

/// An admin connection straight to the upstream.
pub async fn admin() -> Conn {
    let mut c = Conn::new(opts(upstream().await, ADMIN_USER, ADMIN_PASSWORD)).await.expect("admin connection");
    c.query_drop("SET NAMES utf8mb4").await.unwrap();
    c
}

/// A fresh schema on the upstream.
pub async fn fresh_schema(c: &mut Conn, prefix: &str) -> String {
    let name = format!("{prefix}_{:08x}", rand::random::<u32>());
    c.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).await.unwrap();
    name
}

/// An emulator in front of the upstream (user cdc_repl), `tune`d.
pub async fn emulator(tune: impl FnOnce(&mut Config)) -> Emulator {
    let mut cfg = Config::new("127.0.0.1", upstream().await, REPL_USER, REPL_PASSWORD);
    cfg.heartbeat = Duration::from_millis(300);
    tune(&mut cfg);
    Emulator::start(cfg).await.expect("emulator starts")
}

pub fn emu_opts(e: &Emulator) -> Opts {
    opts(e.local_addr().port(), REPL_USER, REPL_PASSWORD)
}

/// (table id, `db.table`, column count, raw types, per-column metadata, has optional metadata).
pub type TableMapInfo = (u64, String, usize, Vec<u8>, Vec<Vec<u8>>, bool);
/// A row's (before, after) images as text.
pub type RowImages = (Option<Vec<String>>, Option<Vec<String>>);
/// (kind, table, before, after).
pub type RowChange = (&'static str, String, Option<Vec<String>>, Option<Vec<String>>);

/// One event as received, with rows decoded by mysql_common when it is a rows event.
#[derive(Debug, Clone)]
pub struct Got {
    pub ty: u8,
    pub server_id: u32,
    pub timestamp: u32,
    pub log_pos: u32,
    pub flags: u16,
    pub data: Vec<u8>,
    /// CRC matches (None: the event carries no checksum).
    pub crc_ok: Option<bool>,
    pub rows: Option<Rows>,
    pub table_map: Option<TableMapInfo>,
    pub event: Event,
}

/// Decoded rows of one rows event.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub kind: &'static str,
    pub db: String,
    pub table: String,
    pub table_id: u64,
    pub stmt_end: bool,
    /// (before, after) values, normalized to text.
    pub rows: Vec<RowImages>,
}

fn width_mask(t: Option<ColumnType>) -> u64 {
    use ColumnType::*;
    match t {
        Some(MYSQL_TYPE_TINY) => 0xff,
        Some(MYSQL_TYPE_SHORT) | Some(MYSQL_TYPE_YEAR) => 0xffff,
        Some(MYSQL_TYPE_INT24) => 0xff_ffff,
        Some(MYSQL_TYPE_LONG) => 0xffff_ffff,
        _ => u64::MAX,
    }
}

/// Values as text. Integers become their bit pattern at the column's width: the emulator's
/// TABLE_MAPs carry no signedness (as OceanBase's), so mysql_common reads UNSIGNED columns as
/// signed there; the bytes are what must be equal.
fn norm_row(
    row: mysql_common::binlog::row::BinlogRow,
    tme: &mysql_common::binlog::events::TableMapEvent<'_>,
) -> Vec<String> {
    let n = row.len();
    let mut vals = row.unwrap();
    (0..n)
        .map(|i| {
            let t = tme.get_column_type(i).ok().flatten();
            match std::mem::replace(
                &mut vals[i],
                mysql_common::binlog::value::BinlogValue::Value(mysql_common::Value::NULL),
            ) {
                mysql_common::binlog::value::BinlogValue::Value(mysql_common::Value::Int(x)) => {
                    format!("int:{}", (x as u64) & width_mask(t))
                }
                mysql_common::binlog::value::BinlogValue::Value(mysql_common::Value::UInt(x)) => {
                    format!("int:{}", x & width_mask(t))
                }
                other => format!("{other:?}"),
            }
        })
        .collect()
}

/// The CRC32 MySQL's `Log_event_footer::event_checksum_test` expects: over the header as sent
/// and the body, the `BINLOG_IN_USE` flag cleared for a FORMAT_DESCRIPTION only.
/// (`Event::calc_checksum` of mysql_common clears that flag on *every* event, so it disagrees
/// with MySQL — and with oblogproxy, whose events all carry flags 0x0001.)
fn mysql_crc(ev: &Event) -> u32 {
    let h = ev.header();
    let fde = h.event_type_raw() == 15;
    let flags = if fde { h.flags_raw() & !1 } else { h.flags_raw() };
    let mut b = Vec::new();
    b.extend_from_slice(&h.timestamp().to_le_bytes());
    b.push(h.event_type_raw());
    b.extend_from_slice(&h.server_id().to_le_bytes());
    b.extend_from_slice(&h.event_size().to_le_bytes());
    b.extend_from_slice(&h.log_pos().to_le_bytes());
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(ev.data());
    if fde {
        b.push(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32 as u8);
    }
    crc32fast::hash(&b)
}

/// Reads a binlog stream from `opts` at `file`/`pos` (after running `setup` statements on the
/// connection) until `done` says so or `timeout` passes; returns what arrived. Ends early
/// (without panicking) when the server closes the stream.
pub async fn read_stream(
    o: Opts,
    setup: &[&str],
    file: &str,
    pos: u64,
    timeout: Duration,
    done: impl FnMut(&[Got]) -> bool,
) -> (Vec<Got>, Option<String>) {
    let req = BinlogStreamRequest::new(rand::random::<u32>() % 1_000_000 + 10_000)
        .with_filename(file.as_bytes())
        .with_pos(pos);
    read_request(o, setup, req, timeout, done).await
}

/// [`read_stream`] with a prepared request (e.g. COM_BINLOG_DUMP_GTID).
pub async fn read_request(
    o: Opts,
    setup: &[&str],
    req: BinlogStreamRequest<'_>,
    timeout: Duration,
    mut done: impl FnMut(&[Got]) -> bool,
) -> (Vec<Got>, Option<String>) {
    let mut conn = Conn::new(o).await.expect("connect for the binlog stream");
    for s in setup {
        conn.query_drop(*s).await.unwrap();
    }
    let mut stream = match conn.get_binlog_stream(req).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut out: Vec<Got> = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut end = None;
    while !done(&out) {
        let ev = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None) => {
                end = Some("stream ended".to_string());
                break;
            }
            Ok(Some(Err(e))) => {
                end = Some(e.to_string());
                break;
            }
            Ok(Some(Ok(ev))) => ev,
        };
        let h = ev.header();
        let crc_ok = ev.checksum().map(|c| u32::from_le_bytes(c) == mysql_crc(&ev));
        let mut got = Got {
            ty: h.event_type_raw(),
            server_id: h.server_id(),
            timestamp: h.timestamp(),
            log_pos: h.log_pos(),
            flags: h.flags_raw(),
            data: ev.data().to_vec(),
            crc_ok,
            rows: None,
            table_map: None,
            event: ev.clone(),
        };
        match ev.read_data() {
            Ok(Some(EventData::TableMapEvent(tme))) => {
                let n = tme.columns_count() as usize;
                let types =
                    (0..n).map(|i| tme.get_raw_column_type(i).ok().flatten().map(|t| t as u8).unwrap_or(0)).collect();
                let meta = (0..n).map(|i| tme.get_column_metadata(i).unwrap_or_default().to_vec()).collect();
                let has_opt = tme.iter_optional_meta().next().is_some();
                got.table_map = Some((
                    tme.table_id(),
                    format!("{}.{}", tme.database_name(), tme.table_name()),
                    n,
                    types,
                    meta,
                    has_opt,
                ));
            }
            Ok(Some(EventData::RowsEvent(re))) => {
                let tme = stream.get_tme(re.table_id()).expect("TABLE_MAP before rows").clone();
                let kind = match h.event_type_raw() {
                    23 | 30 => "insert",
                    24 | 31 => "update",
                    _ => "delete",
                };
                let mut rows = Vec::new();
                for r in re.rows(&tme) {
                    let (b, a) = r.expect("rows decode");
                    rows.push((b.map(|x| norm_row(x, &tme)), a.map(|x| norm_row(x, &tme))));
                }
                got.rows = Some(Rows {
                    kind,
                    db: tme.database_name().into_owned(),
                    table: tme.table_name().into_owned(),
                    table_id: re.table_id(),
                    stmt_end: re.flags().bits() & 1 != 0,
                    rows,
                });
            }
            _ => {}
        }
        out.push(got);
    }
    (out, end)
}

/// Flattened row changes of `db`: (kind, table, before, after), one per row.
pub fn row_changes(got: &[Got], db: &str) -> Vec<RowChange> {
    got.iter()
        .filter_map(|g| g.rows.as_ref())
        .filter(|r| r.db == db)
        .flat_map(|r| r.rows.iter().map(move |(b, a)| (r.kind, r.table.clone(), b.clone(), a.clone())))
        .collect()
}

/// The upstream's SHOW MASTER STATUS (file, pos).
pub async fn upstream_status(c: &mut Conn) -> (String, u64) {
    let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
    (row.get(0).unwrap(), row.get(1).unwrap())
}

/// Waits until the emulator has converted at least `n` more transactions than `base`.
pub async fn wait_converted(e: &Emulator, base: u64, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while e.stats().transactions < base + n {
        assert!(tokio::time::Instant::now() < deadline, "converter did not reach {} transactions", base + n);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
