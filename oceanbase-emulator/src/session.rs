//! One client connection, as ODP (OBProxy) serves it: the handshake, then each command either
//! forwarded to the upstream MariaDB over a `mysql_async` connection of this session or
//! routed to the emulated binlog service.
//!
//! Handshake (ODP, obproxy `src/rpc/obmysql/packet/ompk_handshake.cpp`, `ob_mysql_sm.cpp` at
//! <https://github.com/oceanbase/obproxy/tree/81eeae92526f5efbee516e863c7234532dfa6175>):
//! server version "5.6.25", `mysql_native_password`, charset 46, ODP's capability flags minus
//! MULTI_STATEMENTS and SESSION_TRACK (not emulated). The password is checked against the
//! upstream user's; a user written `user@tenant#cluster` is accepted as `user`.
//!
//! Routing (obproxy `ob_proxy_parser.l` / `ob_mysql_transact.cpp` `is_binlog_request`):
//! COM_REGISTER_SLAVE, COM_BINLOG_DUMP(_GTID), `SHOW MASTER STATUS`, `SHOW BINARY LOGS` and
//! (with [`Quirk::BinlogServiceVariables`]) the GTID/server-id variables go to the binlog
//! service; everything else, `SET` included, to the upstream. User variables set with `SET
//! @x = literal` are remembered, as ODP syncs them to the binlog service
//! (`SERVER_SEND_SESSION_VARS`), for the dump to read `@master_binlog_checksum` and
//! `@master_heartbeat_period`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Statement};
use mysql_common::constants::{CapabilityFlags, ColumnFlags, ColumnType, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, Column, ComBinlogDump, ComBinlogDumpGtid, HandshakePacket, HandshakeResponse};
use mysql_common::value::{BinValue, ValueDeserializer};
use mysql_common::Value;
use regex::Regex;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::convert::{upstream_opts, Service};
use crate::dump::{self, DumpRequest};
use crate::protocol::{self, PacketIo};
use crate::{Error, Quirk};

/// The server version ODP announces (`SERVER_VERSION_STR`, obproxy `ob_proxy_config.h`).
pub const ODP_SERVER_VERSION: &str = "5.6.25";
/// What OBServer answers to `SELECT VERSION()` (obproxy#53, oblogproxy#49).
pub const OB_VERSION: &str = "5.7.25-OceanBase_CE-v4.2.1.2";

fn capabilities() -> CapabilityFlags {
    use CapabilityFlags as C;
    C::CLIENT_LONG_PASSWORD
        | C::CLIENT_FOUND_ROWS
        | C::CLIENT_LONG_FLAG
        | C::CLIENT_CONNECT_WITH_DB
        | C::CLIENT_NO_SCHEMA
        | C::CLIENT_ODBC
        | C::CLIENT_LOCAL_FILES
        | C::CLIENT_IGNORE_SPACE
        | C::CLIENT_PROTOCOL_41
        | C::CLIENT_INTERACTIVE
        | C::CLIENT_IGNORE_SIGPIPE
        | C::CLIENT_TRANSACTIONS
        | C::CLIENT_RESERVED
        | C::CLIENT_SECURE_CONNECTION
        | C::CLIENT_MULTI_RESULTS
        | C::CLIENT_PS_MULTI_RESULTS
        | C::CLIENT_PLUGIN_AUTH
        | C::CLIENT_CONNECT_ATTRS
}

/// The OBServer value of variable `name` (lower case) where it differs from what a MariaDB
/// upstream would answer ([`Quirk::ObVariables`]); `global` = asked at global scope
/// (`time_zone` is only substituted there: sessions really run at +08:00).
pub fn ob_variable(name: &str, global: bool) -> Option<&'static str> {
    Some(match name {
        "binlog_row_image" => "FULL",
        "binlog_format" => "ROW",
        "binlog_checksum" => "CRC32",
        "lower_case_table_names" => "1",
        "max_allowed_packet" => "16777216",
        "wait_timeout" => "28800",
        "version" => OB_VERSION,
        "time_zone" if global => "+08:00",
        _ => return None,
    })
}

/// The binlog service's own value of `name` (oblogproxy v2.0.1 `src/binlog/sys_var.h`), for
/// the names ODP routes there.
pub fn service_variable(name: &str) -> Option<&'static str> {
    Some(match name {
        "server_id" => "0",
        "server_uuid" => "",
        "gtid_mode" => "ON",
        "gtid_executed" => "",
        "gtid_purged" => "",
        _ => return None,
    })
}

fn re(cell: &'static OnceLock<Regex>, src: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(src).expect("valid regex"))
}

struct Session {
    io: PacketIo,
    svc: Arc<Service>,
    up: Conn,
    vars: HashMap<String, Vec<u8>>,
    stmts: HashMap<u32, (Statement, Vec<(ColumnType, bool)>)>,
}

/// Serves one client until it quits, breaks the protocol or `cancel` fires.
pub async fn serve(sock: TcpStream, conn_id: u32, svc: Arc<Service>, cancel: CancellationToken) -> Result<(), Error> {
    let mut io = PacketIo::new(sock);
    let Some(up) = handshake(&mut io, conn_id, &svc).await? else { return Ok(()) };
    let mut s = Session { io, svc, up, vars: HashMap::new(), stmts: HashMap::new() };
    tokio::select! {
        r = s.run() => r,
        _ = cancel.cancelled() => Ok(()),
    }
}

async fn handshake(io: &mut PacketIo, conn_id: u32, svc: &Service) -> Result<Option<Conn>, Error> {
    let cfg = svc.config();
    let scramble: Vec<u8> =
        (0..20).map(|_| rand::random::<u8>() % 94 + 33).map(|b| if b == b'$' { b'%' } else { b }).collect();
    let mut s2 = scramble[8..].to_vec();
    s2.push(0);
    let hs = HandshakePacket::new(
        10,
        ODP_SERVER_VERSION.as_bytes(),
        conn_id,
        scramble[..8].try_into().unwrap(),
        Some(s2),
        capabilities(),
        46,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(b"mysql_native_password".as_slice()),
    );
    let mut b = Vec::new();
    mysql_common::proto::MySerialize::serialize(&hs, &mut b);
    io.seq = 0;
    io.write(&b).await?;
    io.flush().await?;
    let Some(pkt) = io.read().await? else { return Ok(None) };
    let resp: HandshakeResponse<'_> =
        ParseBuf(&pkt).parse(()).map_err(|e| Error::Protocol(format!("handshake response: {e}")))?;
    let user_full = String::from_utf8_lossy(resp.user()).into_owned();
    let user = user_full.split('@').next().unwrap_or_default().to_string();
    let db = resp.db_name().map(|d| String::from_utf8_lossy(d).into_owned()).filter(|d| !d.is_empty());
    let expected = mysql_common::scramble::scramble_native(&scramble, cfg.upstream_password.as_bytes());
    let native = matches!(resp.auth_plugin(), None | Some(AuthPlugin::MysqlNativePassword));
    let auth = if native {
        resp.scramble_buf().to_vec()
    } else {
        // AuthSwitchRequest to mysql_native_password (MySQL manual "Authentication Method Switch").
        let mut b = vec![0xfe];
        b.extend_from_slice(b"mysql_native_password\0");
        b.extend_from_slice(&scramble);
        b.push(0);
        io.write(&b).await?;
        io.flush().await?;
        match io.read().await? {
            Some(p) => p,
            None => return Ok(None),
        }
    };
    let ok = match expected {
        Some(e) => auth == e,
        None => auth.is_empty(),
    };
    if !ok || user != cfg.upstream_user {
        io.err(1045, "28000", &format!("Access denied for user '{user_full}' (using password: YES)")).await?;
        return Ok(None);
    }
    let mut up = match Conn::new(upstream_opts(cfg, db)).await {
        Ok(c) => c,
        Err(mysql_async::Error::Server(e)) => {
            io.err(e.code, &e.state, &e.message).await?;
            return Ok(None);
        }
        Err(e) => {
            io.err(2013, "HY000", &format!("upstream: {e}")).await?;
            return Ok(None);
        }
    };
    if cfg.has(Quirk::ObVariables) {
        up.query_drop("SET time_zone = '+08:00'").await?;
    }
    io.ok(0, 0, 0, "").await?;
    Ok(Some(up))
}

impl Session {
    async fn run(&mut self) -> Result<(), Error> {
        loop {
            let Some(p) = self.io.read().await? else { return Ok(()) };
            let Some(cmd) = <[u8]>::first(&p).copied() else {
                return Err(Error::Protocol("empty command packet".into()));
            };
            match cmd {
                0x01 => return Ok(()),
                0x02 => {
                    let db = String::from_utf8_lossy(&p[1..]).into_owned();
                    self.forward(&format!("USE `{}`", db.replace('`', "``"))).await?;
                }
                0x03 => {
                    let sql = String::from_utf8_lossy(&p[1..]).into_owned();
                    self.query(&sql).await?;
                }
                0x0e => self.io.ok(0, 0, 0, "").await?,
                0x15 => self.io.ok(0, 0, 0, "").await?,
                0x12 => {
                    let d: ComBinlogDump<'_> =
                        ParseBuf(&p).parse(()).map_err(|e| Error::Protocol(format!("COM_BINLOG_DUMP: {e}")))?;
                    let req = DumpRequest {
                        file: d.filename().into_owned(),
                        pos: u64::from(d.pos()),
                        flags: d.flags().bits(),
                        gtids: None,
                    };
                    return dump::serve(&mut self.io, &self.svc, &self.vars, req).await;
                }
                0x1e => {
                    let d: ComBinlogDumpGtid<'_> =
                        ParseBuf(&p).parse(()).map_err(|e| Error::Protocol(format!("COM_BINLOG_DUMP_GTID: {e}")))?;
                    let sids = d
                        .sids()
                        .iter()
                        .map(|s| (s.uuid(), s.intervals().iter().map(|i| (i.start(), i.end())).collect()))
                        .collect();
                    let req = DumpRequest {
                        file: d.filename().into_owned(),
                        pos: d.pos(),
                        flags: d.flags().bits(),
                        gtids: Some(sids),
                    };
                    return dump::serve(&mut self.io, &self.svc, &self.vars, req).await;
                }
                0x16 => self.prepare(&String::from_utf8_lossy(&p[1..])).await?,
                0x17 => self.execute(&p).await?,
                0x19 => {
                    if p.len() >= 5 {
                        let id = u32::from_le_bytes(p[1..5].try_into().unwrap());
                        if let Some((st, _)) = self.stmts.remove(&id) {
                            let _ = self.up.close(st).await;
                        }
                    }
                }
                0x1a => self.io.ok(0, 0, 0, "").await?,
                0x1f => {
                    self.up.reset().await?;
                    self.vars.clear();
                    self.stmts.clear();
                    self.io.ok(0, 0, 0, "").await?
                }
                other => self.io.err(1047, "08S01", &format!("Unknown command {other}")).await?,
            }
        }
    }

    async fn query(&mut self, sql: &str) -> Result<(), Error> {
        static SHOW_STATUS: OnceLock<Regex> = OnceLock::new();
        static SHOW_LOGS: OnceLock<Regex> = OnceLock::new();
        static SELECT_VAR: OnceLock<Regex> = OnceLock::new();
        static SHOW_VAR: OnceLock<Regex> = OnceLock::new();
        static SET_VAR: OnceLock<Regex> = OnceLock::new();
        let t = sql.trim().trim_end_matches(';').trim();
        let cfg = self.svc.config();
        if re(&SHOW_STATUS, r"(?i)^SHOW\s+(MASTER|BINARY\s+LOG)\s+STATUS$").is_match(t) {
            let (f, p, g) = self.svc.master_status();
            let cols = ["File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"]
                .iter()
                .map(|n| {
                    if *n == "Position" {
                        protocol::longlong_column(n).with_character_set(33)
                    } else {
                        protocol::string_column(n)
                    }
                })
                .collect::<Vec<_>>();
            let rows = if f.is_empty() {
                vec![]
            } else {
                vec![vec![
                    Value::Bytes(f.into_bytes()),
                    Value::Bytes(p.to_string().into_bytes()),
                    Value::Bytes(vec![]),
                    Value::Bytes(vec![]),
                    Value::Bytes(g.into_bytes()),
                ]]
            };
            return self.io.text_result(&cols, &rows).await;
        }
        if re(&SHOW_LOGS, r"(?i)^SHOW\s+(BINARY|MASTER)\s+LOGS$").is_match(t) {
            let cols = vec![
                protocol::string_column("Log_name").with_flags(ColumnFlags::PRI_KEY_FLAG),
                protocol::longlong_column("File_size"),
            ];
            let rows = self
                .svc
                .files()
                .into_iter()
                .map(|(f, s)| vec![Value::Bytes(f.into_bytes()), Value::Bytes(s.to_string().into_bytes())])
                .collect::<Vec<_>>();
            return self.io.text_result(&cols, &rows).await;
        }
        if cfg.has(Quirk::BinlogServiceVariables) {
            if let Some(c) = re(&SELECT_VAR, r"(?i)^SELECT\s+(@@(?:GLOBAL\.|SESSION\.)?([A-Za-z_]+))").captures(t) {
                if let Some(v) = service_variable(&c[2].to_ascii_lowercase()) {
                    let cols = vec![protocol::string_column(&c[1])];
                    return self.io.text_result(&cols, &[vec![Value::Bytes(v.as_bytes().to_vec())]]).await;
                }
            }
            if let Some(c) =
                re(&SHOW_VAR, r"(?i)^SHOW\s+(?:GLOBAL\s+|SESSION\s+|LOCAL\s+)?VARIABLES\s+LIKE\s+'([A-Za-z_]+)'$")
                    .captures(t)
            {
                let name = c[1].to_ascii_lowercase();
                if let Some(v) = service_variable(&name) {
                    let cols = vec![protocol::string_column("Variable_name"), protocol::string_column("Value")];
                    let row = vec![Value::Bytes(name.into_bytes()), Value::Bytes(v.as_bytes().to_vec())];
                    return self.io.text_result(&cols, &[row]).await;
                }
            }
        }
        if t.len() >= 3 && t[..3].eq_ignore_ascii_case("SET") {
            let r = re(
                &SET_VAR,
                r#"(?i)(?:^|[^@\w])@([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*('(?:[^'\\]|\\.)*'|X'[0-9A-Fa-f]*'|-?[0-9]+)"#,
            );
            for c in r.captures_iter(t) {
                let raw = &c[2];
                let v = if raw.starts_with(['X', 'x']) {
                    let h = &raw[2..raw.len() - 1];
                    (0..h.len() / 2).filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()).collect()
                } else if let Some(s) = raw.strip_prefix('\'') {
                    s.as_bytes()[..s.len() - 1].to_vec()
                } else {
                    raw.as_bytes().to_vec()
                };
                self.vars.insert(c[1].to_ascii_lowercase(), v);
            }
        }
        self.forward(sql).await
    }

    async fn forward(&mut self, sql: &str) -> Result<(), Error> {
        let global_show = {
            let u = sql.to_ascii_uppercase();
            u.contains("GLOBAL")
        };
        let mut r = match self.up.query_iter(sql).await {
            Ok(r) => r,
            Err(mysql_async::Error::Server(e)) => return self.io.err(e.code, &e.state, &e.message).await,
            Err(e) => return Err(e.into()),
        };
        let cols = r.columns().filter(|c| !c.is_empty());
        match cols {
            Some(cols) => {
                let mut rows = Vec::new();
                loop {
                    match r.next().await {
                        Ok(Some(row)) => rows.push(row.unwrap()),
                        Ok(None) => break,
                        Err(mysql_async::Error::Server(e)) => {
                            drop(r);
                            return self.io.err(e.code, &e.state, &e.message).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                r.drop_result().await?;
                if self.svc.config().has(Quirk::ObVariables) {
                    substitute(&cols, &mut rows, global_show);
                }
                self.io.text_result(&cols, &rows).await
            }
            None => {
                let (a, l, w, i) =
                    (r.affected_rows(), r.last_insert_id().unwrap_or(0), r.warnings(), r.info().into_owned());
                r.drop_result().await?;
                self.io.ok(a, l, w, &i).await
            }
        }
    }

    async fn prepare(&mut self, sql: &str) -> Result<(), Error> {
        let st = match self.up.prep(sql).await {
            Ok(s) => s,
            Err(mysql_async::Error::Server(e)) => return self.io.err(e.code, &e.state, &e.message).await,
            Err(e) => return Err(e.into()),
        };
        let cols = st.columns();
        let params = st.params().to_vec();
        let mut b = vec![0u8];
        b.extend_from_slice(&st.id().to_le_bytes());
        b.extend_from_slice(&(cols.len() as u16).to_le_bytes());
        b.extend_from_slice(&(params.len() as u16).to_le_bytes());
        b.push(0);
        b.extend_from_slice(&0u16.to_le_bytes());
        self.io.write(&b).await?;
        if !params.is_empty() {
            self.io.columns(&params).await?;
        }
        if !cols.is_empty() {
            self.io.columns(&cols).await?;
        }
        self.io.flush().await?;
        self.stmts.insert(st.id(), (st, Vec::new()));
        Ok(())
    }

    async fn execute(&mut self, p: &[u8]) -> Result<(), Error> {
        let bad = || Error::Protocol("COM_STMT_EXECUTE truncated".into());
        let id = u32::from_le_bytes(p.get(1..5).ok_or_else(bad)?.try_into().unwrap());
        let Some((st, types)) = self.stmts.get_mut(&id) else {
            return self
                .io
                .err(1243, "HY000", &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"))
                .await;
        };
        let n = st.num_params() as usize;
        let mut values = Vec::with_capacity(n);
        if n > 0 {
            let mut at = 10;
            let nb = n.div_ceil(8);
            let nulls = p.get(at..at + nb).ok_or_else(bad)?.to_vec();
            at += nb;
            let bound = *p.get(at).ok_or_else(bad)?;
            at += 1;
            if bound == 1 {
                types.clear();
                for i in 0..n {
                    let t = p.get(at + 2 * i..at + 2 * i + 2).ok_or_else(bad)?;
                    let ct = ColumnType::try_from(t[0])
                        .map_err(|_| Error::Protocol(format!("bad parameter type {}", t[0])))?;
                    types.push((ct, t[1] & 0x80 != 0));
                }
                at += 2 * n;
            }
            if types.len() != n {
                return Err(Error::Protocol("COM_STMT_EXECUTE without parameter types".into()));
            }
            let mut buf = ParseBuf(&p[at..]);
            for (i, &(t, unsigned)) in types.iter().enumerate() {
                if nulls[i / 8] & (1 << (i % 8)) != 0 {
                    values.push(Value::NULL);
                    continue;
                }
                let flags = if unsigned { ColumnFlags::UNSIGNED_FLAG } else { ColumnFlags::empty() };
                let v: ValueDeserializer<BinValue> =
                    buf.parse((t, flags)).map_err(|e| Error::Protocol(format!("parameter {i}: {e}")))?;
                values.push(v.0);
            }
        }
        let st = st.clone();
        let params = if values.is_empty() { Params::Empty } else { Params::Positional(values) };
        let mut r = match self.up.exec_iter(&st, params).await {
            Ok(r) => r,
            Err(mysql_async::Error::Server(e)) => return self.io.err(e.code, &e.state, &e.message).await,
            Err(e) => return Err(e.into()),
        };
        match r.columns().filter(|c| !c.is_empty()) {
            Some(cols) => {
                let mut rows = Vec::new();
                while let Some(row) = r.next().await? {
                    rows.push(row.unwrap());
                }
                r.drop_result().await?;
                let mut b = Vec::new();
                crate::binlog::put_lenenc(&mut b, cols.len() as u64);
                self.io.write(&b).await?;
                self.io.columns(&cols).await?;
                for row in &rows {
                    self.io.write(&protocol::binary_row(&cols, row)).await?;
                }
                self.io.eof().await?;
                self.io.flush().await
            }
            None => {
                let (a, l, w) = (r.affected_rows(), r.last_insert_id().unwrap_or(0), r.warnings());
                r.drop_result().await?;
                self.io.ok(a, l, w, "").await
            }
        }
    }
}

/// Replaces upstream variable values by OceanBase's in a forwarded result: columns named
/// `@@x` / `@@global.x` / `@@session.x`, `VERSION()`, and the rows of `SHOW VARIABLES` /
/// `information_schema.*_VARIABLES`.
fn substitute(cols: &[Column], rows: &mut [Vec<Value>], global_show: bool) {
    let names: Vec<String> = cols.iter().map(|c| c.name_str().to_ascii_lowercase()).collect();
    for (i, n) in names.iter().enumerate() {
        let v = if n == "version()" {
            Some(OB_VERSION)
        } else if let Some(rest) = n.strip_prefix("@@") {
            let (global, var) = match rest.split_once('.') {
                Some(("global", v)) => (true, v),
                Some((_, v)) => (false, v),
                None => (false, rest),
            };
            ob_variable(var, global)
        } else {
            None
        };
        if let Some(v) = v {
            for r in rows.iter_mut() {
                if let Some(x) = r.get_mut(i) {
                    *x = Value::Bytes(v.as_bytes().to_vec());
                }
            }
        }
    }
    let name_col = names.iter().position(|n| n == "variable_name");
    let value_col = names.iter().position(|n| n == "value" || n == "variable_value");
    if let (Some(nc), Some(vc)) = (name_col, value_col) {
        for r in rows.iter_mut() {
            let name = match &r[nc] {
                Value::Bytes(b) => String::from_utf8_lossy(b).to_ascii_lowercase(),
                _ => continue,
            };
            if let Some(v) = ob_variable(&name, global_show) {
                r[vc] = Value::Bytes(v.as_bytes().to_vec());
            }
        }
    }
}
