//! Queries every part of the source asks of the server: connecting, its flavour, its binlog
//! files.

use mysql_async::prelude::*;
use mysql_async::Conn;

use super::config::SourceConfig;
use super::error::SourceError;

/// Server flavour, from `VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (version string contains `MariaDB`).
    MariaDb,
    /// MySQL or a MySQL-compatible server (OceanBase binlog service).
    MySql,
}

/// A new connection with `config`'s credentials.
///
/// Errors: [`SourceError::Connection`] when the server cannot be reached or the login fails.
pub(crate) async fn connect(config: &SourceConfig) -> Result<Conn, SourceError> {
    Conn::new(config.opts()).await.map_err(|e| SourceError::connection("connecting", e))
}

/// The server's flavour (`SELECT VERSION()`).
pub(crate) async fn flavor(conn: &mut Conn) -> Result<Flavor, SourceError> {
    let v: Option<String> =
        conn.query_first("SELECT VERSION()").await.map_err(|e| SourceError::connection("SELECT VERSION()", e))?;
    Ok(if v.unwrap_or_default().contains("MariaDB") { Flavor::MariaDb } else { Flavor::MySql })
}

/// The binlog files the server has, oldest first (`SHOW BINARY LOGS`).
pub(crate) async fn binary_logs(conn: &mut Conn) -> Result<Vec<String>, SourceError> {
    let rows: Vec<mysql_async::Row> =
        conn.query("SHOW BINARY LOGS").await.map_err(|e| SourceError::connection("SHOW BINARY LOGS", e))?;
    Ok(rows.into_iter().filter_map(|r| r.get::<String, _>(0)).collect())
}
