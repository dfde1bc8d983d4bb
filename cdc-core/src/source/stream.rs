//! The binlog reader: [`BinlogSource`] streams as a replica and reconnects.
//!
//! **Resumption.** It starts at a [`Checkpoint`] and, after a lost connection, resumes at the
//! last [`SourceMessage::Commit`] it sent: events of a transaction cut by the disconnect are
//! sent again (at-least-once, never a gap). **Backpressure.** Messages go to a bounded
//! channel; when it is full the reader waits, so memory is bounded by the channel's capacity
//! times the message bound ([`coalesce::COALESCE_VALUES`] values or [`coalesce::COALESCE_BYTES`] bytes of row data).
//! **Errors.** A lost connection is retried with capped, jittered exponential backoff
//! (`backon`); a definite error (purged position, refusal, undecodable event) ends the run.

use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn};
use mysql_common::binlog::events::TableMapEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::change_source::ChangeSource;
use super::config::SourceConfig;
use super::decode::{self, Decoder};
use super::error::{codes, PrecheckProblem, SourceError};
use super::filter::TableFilter;
use super::message::SourceMessage;
use super::schema_provider::SchemaProvider;
use super::server::{self, Flavor};
use super::table::TableSchema;
use super::{coalesce, gtid, oceanbase_values, precheck, schema, start};
use crate::metrics;
use crate::position::{Resume, StartPosition};
use crate::retry::Backoff;

use crate::checkpoint::Checkpoint;
use crate::status::{StageState, Status};

/// The binlog reader.
#[derive(Debug, Clone)]
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

    /// Connects and checks the server can serve CDC (see the `precheck` module docs).
    ///
    /// Errors: [`SourceError::Connection`] when the server cannot be reached or the login
    /// fails; [`SourceError::Precheck`] with every problem found, each with what to set.
    pub async fn precheck(&self) -> Result<(), SourceError> {
        precheck::precheck(&self.config).await
    }

    /// On the OceanBase binlog service (declared, or named by `VERSION()`): the captured columns
    /// its value faults can corrupt without a trace in the stream — BIGINT UNSIGNED and BIT wider
    /// than 32 bits (before oblogproxy v2.0.1_BP2), ENUM/SET columns with a label that is a
    /// prefix of another — one [`PrecheckProblem`] each (`setting` names `db.table.column`,
    /// `actual` the fault, `fix` the upgrade or the column change). Empty on other servers. The
    /// precheck logs the same list as warnings; they do not fail it (the service's version,
    /// which decides whether the first two apply, is not visible to a client).
    ///
    /// Errors: [`SourceError::Connection`] when the server cannot be reached or
    /// `information_schema` read; [`SourceError::Config`] for table selectors that do not compile.
    pub async fn value_warnings(&self) -> Result<Vec<PrecheckProblem>, SourceError> {
        let mut conn = server::connect(&self.config).await?;
        let out = if server::is_oceanbase(&self.config, &mut conn).await? {
            oceanbase_values::value_risks(&self.config, &mut conn).await
        } else {
            Ok(Vec::new())
        };
        let _ = conn.disconnect().await;
        out
    }

    /// Turns a [`StartPosition`] into a concrete checkpoint (see the `start` module).
    ///
    /// Errors: [`SourceError::Connection`], [`SourceError::PositionPurged`] for a `file:pos` on
    /// a file no longer listed, [`SourceError::Precheck`] when binary logging is off.
    pub async fn resolve_start(&self, start: &StartPosition) -> Result<Checkpoint, SourceError> {
        start::resolve_start(&self.config, start).await
    }

    /// Streams from `from` until `cancel` fires (then returns `Ok(())`) or a fatal error,
    /// sending messages to `tx` (bounded: a slow consumer slows the reader). Reconnects on
    /// transient errors with capped exponential backoff (`reconnect_min_ms` →
    /// `reconnect_max_ms`, forever) and resumes at the last [`SourceMessage::Commit`] it sent;
    /// events of a transaction cut by the disconnect are then sent again (at-least-once).
    ///
    /// A [`Resume::Gtid`] checkpoint starts by GTID: MariaDB through
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
        let filter = TableFilter::new(&self.config.schemas, &self.config.tables)
            .map_err(SourceError::Config)?
            .also(&self.config.also_decode);
        let mut decoder = Decoder::new(&self.config.name, filter, &from.resume);
        decoder.carry_snapshotted(from.snapshotted.clone());
        let mut resume = from;
        let mut delays = self.backoff();
        let mut meta_conn: Option<Conn> = None;
        let mut last_reason: Option<String> = None;
        // One run owns the schema provider (if any) for its whole duration.
        let shared = self.config.schema_provider.clone();
        let mut guard = match &shared {
            Some(p) => Some(p.lock().await),
            None => None,
        };
        let mut started = false;
        loop {
            if cancel.is_cancelled() {
                self.status.set_source(StageState::Stopped);
                return Ok(());
            }
            self.status.set_source(StageState::Connecting(last_reason.clone()));
            let provider = guard.as_deref_mut().map(|b| b.as_mut());
            let once = self.stream_once(
                &mut decoder,
                &mut resume,
                &tx,
                &cancel,
                &mut meta_conn,
                &mut delays,
                provider,
                &mut started,
            );
            match once.await {
                Ok(Outcome::Cancelled) => {
                    self.status.set_source(StageState::Stopped);
                    return Ok(());
                }
                Ok(Outcome::Transient(reason)) => {
                    ::metrics::counter!(metrics::SOURCE_CONNECTS_TOTAL, "outcome" => "error").increment(1);
                    tracing::warn!(%reason, resume = %resume.resume, "binlog connection lost; reconnecting");
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
        Backoff::from_millis(self.config.reconnect_min_ms, self.config.reconnect_max_ms).jittered()
    }

    /// One replication connection: Ok(Cancelled) on cancel, Ok(Transient) on a connection
    /// loss, Err on a fatal error.
    #[allow(clippy::too_many_arguments, reason = "the state of one run, lent to each connection of it")]
    async fn stream_once(
        &self,
        decoder: &mut Decoder,
        resume: &mut Checkpoint,
        tx: &mpsc::Sender<SourceMessage>,
        cancel: &CancellationToken,
        meta_conn: &mut Option<Conn>,
        delays: &mut backon::ExponentialBackoff,
        mut provider: Option<&mut (dyn SchemaProvider + '_)>,
        started: &mut bool,
    ) -> Result<Outcome, SourceError> {
        let mut conn = match server::connect(&self.config).await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::Transient(e.to_string())),
        };
        let setup = async {
            let flavor = server::flavor(&mut conn).await?;
            // Unknown (a server without the variable): CRC32, the default since MySQL 5.6.6.
            let checksum: Option<String> =
                conn.query_first("SELECT @@GLOBAL.binlog_checksum").await.ok().flatten().or(Some("CRC32".into()));
            if self.config.heartbeat_ms > 0 {
                let ns = self.config.heartbeat_ms.saturating_mul(1_000_000);
                // Both names: MySQL 8.4 reads `source_`, older servers and MariaDB `master_`.
                conn.query_drop(format!("SET @master_heartbeat_period = {ns}, @source_heartbeat_period = {ns}"))
                    .await
                    .map_err(|e| SourceError::connection("setting the heartbeat period", e))?;
            }
            let gtid_start = matches!(resume.resume, Resume::Gtid { .. });
            if flavor == Flavor::MariaDb {
                let set_err = |e| SourceError::connection("setting MariaDB replication session variables", e);
                conn.query_drop("SET @mariadb_slave_capability = 4").await.map_err(set_err)?;
                if let Resume::Gtid { gtid_set } = &resume.resume {
                    conn.exec_drop("SET @slave_connect_state = ?", (gtid_set.text.clone(),)).await.map_err(set_err)?;
                    conn.query_drop("SET @slave_gtid_strict_mode = 0").await.map_err(set_err)?;
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
                        return Err(SourceError::precheck(PrecheckProblem::new(
                            "gtid_mode",
                            format!("{} (a GTID start position needs it)", mode.as_deref().unwrap_or("not available")),
                            "ON",
                            "set gtid_mode=ON and enforce_gtid_consistency=ON, or start from a file:pos",
                        )));
                    }
                }
            }
            Ok::<_, SourceError>((flavor, checksum.map(|c| !c.eq_ignore_ascii_case("NONE")).unwrap_or(false)))
        };
        let (flavor, checksums_on) = match setup.await {
            Ok(v) => v,
            Err(e @ SourceError::Connection { .. }) => return Ok(Outcome::Transient(e.to_string())),
            Err(e) => return Err(e),
        };
        decoder.set_mariadb(flavor == Flavor::MariaDb);
        if let (Some(p), false) = (provider.as_deref_mut(), *started) {
            let conn = match self.meta(meta_conn).await {
                Ok(c) => c,
                Err(e) => return Ok(Outcome::Transient(format!("schema history: {e}"))),
            };
            match p.start(conn, &resume.resume, flavor == Flavor::MariaDb).await {
                Ok(()) => *started = true,
                Err(e @ SourceError::Connection { .. }) => {
                    *meta_conn = None;
                    return Ok(Outcome::Transient(e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        decoder.begin_connection(checksums_on, &resume.resume);
        let request = match &resume.resume {
            Resume::Gtid { gtid_set } if flavor == Flavor::MySql => {
                // MySQL GTID start: COM_BINLOG_DUMP_GTID with the executed set; the server sends
                // every transaction not in it, from the first binlog file that has one.
                let set = gtid::MysqlGtidSet::parse(&gtid_set.text).map_err(|e| SourceError::Config(e.to_string()))?;
                BinlogStreamRequest::new(self.config.server_id).with_gtid().with_gtid_set(set.to_sids())
            }
            // MariaDB GTID start: the file name is empty and @slave_connect_state says where.
            Resume::Gtid { .. } => BinlogStreamRequest::new(self.config.server_id).with_filename(b"").with_pos(4u64),
            Resume::Position { position, .. } => BinlogStreamRequest::new(self.config.server_id)
                .with_filename(position.file.as_bytes())
                .with_pos(position.pos),
        };
        let mut stream = match conn.get_binlog_stream(request).await {
            Ok(s) => s,
            Err(e) => return self.classify(e, resume).await,
        };
        ::metrics::counter!(metrics::SOURCE_CONNECTS_TOTAL, "outcome" => "ok").increment(1);
        let mut out = Vec::with_capacity(64);
        // Binlog bytes of the events whose rows wait in `out` (see coalesce::COALESCE_BYTES).
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
                // The server accepted the dump request: its first packet is an event (the fake
                // ROTATE), not the error it sends for a purged or unknown position. Only now is
                // the source running (`/health/ready`).
                self.status.set_source(StageState::Running);
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
                let schema = match provider.as_deref_mut() {
                    Some(p) => {
                        let conn = match self.meta(meta_conn).await {
                            Ok(c) => c,
                            Err(e) => return Ok(Outcome::Transient(format!("schema of {db}.{table}: {e}"))),
                        };
                        let at = decoder.position();
                        let schema = match p.table_schema(conn, &db, &table, &at).await {
                            Ok(s) => s,
                            Err(e @ SourceError::Connection { .. }) => {
                                *meta_conn = None;
                                return Ok(Outcome::Transient(e.to_string()));
                            }
                            Err(e) => return Err(e),
                        };
                        let tme: TableMapEvent<'_> = ev.read_event().map_err(|e| SourceError::Decode {
                            position: decoder.position(),
                            message: format!("TABLE_MAP of {db}.{table}: {e}"),
                        })?;
                        p.check_table_map(&db, &table, &tme)?;
                        schema
                    }
                    None => match self.lookup_schema(meta_conn, &db, &table).await {
                        Ok(s) => s,
                        Err(e) => {
                            return Ok(Outcome::Transient(format!("reading information_schema for {db}.{table}: {e}")))
                        }
                    },
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
            // Rows of consecutive rows events travel in one message (the `coalesce` module).
            if let [SourceMessage::Events(_)] = &out[..] {
                out_bytes += ev.data().len();
            }
            if coalesce::keep_gathering(&out, out_bytes) {
                continue;
            }
            out_bytes = 0;
            for msg in out.drain(..) {
                match &msg {
                    SourceMessage::Commit(cp) => *resume = cp.clone(),
                    SourceMessage::Heartbeat { .. } => {
                        self.status.on_caught_up();
                        ::metrics::gauge!(metrics::REPLICATION_LAG_SECONDS).set(0.0);
                    }
                    SourceMessage::SchemaChange(change) => {
                        // Applied (and made durable by the provider) before the commit that
                        // follows the DDL is sent: never behind the checkpoint.
                        if let Some(p) = provider.as_deref_mut() {
                            p.schema_change(change)?;
                        }
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

    /// The metadata connection, opened when needed.
    async fn meta<'c>(&self, meta_conn: &'c mut Option<Conn>) -> Result<&'c mut Conn, mysql_async::Error> {
        if meta_conn.is_none() {
            *meta_conn = Some(Conn::new(self.config.opts()).await?);
        }
        Ok(meta_conn.as_mut().expect("set above"))
    }

    async fn lookup_schema(
        &self,
        meta_conn: &mut Option<Conn>,
        db: &str,
        table: &str,
    ) -> Result<TableSchema, mysql_async::Error> {
        let conn = self.meta(meta_conn).await?;
        match schema::load_schema(conn, db, table).await {
            Ok(s) => Ok(s),
            Err(e) => {
                *meta_conn = None;
                Err(e)
            }
        }
    }

    /// Sorts a stream error: a server refusal ([`codes::ER_MASTER_FATAL_ERROR_READING_BINLOG`])
    /// is fatal — [`SourceError::PositionPurged`] when the resume file is no longer listed —
    /// anything else is a transient connection loss.
    async fn classify(&self, e: mysql_async::Error, resume: &Checkpoint) -> Result<Outcome, SourceError> {
        match &e {
            mysql_async::Error::Server(se) if se.code == codes::ER_MASTER_FATAL_ERROR_READING_BINLOG => {
                if let Some(position) = resume.position() {
                    if let Ok(mut c) = server::connect(&self.config).await {
                        if let Ok(logs) = server::binary_logs(&mut c).await {
                            if !logs.contains(&position.file) {
                                return Err(SourceError::PositionPurged {
                                    position: position.clone(),
                                    oldest: logs.first().cloned().unwrap_or_default(),
                                });
                            }
                        }
                    }
                }
                Err(SourceError::Replication { code: se.code, message: se.message.clone() })
            }
            mysql_async::Error::Server(se) if codes::is_access_denied(se.code) => {
                Err(SourceError::Replication { code: se.code, message: se.message.clone() })
            }
            _ => Ok(Outcome::Transient(e.to_string())),
        }
    }
}

/// True for events the server wrote to the binlog (not artificial, not heartbeats), whose
/// timestamp says how far behind the reader is.
fn h_is_real(ev: &mysql_common::binlog::events::Event) -> bool {
    decode::is_server_written(ev)
}

impl ChangeSource for BinlogSource {
    async fn precheck(&self) -> Result<(), SourceError> {
        BinlogSource::precheck(self).await
    }

    async fn resolve_start(&self, start: &StartPosition) -> Result<Checkpoint, SourceError> {
        BinlogSource::resolve_start(self, start).await
    }

    async fn run(
        self,
        from: Checkpoint,
        tx: mpsc::Sender<SourceMessage>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        BinlogSource::run(self, from, tx, cancel).await
    }
}
