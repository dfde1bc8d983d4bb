//! The binlog converter: reads the upstream MariaDB's binlog as a replica and writes
//! `mysql-bin.NNNNNN` files in the data directory shaped as oblogproxy's converter writes them
//! (oblogproxy `src/binlog/binlog_convert.cpp`, `binlog_storage.cpp`, `ob_log_event.cpp` at
//! <https://github.com/oceanbase/oblogproxy/tree/2d1e5030b8ddf8288f97c116d3993b51c4e51c0b>):
//!
//! - a file is magic, FDE (5.7.38, flags `BINLOG_IN_USE` while active, cleared at rotation),
//!   PREVIOUS_GTIDS (one sid), then transactions;
//! - a transaction is GTID → QUERY `BEGIN` (db "") → {TABLE_MAP → one-row ROWS v2 with
//!   STMT_END_F} per row → XID (a per-process counter); DDL is GTID → QUERY;
//! - rotation only after an XID or DDL that takes the file past `max_binlog_size`;
//! - a *restart* (every `restart_every`, or [`Service::restart`]) happens inside a transaction
//!   when one is being converted: open dump connections are closed (the process that served them
//!   is gone), the last file is truncated to the end of its last whole transaction, a ROTATE is
//!   appended and a new file opened, table ids and XIDs restart at 1 and the upstream is read
//!   again from the last whole transaction. The same steps run when the emulator process
//!   starts on a data directory it wrote before (`converter.state`).
//!
//! Upstream reading uses `@mariadb_slave_capability=4` so MariaDB sends its GTID events
//! (MariaDB KB "mariadb_slave_capability"); MariaDB-only events (ANNOTATE_ROWS, BINLOG_CHECKPOINT,
//! GTID_LIST) and the upstream's FDE/ROTATE/HEARTBEAT are not copied.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, OptsBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::binlog::{self, ty, TableMap};
use crate::values;
use crate::{Config, Error, Quirk};

/// Name of the converter's state file in the data directory.
pub const STATE_FILE: &str = "converter.state";

/// File name of binlog file `index` (`binlog_log_bin_prefix` `mysql-bin`, 6-digit zero-padded
/// index, `binlog_file_name_fill_zeroes_width`).
pub fn file_name(index: u32) -> String {
    format!("mysql-bin.{index:06}")
}

/// What the converter persists after every whole transaction: where the upstream resumes and
/// the end of that transaction in the output file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persist {
    upstream_file: String,
    upstream_pos: u64,
    last_gno: u64,
    file_index: u32,
    whole_end: u64,
}

/// Counters of the converter's work, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Converter restarts done (truncations).
    pub restarts: u64,
    /// Whole transactions (and DDL) written.
    pub transactions: u64,
    /// ROWS events written.
    pub rows_events: u64,
    /// Bytes cut off by restart truncations.
    pub truncated_bytes: u64,
}

#[derive(Debug)]
struct State {
    /// Binlog file names, oldest first; the last is active.
    files: Vec<String>,
    /// Bytes of the active file visible to dumpers.
    active_len: u64,
    /// The (possibly lagging) SHOW MASTER STATUS position in the active file.
    status_pos: u64,
    /// The last committed gno.
    last_gno: u64,
    stats: Stats,
}

/// The running binlog service: the converter task and the state dumpers and sessions read.
#[derive(Debug)]
pub struct Service {
    cfg: Config,
    dir: PathBuf,
    state: Mutex<State>,
    grew: watch::Sender<u64>,
    generation: watch::Sender<u64>,
    restart_tx: mpsc::Sender<(RestartAt, oneshot::Sender<()>)>,
}

/// When a requested converter restart happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartAt {
    /// After the next ROWS event written inside a transaction if one is being converted, else
    /// at once (what `restart_every` does).
    Auto,
    /// After the next ROWS event written: the last file then ends in half a transaction, which
    /// the restart truncates away.
    InTransaction,
}

impl Service {
    /// Creates the service and spawns the converter. Errors: the data directory's state cannot
    /// be read or written, or the upstream refuses the first connection / `SHOW MASTER STATUS`.
    pub async fn start(cfg: Config, dir: PathBuf, cancel: CancellationToken) -> Result<Arc<Service>, Error> {
        let (restart_tx, restart_rx) = mpsc::channel(4);
        let svc = Arc::new(Service {
            cfg: cfg.clone(),
            dir: dir.clone(),
            state: Mutex::new(State {
                files: Vec::new(),
                active_len: 0,
                status_pos: 0,
                last_gno: 0,
                stats: Stats::default(),
            }),
            grew: watch::channel(0).0,
            generation: watch::channel(0).0,
            restart_tx,
        });
        let persist = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(b) => {
                serde_json::from_slice::<Persist>(&b).map_err(|e| Error::Protocol(format!("bad {STATE_FILE}: {e}")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut conn = Conn::new(upstream_opts(&cfg, None)).await?;
                let row: Option<mysql_async::Row> = conn.query_first("SHOW MASTER STATUS").await?;
                let row = row.ok_or_else(|| Error::Protocol("upstream has no binlog (log_bin off?)".into()))?;
                let f: String = row.get(0).unwrap_or_default();
                let p: u64 = row.get(1).unwrap_or(4);
                let _ = conn.disconnect().await;
                Persist { upstream_file: f, upstream_pos: p, last_gno: 0, file_index: 0, whole_end: 0 }
            }
            Err(e) => return Err(e.into()),
        };
        let writer = Writer::recover(&svc, &persist)?;
        let mut conv = Converter {
            svc: svc.clone(),
            writer,
            up_file: persist.upstream_file.clone(),
            up_pos: persist.upstream_pos,
            persist,
            ctx: Ctx::default(),
            since_status: 0,
            status_candidate: None,
        };
        conv.save()?;
        conv.publish();
        tokio::spawn(async move { conv.run(restart_rx, cancel).await });
        Ok(svc)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Full path of binlog file `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Binlog files with their sizes (the active one: bytes visible), oldest first.
    pub fn files(&self) -> Vec<(String, u64)> {
        let st = self.state.lock().unwrap();
        let n = st.files.len();
        st.files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let len = if i + 1 == n {
                    st.active_len
                } else {
                    std::fs::metadata(self.dir.join(f)).map(|m| m.len()).unwrap_or(0)
                };
                (f.clone(), len)
            })
            .collect()
    }

    /// `(active file, bytes visible)`.
    pub fn active(&self) -> (String, u64) {
        let st = self.state.lock().unwrap();
        (st.files.last().cloned().unwrap_or_default(), st.active_len)
    }

    /// SHOW MASTER STATUS: file, position (lagging with [`Quirk::MasterStatusLag`]) and
    /// `Executed_Gtid_Set` (`uuid:1-N`, '' before the first transaction).
    pub fn master_status(&self) -> (String, u64, String) {
        let st = self.state.lock().unwrap();
        let g =
            if st.last_gno == 0 { String::new() } else { format!("{}:1-{}", self.cfg.server_uuid_text(), st.last_gno) };
        (st.files.last().cloned().unwrap_or_default(), st.status_pos, g)
    }

    /// Converter counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats
    }

    /// A receiver that changes whenever the active file grows or the file list changes.
    pub fn subscribe_growth(&self) -> watch::Receiver<u64> {
        self.grew.subscribe()
    }

    /// A receiver of the restart generation: dumpers close their connection when it changes.
    pub fn subscribe_generation(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Requests a converter restart and waits until it is done.
    pub async fn restart(&self, at: RestartAt) {
        let (tx, rx) = oneshot::channel();
        if self.restart_tx.send((at, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// mysql_async options for the upstream, optionally with a default database.
pub fn upstream_opts(cfg: &Config, db: Option<String>) -> mysql_async::Opts {
    OptsBuilder::default()
        .ip_or_hostname(cfg.upstream_host.clone())
        .tcp_port(cfg.upstream_port)
        .user(Some(cfg.upstream_user.clone()))
        .pass(Some(cfg.upstream_password.clone()))
        .db_name(db)
        .prefer_socket(false)
        .max_allowed_packet(Some(1 << 30))
        .wait_timeout(Some(28800))
        .into()
}

fn now() -> (u32, u32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as u32, d.subsec_micros())
}

/// The active output file.
#[derive(Debug)]
struct Writer {
    file: File,
    index: u32,
    len: u64,
    whole_end: u64,
}

impl Writer {
    /// Opens the output after `p`: a fresh first file when none was written, else the last
    /// file truncated to its last whole transaction and rotated to a new one.
    fn recover(svc: &Service, p: &Persist) -> Result<Writer, Error> {
        let mut files: Vec<String> = Vec::new();
        for i in 1..=p.file_index {
            let n = file_name(i);
            if svc.dir.join(&n).exists() {
                files.push(n);
            }
        }
        svc.state.lock().unwrap().files = files;
        if p.file_index == 0 {
            return Writer::open_new(svc, 1, p.last_gno, now().0);
        }
        let path = svc.dir.join(file_name(p.file_index));
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let size = file.metadata()?.len();
        let mut w = Writer { file, index: p.file_index, len: size, whole_end: p.whole_end };
        let cut = w.truncate_to_whole()?;
        svc.state.lock().unwrap().stats.truncated_bytes += cut;
        w.rotate(svc, svc.cfg.server_id_for(0), now().0, p.last_gno)?;
        Ok(w)
    }

    fn open_new(svc: &Service, index: u32, last_gno: u64, ts: u32) -> Result<Writer, Error> {
        let name = file_name(index);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(true).open(svc.dir.join(&name))?;
        let sid = svc.cfg.server_id_for(0);
        let mut buf = binlog::MAGIC.to_vec();
        let fde = binlog::fde_body(ts);
        let end = (4 + binlog::event_len(fde.len())) as u32;
        buf.extend(binlog::event(ts, ty::FORMAT_DESCRIPTION, sid, end, binlog::FLAG_IN_USE, &fde, true));
        let pg = binlog::previous_gtids_body(&svc.cfg.server_uuid, last_gno);
        let end2 = end + binlog::event_len(pg.len()) as u32;
        buf.extend(binlog::event(ts, ty::PREVIOUS_GTIDS, sid, end2, binlog::FLAG_IN_USE, &pg, true));
        file.write_all(&buf)?;
        let mut st = svc.state.lock().unwrap();
        st.files.push(name);
        st.active_len = buf.len() as u64;
        st.status_pos = buf.len() as u64;
        Ok(Writer { file, index, len: buf.len() as u64, whole_end: buf.len() as u64 })
    }

    fn append(&mut self, ev: &[u8]) -> Result<(), Error> {
        self.file.write_all(ev)?;
        self.len += ev.len() as u64;
        Ok(())
    }

    fn truncate_to_whole(&mut self) -> Result<u64, Error> {
        let cut = self.len.saturating_sub(self.whole_end);
        self.file.set_len(self.whole_end)?;
        self.file.seek(SeekFrom::Start(self.whole_end))?;
        self.len = self.whole_end;
        Ok(cut)
    }

    /// Appends a ROTATE to the next file, clears the FDE's in-use flag, opens the next file.
    fn rotate(&mut self, svc: &Service, server_id: u32, ts: u32, last_gno: u64) -> Result<(), Error> {
        let next = file_name(self.index.wrapping_add(1).max(1));
        let body = binlog::rotate_body(4, &next);
        let end = self.len + binlog::event_len(body.len()) as u64;
        let ev = binlog::event(ts, ty::ROTATE, server_id, end as u32, binlog::FLAG_IN_USE, &body, true);
        self.append(&ev)?;
        let mut fde = vec![0u8; 119];
        self.file.seek(SeekFrom::Start(4))?;
        self.file.read_exact(&mut fde)?;
        binlog::set_flags_recrc(&mut fde, 0);
        self.file.seek(SeekFrom::Start(4))?;
        self.file.write_all(&fde)?;
        self.file.flush()?;
        *self = Writer::open_new(svc, self.index.wrapping_add(1).max(1), last_gno, ts)?;
        Ok(())
    }
}

impl Config {
    /// The header server_id of converter events: [`binlog::OB_SERVER_ID`] with
    /// [`Quirk::ConstantServerId`], else `upstream` (the upstream event's own).
    pub fn server_id_for(&self, upstream: u32) -> u32 {
        if self.has(Quirk::ConstantServerId) || upstream == 0 {
            binlog::OB_SERVER_ID
        } else {
            upstream
        }
    }
}

/// Per-process conversion state (reset by a restart with [`Quirk::RestartResetsCounters`]).
#[derive(Debug)]
struct Ctx {
    next_table_id: u64,
    /// (db, table) → (upstream table id, our table id).
    ids: HashMap<(Vec<u8>, Vec<u8>), (u64, u64)>,
    /// upstream table id → its TABLE_MAP, our id, and what the value quirks need.
    maps: HashMap<u64, Arc<Mapped>>,
    /// Tables whose missing column facts were logged (once per table until a restart).
    warned: std::collections::HashSet<(Vec<u8>, Vec<u8>)>,
    xid: u64,
    in_txn: bool,
    standalone: bool,
    gno: u64,
    restart_pending: Option<oneshot::Sender<()>>,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            next_table_id: 1,
            ids: HashMap::new(),
            maps: HashMap::new(),
            warned: Default::default(),
            xid: 0,
            in_txn: false,
            standalone: false,
            gno: 0,
            restart_pending: None,
        }
    }
}

/// One upstream TABLE_MAP as the converter keeps it.
#[derive(Debug)]
struct Mapped {
    /// The upstream's map (the row images are parsed against it).
    tm: TableMap,
    /// Our table id.
    our: u64,
    /// The map written out (SET metadata changed by [`Quirk::SetShortBitmap`]).
    out: TableMap,
    /// Signedness and labels from the upstream's optional metadata.
    facts: values::ColumnFacts,
    /// Whether a value quirk applies to a column of this table.
    reencode: bool,
}

enum Stop {
    Restart(Option<oneshot::Sender<()>>),
    Cancelled,
}

struct Converter {
    svc: Arc<Service>,
    writer: Writer,
    persist: Persist,
    ctx: Ctx,
    since_status: usize,
    /// With [`Quirk::MasterStatusLag`]: the end of the last `status_batch_events`-th event
    /// written, which SHOW MASTER STATUS shows from the next publish on (it can fall between
    /// any two events, a TABLE_MAP and its ROWS included).
    status_candidate: Option<u64>,
    /// The upstream position after the last event read.
    up_file: String,
    up_pos: u64,
}

impl Converter {
    fn cfg(&self) -> &Config {
        &self.svc.cfg
    }

    fn save(&mut self) -> Result<(), Error> {
        self.persist.file_index = self.writer.index;
        self.persist.whole_end = self.writer.whole_end;
        let tmp = self.svc.dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&self.persist).expect("state serializes"))?;
        std::fs::rename(&tmp, self.svc.dir.join(STATE_FILE))?;
        Ok(())
    }

    /// Makes what was written visible to dumpers and updates SHOW MASTER STATUS.
    fn publish(&mut self) {
        {
            let mut st = self.svc.state.lock().unwrap();
            st.active_len = self.writer.len;
            st.last_gno = self.persist.last_gno;
            if !self.svc.cfg.has(Quirk::MasterStatusLag) {
                st.status_pos = self.writer.len;
            } else if let Some(p) = self.status_candidate.take() {
                st.status_pos = p;
            }
        }
        self.svc.grew.send_modify(|g| *g += 1);
    }

    fn write(&mut self, ts: u32, t: u8, server_id: u32, body: &[u8]) -> Result<(), Error> {
        let end = self.writer.len + binlog::event_len(body.len()) as u64;
        let ev = binlog::event(ts, t, server_id, end as u32, binlog::FLAG_IN_USE, body, true);
        self.writer.append(&ev)?;
        self.since_status += 1;
        if self.since_status >= self.svc.cfg.status_batch_events.max(1) {
            self.status_candidate = Some(self.writer.len);
            self.since_status = 0;
        }
        Ok(())
    }

    async fn run(
        mut self,
        mut restart_rx: mpsc::Receiver<(RestartAt, oneshot::Sender<()>)>,
        cancel: CancellationToken,
    ) {
        loop {
            let stop = self.convert_until_stop(&mut restart_rx, &cancel).await;
            match stop {
                Ok(Stop::Cancelled) => return,
                Ok(Stop::Restart(done)) => {
                    if let Err(e) = self.restart() {
                        tracing::error!("converter restart failed: {e}");
                    }
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                }
                Err(e) => {
                    tracing::warn!("converter: {e}; reconnecting to the upstream in 1 s");
                    if let Err(e) = self.abandon_transaction() {
                        tracing::error!("converter could not drop a half-converted transaction: {e}");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// After an upstream failure: drops what was written of an unfinished transaction (closing
    /// dump connections when bytes are cut, as they may have read them) so the upstream can be
    /// re-read from the last whole transaction. Not a restart: no new file, counters kept.
    fn abandon_transaction(&mut self) -> Result<(), Error> {
        if self.writer.len > self.writer.whole_end {
            self.svc.generation.send_modify(|g| *g += 1);
            let cut = self.writer.truncate_to_whole()?;
            let mut st = self.svc.state.lock().unwrap();
            st.stats.truncated_bytes += cut;
            st.status_pos = st.status_pos.min(self.writer.len);
        }
        self.ctx.in_txn = false;
        self.ctx.standalone = false;
        self.since_status = 0;
        self.status_candidate = None;
        self.publish();
        Ok(())
    }

    /// Truncate, rotate, reset counters, close dump connections.
    fn restart(&mut self) -> Result<(), Error> {
        self.svc.generation.send_modify(|g| *g += 1);
        let cut = self.writer.truncate_to_whole()?;
        let sid = self.cfg().server_id_for(0);
        let last_gno = self.persist.last_gno;
        self.writer.rotate(&self.svc, sid, now().0, last_gno)?;
        let keep = !self.cfg().has(Quirk::RestartResetsCounters);
        let old = std::mem::take(&mut self.ctx);
        if keep {
            self.ctx.next_table_id = old.next_table_id;
            self.ctx.xid = old.xid;
            self.ctx.ids = old.ids;
        }
        self.since_status = 0;
        self.status_candidate = None;
        self.save()?;
        {
            let mut st = self.svc.state.lock().unwrap();
            st.stats.restarts += 1;
            st.stats.truncated_bytes += cut;
        }
        self.publish();
        tracing::info!(cut, file = %file_name(self.writer.index), "converter restarted");
        Ok(())
    }

    async fn convert_until_stop(
        &mut self,
        restart_rx: &mut mpsc::Receiver<(RestartAt, oneshot::Sender<()>)>,
        cancel: &CancellationToken,
    ) -> Result<Stop, Error> {
        let mut conn = Conn::new(upstream_opts(self.cfg(), None)).await?;
        conn.query_drop("SET @mariadb_slave_capability = 4").await?;
        let fname = self.persist.upstream_file.clone().into_bytes();
        let req = BinlogStreamRequest::new(self.cfg().upstream_server_id)
            .with_filename(&fname)
            .with_pos(self.persist.upstream_pos);
        let mut stream = conn.get_binlog_stream(req).await?;
        self.up_file = self.persist.upstream_file.clone();
        self.up_pos = self.persist.upstream_pos;
        let restart_at = self.cfg().restart_every.map(|d| tokio::time::Instant::now() + d);
        let mut timer_fired = false;
        loop {
            let deadline = if timer_fired { None } else { restart_at };
            let timer = async move {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(Stop::Cancelled),
                r = restart_rx.recv() => {
                    let Some((at, done)) = r else { return Ok(Stop::Cancelled) };
                    if at == RestartAt::Auto && !self.ctx.in_txn {
                        return Ok(Stop::Restart(Some(done)));
                    }
                    self.ctx.restart_pending = Some(done);
                }
                _ = timer => {
                    timer_fired = true;
                    if !self.ctx.in_txn {
                        return Ok(Stop::Restart(None));
                    }
                    let (tx, _rx) = oneshot::channel();
                    self.ctx.restart_pending.get_or_insert(tx);
                }
                ev = stream.next() => {
                    let Some(ev) = ev else { return Err(Error::Protocol("upstream ended the binlog stream".into())) };
                    let ev = ev?;
                    let wrote_rows = self.convert(&ev)?;
                    self.publish();
                    if wrote_rows && self.ctx.restart_pending.is_some() {
                        return Ok(Stop::Restart(self.ctx.restart_pending.take()));
                    }
                }
            }
        }
    }

    /// Converts one upstream event; returns whether ROWS events were written.
    fn convert(&mut self, ev: &mysql_common::binlog::events::Event) -> Result<bool, Error> {
        let h = ev.header();
        let t = h.event_type_raw();
        let data = ev.data();
        let ts = h.timestamp();
        let sid = self.cfg().server_id_for(h.server_id());
        if h.log_pos() != 0 {
            self.up_pos = u64::from(h.log_pos());
        }
        match t {
            ty::ROTATE => {
                // Only a real rotate moves the upstream position: the first, fake one
                // (log_pos 0) names the file asked for, with CRC bytes appended by MariaDB
                // (mysql_async#189).
                if h.log_pos() != 0 && data.len() >= 8 {
                    self.up_pos = u64::from_le_bytes(data[..8].try_into().unwrap());
                    self.up_file = String::from_utf8_lossy(&data[8..]).into_owned();
                }
                Ok(false)
            }
            ty::MARIADB_GTID => {
                let standalone = data.get(12).is_some_and(|f| f & 1 != 0);
                self.begin_txn(ts, sid, standalone)?;
                Ok(false)
            }
            ty::QUERY => {
                let q = parse_query(data)?;
                if q.sql.starts_with(b"# Dummy event") {
                    return Ok(false);
                }
                let upper = String::from_utf8_lossy(&q.sql).trim().to_ascii_uppercase();
                if !self.ctx.in_txn {
                    self.begin_txn(ts, sid, true)?;
                }
                if self.ctx.standalone {
                    let body = binlog::query_body(q.thread_id, &q.db, &q.sql);
                    self.write(ts, ty::QUERY, sid, &body)?;
                    self.end_txn()?;
                } else if upper == "COMMIT" {
                    self.write_xid(ts, sid)?;
                } else if upper == "BEGIN" {
                    // MariaDB without capability 4 would send BEGIN; our GTID wrote one.
                } else {
                    let body = binlog::query_body(q.thread_id, &q.db, &q.sql);
                    self.write(ts, ty::QUERY, sid, &body)?;
                    if upper == "ROLLBACK" {
                        self.end_txn()?;
                    }
                }
                Ok(false)
            }
            ty::XID => {
                self.write_xid(ts, sid)?;
                Ok(false)
            }
            ty::TABLE_MAP => {
                let tm = TableMap::parse(data)?;
                let key = (tm.db.clone(), tm.table.clone());
                let our = match self.ctx.ids.get(&key) {
                    Some(&(up, ours)) if up == tm.table_id => ours,
                    _ => {
                        let id = self.ctx.next_table_id;
                        self.ctx.next_table_id += 1;
                        self.ctx.ids.insert(key, (tm.table_id, id));
                        id
                    }
                };
                let mapped = self.mapped(ev, tm, our)?;
                if !self.cfg().has(Quirk::SingleRowEvents) {
                    let body = self.table_map_body(&mapped.out, our);
                    self.write(ts, ty::TABLE_MAP, sid, &body)?;
                }
                self.ctx.maps.insert(mapped.tm.table_id, Arc::new(mapped));
                Ok(false)
            }
            t if binlog::rows_v2_type(t).is_some() => {
                let v2 = binlog::rows_v2_type(t).unwrap();
                let table_id = data.get(..6).map(|b| b.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x)));
                let mapped = self
                    .ctx
                    .maps
                    .get(&table_id.unwrap_or(u64::MAX))
                    .cloned()
                    .ok_or_else(|| Error::Protocol("rows event without its TABLE_MAP".into()))?;
                let (tm, our) = (&mapped.tm, mapped.our);
                let mut rb = binlog::RowsBody::parse(t, data, tm)?;
                // The value quirks' images (owned), which `rb.rows` then borrows.
                let reencoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = if mapped.reencode {
                    let q = &self.cfg().quirks;
                    rb.rows
                        .iter()
                        .map(|(i1, i2)| {
                            let a = values::reencode_image(tm, rb.present1, i1, &mapped.facts, q)?;
                            let b = match (i2, rb.present2) {
                                (Some(i2), Some(p2)) => Some(values::reencode_image(tm, p2, i2, &mapped.facts, q)?),
                                _ => None,
                            };
                            Ok((a, b))
                        })
                        .collect::<Result<_, binlog::FormatError>>()?
                } else {
                    Vec::new()
                };
                if mapped.reencode {
                    rb.rows = reencoded.iter().map(|(a, b)| (a.as_slice(), b.as_deref())).collect();
                }
                let ones = self.cfg().has(Quirk::OnesPaddedBitmaps);
                if self.cfg().has(Quirk::SingleRowEvents) {
                    let tmb = self.table_map_body(&mapped.out, our);
                    for row in &rb.rows {
                        self.write(ts, ty::TABLE_MAP, sid, &tmb)?;
                        let body = binlog::rows_v2_body(
                            our,
                            binlog::STMT_END_F,
                            rb.width,
                            rb.present1,
                            rb.present2,
                            std::slice::from_ref(row),
                            ones,
                        );
                        self.write(ts, v2, sid, &body)?;
                        self.bump_rows();
                    }
                } else {
                    let body = binlog::rows_v2_body(our, rb.flags, rb.width, rb.present1, rb.present2, &rb.rows, ones);
                    self.write(ts, v2, sid, &body)?;
                    self.bump_rows();
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The converter's record of upstream map `tm` (event `ev`), written out as our table
    /// `our`: the column facts the value quirks need and the map to write.
    fn mapped(&mut self, ev: &mysql_common::binlog::events::Event, tm: TableMap, our: u64) -> Result<Mapped, Error> {
        let q = &self.svc.cfg.quirks;
        let any = values::VALUE_QUIRKS.iter().any(|v| q.contains(v));
        let facts = if any {
            let tme: mysql_common::binlog::events::TableMapEvent<'_> =
                ev.read_event().map_err(|e| Error::Format(binlog::FormatError(format!("TABLE_MAP: {e}"))))?;
            values::ColumnFacts::of(&tme)?
        } else {
            values::ColumnFacts::default()
        };
        let missing = if any { facts.missing(&tm, q) } else { Vec::new() };
        if !missing.is_empty() && self.ctx.warned.insert((tm.db.clone(), tm.table.clone())) {
            tracing::warn!(
                db = %String::from_utf8_lossy(&tm.db),
                table = %String::from_utf8_lossy(&tm.table),
                "the upstream TABLE_MAP carries no {}: the value quirks leave those columns as the upstream wrote \
                 them (start the upstream with binlog_row_metadata=FULL)",
                missing.join(" or ")
            );
        }
        let out = values::output_table_map(&tm, &facts, q);
        let reencode = any && (out != tm || touches_values(&tm, &facts, q));
        Ok(Mapped { tm, our, out, facts, reencode })
    }

    fn bump_rows(&self) {
        self.svc.state.lock().unwrap().stats.rows_events += 1;
    }

    fn table_map_body(&self, tm: &TableMap, our: u64) -> Vec<u8> {
        let types: Vec<u8> = if self.cfg().has(Quirk::EnumSetAsString) {
            tm.types.clone()
        } else {
            tm.types
                .iter()
                .zip(&tm.meta)
                .map(|(&t, m)| {
                    if t == binlog::col::STRING && (m[0] == binlog::col::ENUM || m[0] == binlog::col::SET) {
                        m[0]
                    } else {
                        t
                    }
                })
                .collect()
        };
        let optional: &[u8] = if self.cfg().has(Quirk::NoOptionalMetadata) { &[] } else { &tm.optional };
        tm.to_body(our, &types, optional)
    }

    fn begin_txn(&mut self, ts: u32, sid: u32, standalone: bool) -> Result<(), Error> {
        self.ctx.gno = self.persist.last_gno + 1;
        self.ctx.in_txn = true;
        self.ctx.standalone = standalone;
        let (secs, micros) = now();
        let (lc, seq) = if self.cfg().has(Quirk::GtidClockFields) {
            (u64::from(secs.max(ts)), u64::from(micros))
        } else {
            (self.ctx.gno - 1, self.ctx.gno)
        };
        let body = binlog::gtid_body(&self.cfg().server_uuid, self.ctx.gno, lc, seq);
        self.write(ts, ty::GTID, sid, &body)?;
        if !standalone {
            let b = binlog::query_body(0, b"", b"BEGIN");
            self.write(ts, ty::QUERY, sid, &b)?;
        }
        Ok(())
    }

    fn write_xid(&mut self, ts: u32, sid: u32) -> Result<(), Error> {
        self.ctx.xid += 1;
        let x = self.ctx.xid;
        self.write(ts, ty::XID, sid, &x.to_le_bytes())?;
        self.end_txn()
    }

    fn end_txn(&mut self) -> Result<(), Error> {
        self.ctx.in_txn = false;
        self.ctx.standalone = false;
        self.persist.last_gno = self.ctx.gno;
        self.writer.whole_end = self.writer.len;
        self.persist.upstream_file = self.up_file.clone();
        self.persist.upstream_pos = self.up_pos;
        self.svc.state.lock().unwrap().stats.transactions += 1;
        if self.writer.len >= self.cfg().max_binlog_size {
            let sid = self.cfg().server_id_for(0);
            let (ts, _) = now();
            self.writer.rotate(&self.svc, sid, ts, self.persist.last_gno)?;
            self.since_status = 0;
            self.status_candidate = None;
        }
        self.save()
    }
}

/// True when a value quirk of `q` changes values of a column of `tm` (whose facts are known).
fn touches_values(tm: &TableMap, facts: &values::ColumnFacts, q: &std::collections::BTreeSet<Quirk>) -> bool {
    tm.types.iter().zip(&tm.meta).enumerate().any(|(i, (&t, m))| {
        let real = if t == binlog::col::STRING { m[0] } else { t };
        let labels = facts.labels.get(i).is_some_and(Option::is_some);
        match real {
            binlog::col::SET => labels && (q.contains(&Quirk::SetPrefixMatch) || q.contains(&Quirk::SetShortBitmap)),
            binlog::col::ENUM => labels && q.contains(&Quirk::EnumPrefixMatch),
            binlog::col::LONGLONG => {
                q.contains(&Quirk::UnsignedBigintAtoll) && facts.unsigned.get(i) == Some(&Some(true))
            }
            binlog::col::BIT => q.contains(&Quirk::BitAtoi),
            _ => false,
        }
    })
}

/// The parts of an upstream QUERY event body the converter uses (MySQL manual "QUERY_EVENT").
struct Query {
    thread_id: u32,
    db: Vec<u8>,
    sql: Vec<u8>,
}

fn parse_query(d: &[u8]) -> Result<Query, Error> {
    let short = || Error::Format(binlog::FormatError("QUERY event truncated".into()));
    if d.len() < 13 {
        return Err(short());
    }
    let thread_id = u32::from_le_bytes(d[0..4].try_into().unwrap());
    let db_len = usize::from(d[8]);
    let status_len = usize::from(u16::from_le_bytes(d[11..13].try_into().unwrap()));
    let p = 13 + status_len;
    let db = d.get(p..p + db_len).ok_or_else(short)?.to_vec();
    let sql = d.get(p + db_len + 1..).ok_or_else(short)?.to_vec();
    Ok(Query { thread_id, db, sql })
}
