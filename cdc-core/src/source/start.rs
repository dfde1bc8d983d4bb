//! Start-position resolution: a configured [`StartPosition`] becomes a concrete
//! [`Checkpoint`] *before* the first event is read, so that it can be stored and a crash before
//! the first acknowledgement resumes there instead of at a newer end of the binlog.

use mysql_async::prelude::*;

use super::config::SourceConfig;
use super::error::{PrecheckProblem, SourceError};
use super::server::{self, Flavor};
use crate::position::{BinlogPosition, GtidSet, StartPosition};

use crate::checkpoint::Checkpoint;

/// Turns a [`StartPosition`] into a concrete checkpoint, so it can be stored before the
/// first event is read:
/// - `Latest`: `SHOW MASTER STATUS` (MySQL 8.4: `SHOW BINARY LOG STATUS`) plus the
///   current GTID state (`@@gtid_binlog_pos` on MariaDB, `@@gtid_executed` on MySQL);
/// - `Earliest`: the first file of `SHOW BINARY LOGS`, offset 4;
/// - `At(p)`: `p`, after checking its file is still listed;
/// - `Gtid(set)`: a [`Resume::Gtid`] checkpoint; the stream then starts by GTID (MariaDB
///   `@slave_connect_state`; MySQL `COM_BINLOG_DUMP_GTID`).
///
/// Errors: [`SourceError::Connection`], [`SourceError::PositionPurged`] for `At` on a file
/// no longer listed, [`SourceError::Precheck`] when binary logging is off.
///
/// [`Resume::Gtid`]: crate::position::Resume::Gtid
pub(crate) async fn resolve_start(config: &SourceConfig, start: &StartPosition) -> Result<Checkpoint, SourceError> {
    let now = crate::status::now_ms();
    let mk = |position, gtid_set: Option<String>| -> Result<Checkpoint, SourceError> {
        let gtid_set = match gtid_set {
            Some(text) => Some(
                text.parse::<GtidSet>().map_err(|e| SourceError::Config(format!("the server's GTID state: {e}")))?,
            ),
            None => None,
        };
        Ok(Checkpoint::at(position, gtid_set, 0, now))
    };
    if let StartPosition::Gtid(set) = start {
        return Ok(Checkpoint::after_gtids(set.clone(), now));
    }
    let mut conn = server::connect(config).await?;
    let flavor = server::flavor(&mut conn).await?;
    let cp = match start {
        StartPosition::Latest => {
            let row: Option<mysql_async::Row> = match conn.query_first("SHOW MASTER STATUS").await {
                Ok(r) => r,
                Err(_) => conn
                    .query_first("SHOW BINARY LOG STATUS")
                    .await
                    .map_err(|e| SourceError::connection("SHOW BINARY LOG STATUS", e))?,
            };
            let row = row.ok_or_else(|| {
                SourceError::precheck(PrecheckProblem::new(
                    "log_bin",
                    "OFF (SHOW MASTER STATUS is empty)",
                    "ON",
                    "start the server with --log-bin",
                ))
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
            mk(BinlogPosition::new(file, pos), gtid.filter(|g| !g.trim().is_empty()))?
        }
        StartPosition::Earliest => {
            let logs = server::binary_logs(&mut conn).await?;
            let first = logs.into_iter().next().ok_or_else(|| {
                SourceError::precheck(PrecheckProblem::new(
                    "log_bin",
                    "OFF (SHOW BINARY LOGS is empty)",
                    "ON",
                    "start the server with --log-bin",
                ))
            })?;
            mk(BinlogPosition::new(first, 4), None)?
        }
        StartPosition::At(p) => {
            let logs = server::binary_logs(&mut conn).await?;
            if !logs.contains(&p.file) {
                return Err(SourceError::PositionPurged {
                    position: p.clone(),
                    oldest: logs.first().cloned().unwrap_or_default(),
                });
            }
            mk(p.clone(), None)?
        }
        StartPosition::Gtid(_) => unreachable!("handled above"),
    };
    let _ = conn.disconnect().await;
    Ok(cp)
}
