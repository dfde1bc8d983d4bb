//! The consistent point without a global lock, on MariaDB: one REPEATABLE READ transaction
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT`, whose binlog position the server reports in the
//! session status variables `binlog_snapshot_file` / `binlog_snapshot_position` (MariaDB KB
//! "Enhancements for START TRANSACTION WITH CONSISTENT SNAPSHOT": the position of the binlog
//! that matches the snapshot, with no FLUSH TABLES WITH READ LOCK). The GTID state of that
//! position is `BINLOG_GTID_POS(file, pos)` (MariaDB KB "BINLOG_GTID_POS"), not
//! `@@gtid_binlog_pos`, which is the state *now* and may already be past the snapshot.
//!
//! The session is also set up so that its values are those of the binlog: `time_zone =
//! '+00:00'` (TIMESTAMP in UTC), `character_set_results = NULL` (column bytes unconverted), and a
//! long `net_write_timeout` (a consumer that applies backpressure must not make the server drop
//! the connection in the middle of a result set; MySQL manual 7.1.8, `net_write_timeout`).
//!
//! Caveat (MariaDB KB, same page): the position is consistent for the transactional engines
//! that take part in the commit-ordering protocol (InnoDB); rows of MyISAM / Aria tables are
//! read as of the moment of the read.

use mysql_async::prelude::*;

use super::error::SnapshotError;
use serde::{Deserialize, Serialize};

use crate::position::{BinlogPosition, GtidSet, Resume};

/// The binlog point a consistent snapshot corresponds to: streaming from `position` after the
/// snapshot's rows loses and repeats nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPoint {
    /// `binlog_snapshot_file` / `binlog_snapshot_position`.
    pub position: BinlogPosition,
    /// `BINLOG_GTID_POS(file, pos)`, None when the server gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_set: Option<GtidSet>,
    /// `@@server_id` of the server read.
    pub server_id: u32,
    /// When the snapshot started, ms since the epoch.
    pub ts_ms: i64,
}

impl SnapshotPoint {
    /// Where the stream resumes after the snapshot.
    pub fn resume(&self) -> Resume {
        Resume::Position { position: self.position.clone(), gtid_set: self.gtid_set.clone() }
    }
}

/// `net_write_timeout` of the snapshot session, seconds (1 day): the reader may wait for its
/// consumer with a result set open.
const NET_WRITE_TIMEOUT_S: u32 = 86_400;

/// Prepares `conn` as a snapshot session (time zone, result character set, timeouts,
/// isolation level) without starting a transaction. Used before [`begin_consistent`] and by
/// readers of single chunks outside a consistent snapshot (the watermark snapshot).
///
/// Errors: [`SnapshotError::Sql`].
pub async fn prepare_session(conn: &mut mysql_async::Conn) -> Result<(), SnapshotError> {
    conn.query_drop(format!(
        "SET SESSION time_zone = '+00:00', SESSION character_set_results = NULL, \
         SESSION net_write_timeout = {NET_WRITE_TIMEOUT_S}"
    ))
    .await?;
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await?;
    Ok(())
}

/// Starts the consistent snapshot transaction on `conn` (after [`prepare_session`]) and returns
/// the binlog point it corresponds to: `position` from `binlog_snapshot_file` /
/// `binlog_snapshot_position`, `gtid_set` from `BINLOG_GTID_POS` (None when the server gives
/// none), `server_id` = `@@server_id`, `ts_ms` = now.
///
/// Every later read on `conn` sees the data as of that point until the transaction ends.
///
/// Errors: [`SnapshotError::NoConsistentPoint`] when the server reports no snapshot position
/// (MySQL, OceanBase, binary logging off); [`SnapshotError::Sql`].
pub async fn begin_consistent(conn: &mut mysql_async::Conn) -> Result<SnapshotPoint, SnapshotError> {
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await?;
    let status: Vec<(String, String)> = conn.query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'").await?;
    let get = |name: &str| status.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let file = get("binlog_snapshot_file").filter(|f| !f.is_empty());
    let pos = get("binlog_snapshot_position").and_then(|p| p.parse::<u64>().ok());
    let (Some(file), Some(pos)) = (file, pos) else {
        let _ = conn.query_drop("ROLLBACK").await;
        return Err(SnapshotError::NoConsistentPoint);
    };
    let gtid: Option<Option<String>> =
        conn.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&file, pos)).await.ok().flatten();
    let server_id: Option<u32> = conn.query_first("SELECT @@server_id").await?;
    Ok(SnapshotPoint {
        position: BinlogPosition::new(file, pos),
        // The server's own text: it parses (a server without GTIDs gives an empty string).
        gtid_set: gtid.flatten().filter(|g| !g.trim().is_empty()).and_then(|g| g.parse().ok()),
        server_id: server_id.unwrap_or(0),
        ts_ms: crate::status::now_ms(),
    })
}
