//! [`HistoryProvider`]: the schema history as the binlog source's
//! [`SchemaProvider`](crate::source::SchemaProvider).
//!
//! **Durability.** The history file is versioned by binlog position. [`HistoryProvider`]
//! appends (and syncs) a DDL's record when the source reads the DDL, before the commit that
//! follows it is sent, so the file is never behind a stored checkpoint; on start it cuts the
//! file back to the checkpoint's position ([`HistoryFile::resume`]), so it is never ahead.
//!
//! **Seed.** With no history file, the schema of every table of the captured databases is
//! captured from `information_schema` when streaming starts, as the schema at the start
//! position: exact when that position is the current end of the binlog (a new deployment, or
//! the snapshot's point when no DDL ran during the snapshot); when resuming an old checkpoint
//! without a history file the capture is of the tables as they are now (logged).
//!
//! **Tables the history must read.** After `CREATE TABLE … SELECT` (columns not in the
//! statement) or for a table it does not know, the next TABLE_MAP of that table reads the
//! server's schema then (a refresh), records it, and checks the TABLE_MAP against it.

use std::path::PathBuf;

use futures_util::future::BoxFuture;
use mysql_async::prelude::*;
use mysql_async::Conn;
use mysql_common::binlog::events::TableMapEvent;
use tracing::{info, warn};

use super::capture::capture;
use super::check::check_table_map;
use super::history::{DdlOutcome, HistoryConfig, SchemaHistory};
use super::model::TableId;
use super::store::HistoryFile;
use crate::position::{BinlogPosition, Resume};
use crate::source::{schema, SchemaChange, SchemaProvider, SourceError, TableSchema};

/// The schema history kept in a JSON-lines file (see the module docs).
#[derive(Debug)]
pub struct HistoryProvider {
    path: PathBuf,
    databases: Vec<String>,
    state: Option<(SchemaHistory, HistoryFile)>,
    skip: Vec<BinlogPosition>,
}

impl HistoryProvider {
    /// A history of the tables of `databases` (empty: every database but the system ones) kept
    /// in the file at `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>, databases: Vec<String>) -> Self {
        Self { path: path.into(), databases, state: None, skip: Vec::new() }
    }

    /// Statements to skip: the DDL QUERY events ending at these positions are not applied
    /// (logged). The operator's way on after a statement the history cannot understand stopped
    /// the collector, when it changes the columns of no table the history keeps (module docs
    /// of [`crate::schema_history`], "Ways on"); the position is the one the error names.
    pub fn skip_statements(mut self, positions: Vec<BinlogPosition>) -> Self {
        self.skip = positions;
        self
    }

    /// The history, once started.
    pub fn history(&self) -> Option<&SchemaHistory> {
        self.state.as_ref().map(|(h, _)| h)
    }
}

fn history_err(e: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::SchemaHistory(Box::new(e))
}

fn conn_err(what: &str) -> impl Fn(mysql_async::Error) -> SourceError + '_ {
    move |e| SourceError::connection(what, e)
}

impl HistoryProvider {
    async fn open(&mut self, conn: &mut Conn, from: &Resume, mariadb: bool) -> Result<(), SourceError> {
        let Some(position) = from.position() else {
            warn!("A GTID start position has no file position to version the schema history by: this run reads table schemas from information_schema (the tables as they are now).");
            return Ok(());
        };
        let lower: Option<u32> = conn
            .query_first("SELECT @@lower_case_table_names")
            .await
            .map_err(conn_err("SELECT @@lower_case_table_names"))?;
        let config = HistoryConfig {
            databases: self.databases.clone(),
            mariadb,
            lower_case_table_names: lower.unwrap_or(0) != 0,
        };
        match HistoryFile::resume(&self.path, &config, Some(position)).map_err(history_err)? {
            Some((history, file)) => {
                info!(path = %self.path.display(), at = %history.position(), tables = history.state().tables.len(), "Schema history resumed at the checkpoint.");
                self.state = Some((history, file));
            }
            None => {
                let state = capture(conn, &config).await.map_err(conn_err("capturing the schema history's seed"))?;
                let history = SchemaHistory::new(config, position.clone(), state);
                let (mut file, _) = HistoryFile::open(&self.path).map_err(history_err)?;
                file.append(&history.snapshot_record()).map_err(history_err)?;
                info!(path = %self.path.display(), at = %position, tables = history.state().tables.len(), "Schema history seeded from information_schema.");
                self.state = Some((history, file));
            }
        }
        Ok(())
    }

    async fn schema(
        &mut self,
        conn: &mut Conn,
        db: &str,
        table: &str,
        position: &BinlogPosition,
    ) -> Result<TableSchema, SourceError> {
        let Some((history, file)) = self.state.as_mut() else {
            return schema::load_schema(conn, db, table).await.map_err(conn_err("reading information_schema"));
        };
        if let Some(def) = history.table(db, table).filter(|_| !history.refresh_pending(db, table)) {
            return Ok(def.to_table_schema());
        }
        // Unknown or due for a refresh: the server's schema now, recorded at this position.
        let state = capture(conn, history.config()).await.map_err(conn_err("refreshing a table's schema"))?;
        let id = TableId::new(db, table);
        let def = state.tables.get(&id).cloned().or_else(|| {
            state
                .tables
                .iter()
                .find(|(k, _)| k.db.eq_ignore_ascii_case(db) && k.table.eq_ignore_ascii_case(table))
                .map(|(_, d)| d.clone())
        });
        warn!(table = %id, at = %position, found = def.is_some(), "Schema history: table schema read from the server (refresh).");
        let record = history.refresh(position.clone(), id, def.clone());
        file.append(&record).map_err(history_err)?;
        match def {
            Some(def) => Ok(def.to_table_schema()),
            None => schema::load_schema(conn, db, table).await.map_err(conn_err("reading information_schema")),
        }
    }
}

impl SchemaProvider for HistoryProvider {
    fn start<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        from: &'a Resume,
        mariadb: bool,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(self.open(conn, from, mariadb))
    }

    fn table_schema<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        db: &'a str,
        table: &'a str,
        position: &'a BinlogPosition,
    ) -> BoxFuture<'a, Result<TableSchema, SourceError>> {
        Box::pin(self.schema(conn, db, table, position))
    }

    fn check_table_map(&self, db: &str, table: &str, tme: &TableMapEvent<'_>) -> Result<(), SourceError> {
        let Some((history, _)) = self.state.as_ref() else { return Ok(()) };
        match history.table(db, table) {
            Some(def) => check_table_map(&TableId::new(db, table), def, tme).map_err(history_err),
            None => Ok(()),
        }
    }

    fn schema_change(&mut self, change: &SchemaChange) -> Result<(), SourceError> {
        let Some((history, file)) = self.state.as_mut() else { return Ok(()) };
        if self.skip.contains(&change.position) {
            warn!(at = %change.position, sql = %change.sql.chars().take(300).collect::<String>(), "Schema history: statement skipped as configured.");
            return Ok(());
        }
        match history.apply(&change.position, &change.db, &change.sql).map_err(history_err)? {
            DdlOutcome::Ignored(reason) => {
                tracing::debug!(%reason, at = %change.position, "DDL leaves the history unchanged.");
            }
            DdlOutcome::Changed { record, changes } | DdlOutcome::RefreshNeeded { record, changes, .. } => {
                file.append(&record).map_err(history_err)?;
                info!(at = %change.position, changes = changes.len(), "Schema history: DDL applied.");
            }
        }
        Ok(())
    }
}
