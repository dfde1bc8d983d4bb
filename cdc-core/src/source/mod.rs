//! The binlog source: connects to a MySQL-protocol server (MariaDB, MySQL, the OceanBase
//! binlog service) as a replica and yields [`SourceMessage`]s — row change events, transaction
//! commits and heartbeats — in binlog order, on a bounded channel.
//!
//! What it owns: the replication connection (`COM_REGISTER_SLAVE` + `COM_BINLOG_DUMP` through
//! `mysql_async`), server prechecks, start-position resolution, reconnects with capped
//! exponential backoff (resuming at the last transaction boundary it sent: events of a
//! transaction that was cut by the disconnect are sent again — at-least-once, never a gap),
//! and the session settings MariaDB needs (`@mariadb_slave_capability=4` for real GTID events,
//! `@slave_connect_state` for a GTID start, `@master_heartbeat_period`).
//!
//! Submodules, one job each: [`decode`] (event state machine), `table` (column plans),
//! `value` (value conversion), [`filter`] (table selection), [`schema`] (names from
//! `information_schema` when TABLE_MAPs carry none), [`file`] (offline decoding of binlog files).
//!
//! Known limits: MariaDB JSON columns are LONGTEXT in the binlog and come out as JSON
//! *strings*; GTID state is tracked for MariaDB (`domain-server-seq` per domain) and for MySQL
//! (the executed set, [`gtid::MysqlGtidSet`]) — on MySQL it is unknown (not written to
//! checkpoints) after a start in the middle of a file without a GTID set, until the next
//! file's PREVIOUS_GTIDS event; the MySQL paths are tested on recorded MySQL binlog files and
//! protocol bytes, not against a live MySQL server (none runs here);
//! columns absent from a row image (`binlog_row_image` ≠ FULL, which the precheck rejects)
//! are null; a transaction that changes a non-transactional table (MyISAM, Aria) and then runs
//! `ROLLBACK` or `ROLLBACK TO SAVEPOINT` is logged by the server with the undone rows of its
//! transactional tables followed by the rollback statement — those rows are emitted (logged
//! as a warning), since the binlog does not say which tables are transactional. Column names
//! read from `information_schema` (MINIMAL row metadata) are those of the table now, see
//! [`schema`].

use std::time::Duration;

use backon::BackoffBuilder;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, OptsBuilder};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::event::ChangeEvent;
use crate::metrics;
use crate::position::{BinlogPosition, Checkpoint, StartPosition};
use crate::secret::Secret;
use crate::status::{StageState, Status};

pub mod decode;
pub mod file;
pub mod filter;
pub mod gtid;
pub mod schema;
mod table;
mod value;

pub use decode::Decoder;
pub use filter::TableFilter;
pub use table::TableSchema;

/// Connection and behaviour settings of the binlog source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Server host name or IP.
    pub host: String,
    /// Server port (OceanBase binlog service default 2881; MySQL 3306).
    pub port: u16,
    /// Replication user (needs REPLICATION SLAVE, REPLICATION CLIENT, SELECT).
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// server_id this replica registers with; must be unique among the source's replicas.
    pub server_id: u32,
    /// Logical server name written to `source.name` of every event.
    pub name: String,
    /// Schemas to capture; empty = all.
    pub schemas: Vec<String>,
    /// Table selectors: `*`, names (`t` or `db.t`), or regular expressions; empty = all.
    pub tables: Vec<String>,
    /// Heartbeat period asked of the server, ms (0 = none).
    pub heartbeat_ms: u64,
    /// First reconnect delay after a connection failure, ms (doubles up to `reconnect_max_ms`).
    pub reconnect_min_ms: u64,
    /// Reconnect delay cap, ms.
    pub reconnect_max_ms: u64,
    /// Verify each event's CRC32 (when the server writes checksums); a mismatch is a
    /// [`SourceError::Decode`].
    pub verify_checksums: bool,
}

impl SourceConfig {
    /// A configuration with defaults: server_id 5701 (set a unique one per replica), name
    /// `"mysql"`, all schemas and tables, heartbeat 1000 ms, reconnect 200 ms → 10 s,
    /// checksums verified.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            password: Secret::new(password),
            server_id: 5701,
            name: "mysql".into(),
            schemas: Vec::new(),
            tables: Vec::new(),
            heartbeat_ms: 1000,
            reconnect_min_ms: 200,
            reconnect_max_ms: 10_000,
            verify_checksums: true,
        }
    }

    fn opts(&self) -> mysql_async::Opts {
        OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.expose().to_string()))
            .prefer_socket(false)
            .into()
    }
}

/// One item of the source's output, in binlog order.
#[derive(Debug, Clone)]
pub enum SourceMessage {
    /// Decoded row changes (WRITE/UPDATE/DELETE_ROWS) of one transaction, in binlog order; never
    /// empty: the rows of one rows event, or of several consecutive ones (up to about 8,192
    /// column values or 256 KiB of binlog row data, see `stream_once`). An UPDATE that changes
    /// the primary key contributes a delete and a create.
    Events(Vec<ChangeEvent>),
    /// A transaction committed (XID or COMMIT): every event before this message belongs to
    /// committed transactions, and resuming at `Checkpoint.position` re-reads nothing of them.
    Commit(Checkpoint),
    /// The server is alive and the source is at `position` with no open transaction.
    Heartbeat {
        /// Current position.
        position: BinlogPosition,
        /// Binlog timestamp of the heartbeat (ms since epoch; 0 when unknown).
        ts_ms: i64,
    },
}

impl SourceMessage {
    /// The change events this message carries: those of [`SourceMessage::Events`], none for the
    /// others.
    pub fn events(&self) -> &[ChangeEvent] {
        match self {
            SourceMessage::Events(events) => events,
            _ => &[],
        }
    }
}

/// Why the source stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connection-level failure (refused, reset, killed dump thread...): retried with backoff.
    #[error("binlog connection error: {0}")]
    Connection(String),
    /// The server's configuration cannot support CDC; says what to change.
    #[error("server precheck failed: {0}")]
    Precheck(String),
    /// The requested position is no longer on the server.
    #[error("binlog position {position} is no longer on the server (oldest available: {oldest}); the changes in between are lost to this collector: re-snapshot the tables, then remove the offset file or set CDC_START_POSITION")]
    PositionPurged {
        /// The position asked for.
        position: BinlogPosition,
        /// The oldest binlog file the server still has.
        oldest: String,
    },
    /// A binlog event could not be decoded.
    #[error("cannot decode binlog event at {position}: {message}")]
    Decode {
        /// Where.
        position: BinlogPosition,
        /// What.
        message: String,
    },
    /// The source configuration is invalid (e.g. a table selector that is not a valid regex).
    #[error("invalid source configuration: {0}")]
    Config(String),
    /// The server refused the replication request for a reason other than a purged position
    /// (MySQL error 1236 and friends); the message is the server's.
    #[error("the server refused to stream the binlog: {0}")]
    Replication(String),
}

impl SourceError {
    /// True when reconnecting and resuming may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Connection(_))
    }
}

fn conn_err(e: mysql_async::Error) -> SourceError {
    SourceError::Connection(e.to_string())
}

/// Server flavour, from `VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (version string contains `MariaDB`).
    MariaDb,
    /// MySQL or a MySQL-compatible server (OceanBase binlog service).
    MySql,
}

/// The binlog reader.
#[derive(Debug)]
pub struct BinlogSource {
    config: SourceConfig,
    status: Status,
}

enum Outcome {
    Cancelled,
    Transient(String),
}

impl BinlogSource {
    /// A source with `config`, reporting its state to `status`.
    pub fn new(config: SourceConfig, status: Status) -> Self {
        Self { config, status }
    }

    /// The configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    async fn connect(&self) -> Result<Conn, SourceError> {
        Conn::new(self.config.opts()).await.map_err(conn_err)
    }

    async fn flavor(conn: &mut Conn) -> Result<Flavor, SourceError> {
        let v: Option<String> = conn.query_first("SELECT VERSION()").await.map_err(conn_err)?;
        Ok(if v.unwrap_or_default().contains("MariaDB") { Flavor::MariaDb } else { Flavor::MySql })
    }

    /// Connects and checks the server can serve CDC: `log_bin=ON`, `binlog_format=ROW`,
    /// `binlog_row_image=FULL`, `log_bin_compress=OFF` (MariaDB), and the user's global grants
    /// (REPLICATION SLAVE, REPLICATION CLIENT / BINLOG MONITOR, SELECT).
    ///
    /// Errors: [`SourceError::Connection`] when the server cannot be reached or the login
    /// fails; [`SourceError::Precheck`] naming every problem found, each with what to set.
    pub async fn precheck(&self) -> Result<(), SourceError> {
        let mut conn = self.connect().await?;
        let flavor = Self::flavor(&mut conn).await?;
        let mut problems = Vec::new();
        let (log_bin, format, image): (Option<String>, Option<String>, Option<String>) = conn
            .query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
            .await
            .map_err(conn_err)?
            .unwrap_or_default();
        let log_bin = log_bin.unwrap_or_default();
        if !(log_bin == "1" || log_bin.eq_ignore_ascii_case("ON")) {
            problems.push(format!("log_bin is {log_bin:?} (binary logging off) — start the server with --log-bin"));
        }
        let format = format.unwrap_or_default();
        if !format.eq_ignore_ascii_case("ROW") {
            problems.push(format!("binlog_format is {format} — set binlog_format=ROW"));
        }
        let image = image.unwrap_or_default();
        if !image.eq_ignore_ascii_case("FULL") {
            problems.push(format!("binlog_row_image is {image} — set binlog_row_image=FULL"));
        }
        if flavor == Flavor::MariaDb {
            let compress: Option<Option<String>> =
                conn.query_first("SELECT @@GLOBAL.log_bin_compress").await.ok().flatten();
            if let Some(Some(c)) = compress {
                if c == "1" || c.eq_ignore_ascii_case("ON") {
                    problems.push(
                        "log_bin_compress is ON (compressed rows events cannot be decoded) — set log_bin_compress=OFF"
                            .into(),
                    );
                }
            }
        }
        if flavor == Flavor::MySql {
            let opts: Option<Option<String>> =
                conn.query_first("SELECT @@GLOBAL.binlog_row_value_options").await.ok().flatten();
            if let Some(Some(o)) = opts {
                if o.to_ascii_uppercase().contains("PARTIAL_JSON") {
                    problems.push(format!(
                        "binlog_row_value_options is {o} (JSON diffs instead of documents) — set binlog_row_value_options=''"
                    ));
                }
            }
        }
        let grants: Vec<String> = conn.query("SHOW GRANTS FOR CURRENT_USER()").await.map_err(conn_err)?;
        let global: Vec<String> =
            grants.iter().map(|g| g.to_ascii_uppercase()).filter(|g| g.contains(" ON *.* ")).collect();
        let has = |p: &str| global.iter().any(|g| g.contains("ALL PRIVILEGES") || g.contains(p));
        let who = format!("{}@{}", self.config.user, self.config.host);
        if !has("REPLICATION SLAVE") && !has("REPLICATION REPLICA") {
            problems.push(format!("user {who} lacks REPLICATION SLAVE — GRANT REPLICATION SLAVE ON *.* TO the user"));
        }
        if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
            problems.push(format!(
                "user {who} lacks REPLICATION CLIENT (MariaDB: BINLOG MONITOR) — GRANT REPLICATION CLIENT ON *.* TO the user"
            ));
        }
        if !has("SELECT") {
            problems.push(format!("user {who} lacks global SELECT (needed to read column names from information_schema) — GRANT SELECT ON *.* TO the user"));
        }
        let _ = conn.disconnect().await;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SourceError::Precheck(problems.join("; ")))
        }
    }

    async fn binary_logs(conn: &mut Conn) -> Result<Vec<String>, SourceError> {
        let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.map_err(conn_err)?;
        Ok(rows.into_iter().filter_map(|r| r.get::<String, _>(0)).collect())
    }

    /// Turns a [`StartPosition`] into a concrete checkpoint, so it can be stored before the
    /// first event is read:
    /// - `Latest`: `SHOW MASTER STATUS` (MySQL 8.4: `SHOW BINARY LOG STATUS`) plus the
    ///   current GTID state (`@@gtid_binlog_pos` on MariaDB, `@@gtid_executed` on MySQL);
    /// - `Earliest`: the first file of `SHOW BINARY LOGS`, offset 4;
    /// - `At(p)`: `p`, after checking its file is still listed;
    /// - `Gtid(set)`: position file empty (`""`, offset 4) and `gtid_set` = the set; [`run`]
    ///   then starts by GTID (MariaDB `@slave_connect_state`; MySQL `COM_BINLOG_DUMP_GTID`).
    ///
    /// Errors: [`SourceError::Connection`], [`SourceError::PositionPurged`] for `At` on a file
    /// no longer listed, [`SourceError::Precheck`] when binary logging is off.
    ///
    /// [`run`]: Self::run
    pub async fn resolve_start(&self, start: &StartPosition) -> Result<Checkpoint, SourceError> {
        let now = crate::status::now_ms();
        let mk = |position, gtid_set| Checkpoint { position, gtid_set, server_id: 0, ts_ms: now };
        if let StartPosition::Gtid(set) = start {
            return Ok(mk(BinlogPosition::new("", 4), Some(set.text.clone())));
        }
        let mut conn = self.connect().await?;
        let flavor = Self::flavor(&mut conn).await?;
        let cp = match start {
            StartPosition::Latest => {
                let row: Option<mysql_async::Row> = match conn.query_first("SHOW MASTER STATUS").await {
                    Ok(r) => r,
                    Err(_) => conn.query_first("SHOW BINARY LOG STATUS").await.map_err(conn_err)?,
                };
                let row = row.ok_or_else(|| {
                    SourceError::Precheck(
                        "SHOW MASTER STATUS is empty: binary logging is off; start the server with --log-bin".into(),
                    )
                })?;
                let file: String = row.get(0).unwrap_or_default();
                let pos: u64 = row.get(1).unwrap_or(4);
                let gtid: Option<String> = match flavor {
                    Flavor::MariaDb => conn.query_first("SELECT @@GLOBAL.gtid_binlog_pos").await.ok().flatten(),
                    // MySQL prints the executed set in the same row (`Executed_Gtid_Set`), read
                    // together with the position; `@@gtid_executed` where that column is absent.
                    Flavor::MySql => match row.get::<Option<String>, _>(4).flatten() {
                        Some(set) => Some(set),
                        None => conn.query_first("SELECT @@GLOBAL.gtid_executed").await.ok().flatten(),
                    },
                };
                mk(BinlogPosition::new(file, pos), gtid.filter(|g| !g.is_empty()))
            }
            StartPosition::Earliest => {
                let logs = Self::binary_logs(&mut conn).await?;
                let first = logs
                    .into_iter()
                    .next()
                    .ok_or_else(|| SourceError::Precheck("SHOW BINARY LOGS is empty: binary logging is off".into()))?;
                mk(BinlogPosition::new(first, 4), None)
            }
            StartPosition::At(p) => {
                let logs = Self::binary_logs(&mut conn).await?;
                if !logs.contains(&p.file) {
                    return Err(SourceError::PositionPurged {
                        position: p.clone(),
                        oldest: logs.first().cloned().unwrap_or_default(),
                    });
                }
                mk(p.clone(), None)
            }
            StartPosition::Gtid(_) => unreachable!("handled above"),
        };
        let _ = conn.disconnect().await;
        Ok(cp)
    }

    /// Streams from `from` until `cancel` fires (then returns `Ok(())`) or a fatal error,
    /// sending messages to `tx` (bounded: a slow consumer slows the reader). Reconnects on
    /// transient errors with capped exponential backoff (`reconnect_min_ms` →
    /// `reconnect_max_ms`, forever) and resumes at the last [`SourceMessage::Commit`] it sent;
    /// events of a transaction cut by the disconnect are then sent again (at-least-once).
    ///
    /// `from.position.file` empty with `from.gtid_set` set starts by GTID: MariaDB through
    /// `@slave_connect_state`, MySQL through `COM_BINLOG_DUMP_GTID` (needs `gtid_mode=ON`, else
    /// [`SourceError::Precheck`]).
    ///
    /// Errors (fatal): [`SourceError::Config`] (bad table selector), [`SourceError::Decode`],
    /// [`SourceError::PositionPurged`] (the resume file was purged), [`SourceError::Replication`]
    /// (other refusals of the dump request).
    pub async fn run(
        self,
        from: Checkpoint,
        tx: mpsc::Sender<SourceMessage>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let filter = TableFilter::new(&self.config.schemas, &self.config.tables).map_err(SourceError::Config)?;
        let mut decoder = Decoder::new(&self.config.name, filter, &from.position, from.gtid_set.as_deref());
        let mut resume = from;
        let mut delays = self.backoff();
        let mut meta_conn: Option<Conn> = None;
        let mut last_reason: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                self.status.set_source(StageState::Stopped);
                return Ok(());
            }
            self.status.set_source(StageState::Connecting(last_reason.clone()));
            match self.stream_once(&mut decoder, &mut resume, &tx, &cancel, &mut meta_conn, &mut delays).await {
                Ok(Outcome::Cancelled) => {
                    self.status.set_source(StageState::Stopped);
                    return Ok(());
                }
                Ok(Outcome::Transient(reason)) => {
                    ::metrics::counter!(metrics::SOURCE_CONNECTS_TOTAL, "outcome" => "error").increment(1);
                    tracing::warn!(%reason, resume = %resume.position, "binlog connection lost; reconnecting");
                    self.status.set_source(StageState::Connecting(Some(reason.clone())));
                    last_reason = Some(reason);
                    let delay = delays.next().unwrap_or(Duration::from_millis(self.config.reconnect_max_ms));
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(e) => {
                    self.status.set_source(StageState::Failed(e.to_string()));
                    return Err(e);
                }
            }
        }
    }

    fn backoff(&self) -> backon::ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.config.reconnect_min_ms.max(1)))
            .with_max_delay(Duration::from_millis(
                self.config.reconnect_max_ms.max(self.config.reconnect_min_ms.max(1)),
            ))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// One replication connection: Ok(Cancelled) on cancel, Ok(Transient) on a connection
    /// loss, Err on a fatal error.
    async fn stream_once(
        &self,
        decoder: &mut Decoder,
        resume: &mut Checkpoint,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
        meta_conn: &mut Option<Conn>,
        delays: &mut backon::ExponentialBackoff,
    ) -> Result<Outcome, SourceError> {
        let mut conn = match self.connect().await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::Transient(e.to_string())),
        };
        let setup = async {
            let flavor = Self::flavor(&mut conn).await?;
            // Unknown (a server without the variable): CRC32, the default since MySQL 5.6.6.
            let checksum: Option<String> =
                conn.query_first("SELECT @@GLOBAL.binlog_checksum").await.ok().flatten().or(Some("CRC32".into()));
            if self.config.heartbeat_ms > 0 {
                let ns = self.config.heartbeat_ms.saturating_mul(1_000_000);
                // Both names: MySQL 8.4 reads `source_`, older servers and MariaDB `master_`.
                conn.query_drop(format!("SET @master_heartbeat_period = {ns}, @source_heartbeat_period = {ns}"))
                    .await
                    .map_err(conn_err)?;
            }
            let gtid_start = resume.position.file.is_empty();
            if flavor == Flavor::MariaDb {
                conn.query_drop("SET @mariadb_slave_capability = 4").await.map_err(conn_err)?;
                if gtid_start {
                    let set = resume.gtid_set.clone().unwrap_or_default();
                    conn.exec_drop("SET @slave_connect_state = ?", (set,)).await.map_err(conn_err)?;
                    conn.query_drop("SET @slave_gtid_strict_mode = 0").await.map_err(conn_err)?;
                }
            } else {
                // mysql_async announces checksum support as `@master_binlog_checksum` only;
                // MySQL 8.4 reads `@source_binlog_checksum`.
                // Ignored where the variable does not exist (then nothing reads it either).
                let _ = conn.query_drop("SET @source_binlog_checksum = @@GLOBAL.binlog_checksum").await;
                if gtid_start {
                    // COM_BINLOG_DUMP_GTID needs GTIDs on the server (MySQL manual 19.1.3
                    // "Replication with Global Transaction Identifiers").
                    let mode: Option<String> = conn.query_first("SELECT @@GLOBAL.gtid_mode").await.unwrap_or_default();
                    if !mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("ON")) {
                        return Err(SourceError::Precheck(format!(
                            "a GTID start position needs gtid_mode=ON on the server (it is {}); set gtid_mode=ON \
                             and enforce_gtid_consistency=ON, or start from a file:pos",
                            mode.as_deref().unwrap_or("not available")
                        )));
                    }
                }
            }
            Ok::<_, SourceError>((flavor, checksum.map(|c| !c.eq_ignore_ascii_case("NONE")).unwrap_or(false)))
        };
        let (flavor, checksums_on) = match setup.await {
            Ok(v) => v,
            Err(SourceError::Connection(e)) => return Ok(Outcome::Transient(e)),
            Err(e) => return Err(e),
        };
        decoder.set_mariadb(flavor == Flavor::MariaDb);
        decoder.begin_connection(checksums_on, &resume.position);
        let file = resume.position.file.clone();
        let request = if flavor == Flavor::MySql && file.is_empty() {
            // MySQL GTID start: COM_BINLOG_DUMP_GTID with the executed set; the server sends
            // every transaction not in it, from the first binlog file that has one.
            let text = resume.gtid_set.as_deref().unwrap_or_default();
            let set = gtid::MysqlGtidSet::parse(text).map_err(|e| SourceError::Config(e.to_string()))?;
            BinlogStreamRequest::new(self.config.server_id).with_gtid().with_gtid_set(set.to_sids())
        } else {
            BinlogStreamRequest::new(self.config.server_id).with_filename(file.as_bytes()).with_pos(resume.position.pos)
        };
        let mut stream = match conn.get_binlog_stream(request).await {
            Ok(s) => s,
            Err(e) => return self.classify(e, resume).await,
        };
        ::metrics::counter!(metrics::SOURCE_CONNECTS_TOTAL, "outcome" => "ok").increment(1);
        self.status.set_source(StageState::Running);
        let mut out = Vec::with_capacity(64);
        // Binlog bytes of the events whose rows wait in `out` (see COALESCE_BYTES).
        let mut out_bytes = 0usize;
        let mut reset_backoff = false;
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = stream.close().await;
                    return Ok(Outcome::Cancelled);
                }
                n = stream.next() => n,
            };
            let ev = match next {
                Some(Ok(ev)) => ev,
                Some(Err(e)) => return self.classify(e, resume).await,
                None => return Ok(Outcome::Transient("the server ended the binlog stream".into())),
            };
            if !reset_backoff {
                *delays = self.backoff();
                reset_backoff = true;
            }
            // A fake ROTATE (log_pos 0) is not verified: OceanBase sends one without a CRC at
            // each following file, while the reader expects the previous FDE's CRC32.
            let artificial_rotate = ev.header().event_type_raw() == 4 && ev.header().log_pos() == 0;
            if self.config.verify_checksums && !artificial_rotate {
                if let Some(false) = decode::checksum_ok(&ev) {
                    return Err(SourceError::Decode {
                        position: decoder.position(),
                        message: format!("event checksum mismatch (type {})", ev.header().event_type_raw()),
                    });
                }
            }
            if let Some((db, table)) = decoder.needs_schema(&ev) {
                let schema = match self.lookup_schema(meta_conn, &db, &table).await {
                    Ok(s) => s,
                    Err(e) => {
                        return Ok(Outcome::Transient(format!("reading information_schema for {db}.{table}: {e}")))
                    }
                };
                decoder.put_schema(db, table, schema);
            }
            let before = decoder.rows_total;
            decoder.handle(&ev, &mut out)?;
            let ts = ev.header().timestamp() as i64 * 1000;
            if ts > 0 && h_is_real(&ev) {
                let lag_s = (crate::status::now_ms() - ts).max(0) as f64 / 1000.0;
                ::metrics::gauge!(metrics::REPLICATION_LAG_SECONDS).set(lag_s);
            }
            self.status.on_read(
                decoder.rows_total - before,
                Some(decoder.position()),
                if ts > 0 && h_is_real(&ev) { ts } else { 0 },
            );
            // Rows of consecutive rows events travel in one message until the transaction ends
            // (its Commit follows them at once) or about COALESCE_VALUES column values or
            // COALESCE_BYTES binlog bytes are waiting: the server writes a transaction's events
            // together at commit, so nothing waits for long, and the consumer is woken less
            // often than once per rows event. Counting values (not rows) and bytes keeps a
            // message's memory similar for narrow, wide and large rows, so the channel bound
            // stays a memory bound.
            if let [SourceMessage::Events(v)] = &out[..] {
                out_bytes += ev.data().len();
                let values =
                    v.first().map_or(0, |e| e.after.as_ref().or(e.before.as_ref()).map_or(0, |r| r.values.len()));
                if v.len() * values.max(1) < COALESCE_VALUES && out_bytes < COALESCE_BYTES {
                    continue;
                }
            }
            out_bytes = 0;
            for msg in out.drain(..) {
                match &msg {
                    SourceMessage::Commit(cp) => *resume = cp.clone(),
                    SourceMessage::Heartbeat { .. } => {
                        self.status.on_caught_up();
                        ::metrics::gauge!(metrics::REPLICATION_LAG_SECONDS).set(0.0);
                    }
                    SourceMessage::Events(_) => {}
                }
                tokio::select! {
                    _ = cancel.cancelled() => {
                        let _ = stream.close().await;
                        return Ok(Outcome::Cancelled);
                    }
                    r = tx.send(msg) => {
                        if r.is_err() {
                            // The consumer is gone: nothing left to do.
                            return Ok(Outcome::Cancelled);
                        }
                    }
                }
            }
        }
    }

    async fn lookup_schema(
        &self,
        meta_conn: &mut Option<Conn>,
        db: &str,
        table: &str,
    ) -> Result<TableSchema, mysql_async::Error> {
        if meta_conn.is_none() {
            *meta_conn = Some(Conn::new(self.config.opts()).await?);
        }
        let conn = meta_conn.as_mut().expect("set above");
        match schema::load_schema(conn, db, table).await {
            Ok(s) => Ok(s),
            Err(e) => {
                *meta_conn = None;
                Err(e)
            }
        }
    }

    /// Sorts a stream error: a server refusal (1236 `ER_MASTER_FATAL_ERROR_READING_BINLOG`)
    /// is fatal — [`SourceError::PositionPurged`] when the resume file is no longer listed —
    /// anything else is a transient connection loss.
    async fn classify(&self, e: mysql_async::Error, resume: &Checkpoint) -> Result<Outcome, SourceError> {
        match &e {
            mysql_async::Error::Server(se) if se.code == 1236 => {
                if !resume.position.file.is_empty() {
                    if let Ok(mut c) = self.connect().await {
                        if let Ok(logs) = Self::binary_logs(&mut c).await {
                            if !logs.contains(&resume.position.file) {
                                return Err(SourceError::PositionPurged {
                                    position: resume.position.clone(),
                                    oldest: logs.first().cloned().unwrap_or_default(),
                                });
                            }
                        }
                    }
                }
                Err(SourceError::Replication(se.message.clone()))
            }
            mysql_async::Error::Server(se) if matches!(se.code, 1045 | 1044 | 1227 | 1142) => {
                Err(SourceError::Replication(format!("{} (error {})", se.message, se.code)))
            }
            _ => Ok(Outcome::Transient(e.to_string())),
        }
    }
}

/// Column values (rows × columns) the source gathers into one message before sending it
/// before the transaction's end (see `stream_once`): ≈ 745 rows of 11 columns, 137 of 60.
/// Larger messages wake the consumer less often: 2,048 → 8,192 raised narrow decode by ≈ 5 %
/// (docs/benchmarks.md) for a few MB more at most in a full 16-message queue (large values are
/// bounded by [`COALESCE_BYTES`] instead).
const COALESCE_VALUES: usize = 8192;

/// Binlog bytes of rows events the source gathers into one message at most (the message is
/// sent once this is reached): rows of 1 KB values make messages of ≈ 250 rows, not 4,096.
const COALESCE_BYTES: usize = 256 * 1024;

/// True for events the server wrote to the binlog (not artificial, not heartbeats), whose
/// timestamp says how far behind the reader is.
fn h_is_real(ev: &mysql_common::binlog::events::Event) -> bool {
    let h = ev.header();
    h.log_pos() != 0 && h.flags_raw() & 0x20 == 0 && !matches!(h.event_type_raw(), 27 | 41)
}
