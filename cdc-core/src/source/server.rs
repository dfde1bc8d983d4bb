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

/// The kind of server behind a connection, from `VERSION()`: what a configuration may declare
/// and `server_kind` detects. `Auto` declares nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerKind {
    /// Detect from the server (the default).
    #[default]
    Auto,
    /// MariaDB (`VERSION()` contains `MariaDB`).
    MariaDb,
    /// MySQL (anything else that is not OceanBase).
    MySql,
    /// The OceanBase binlog service behind ODP (`VERSION()` contains `OceanBase`, e.g.
    /// `5.7.25-OceanBase_CE-v4.2.1.2`).
    OceanBase,
}

impl ServerKind {
    /// The kind a `VERSION()` text names (never `Auto`).
    pub fn of_version(version: &str) -> ServerKind {
        let v = version.to_ascii_lowercase();
        if v.contains("oceanbase") {
            ServerKind::OceanBase
        } else if v.contains("mariadb") {
            ServerKind::MariaDb
        } else {
            ServerKind::MySql
        }
    }

    /// The replication dialect: MariaDB's, or MySQL's (also the OceanBase binlog service's).
    pub fn flavor(self) -> Flavor {
        if self == ServerKind::MariaDb {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }

    /// The configuration text (`auto`, `mariadb`, `mysql`, `oceanbase`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Auto => "auto",
            ServerKind::MariaDb => "mariadb",
            ServerKind::MySql => "mysql",
            ServerKind::OceanBase => "oceanbase",
        }
    }
}

/// The server's kind (`SELECT VERSION()`).
pub(crate) async fn server_kind(conn: &mut Conn) -> Result<ServerKind, SourceError> {
    let v: Option<String> =
        conn.query_first("SELECT VERSION()").await.map_err(|e| SourceError::connection("SELECT VERSION()", e))?;
    Ok(ServerKind::of_version(&v.unwrap_or_default()))
}

/// True when `cfg` declares, or the server's `VERSION()` names, the OceanBase binlog service
/// (whose positions have no consistent snapshot point).
///
/// Errors: [`SourceError::Connection`].
pub(crate) async fn is_oceanbase(cfg: &SourceConfig, conn: &mut Conn) -> Result<bool, SourceError> {
    if cfg.server_kind == ServerKind::OceanBase {
        return Ok(true);
    }
    Ok(server_kind(conn).await? == ServerKind::OceanBase)
}

/// A new connection with `config`'s credentials.
///
/// Errors: [`SourceError::Connection`] when the server cannot be reached or the login fails.
pub(crate) async fn connect(config: &SourceConfig) -> Result<Conn, SourceError> {
    Conn::new(config.opts()).await.map_err(|e| SourceError::connection("connecting", e))
}

/// The server's flavour (`SELECT VERSION()`, through [`server_kind`]).
pub(crate) async fn flavor(conn: &mut Conn) -> Result<Flavor, SourceError> {
    Ok(server_kind(conn).await?.flavor())
}

/// The binlog files the server has, oldest first (`SHOW BINARY LOGS`).
pub(crate) async fn binary_logs(conn: &mut Conn) -> Result<Vec<String>, SourceError> {
    let rows: Vec<mysql_async::Row> =
        conn.query("SHOW BINARY LOGS").await.map_err(|e| SourceError::connection("SHOW BINARY LOGS", e))?;
    Ok(rows.into_iter().filter_map(|r| r.get::<String, _>(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_version_text() {
        assert_eq!(ServerKind::of_version("10.11.19-MariaDB-0+deb12u1"), ServerKind::MariaDb);
        assert_eq!(ServerKind::of_version("5.7.25-OceanBase_CE-v4.2.1.2"), ServerKind::OceanBase);
        assert_eq!(ServerKind::of_version("8.0.36"), ServerKind::MySql);
    }
}
