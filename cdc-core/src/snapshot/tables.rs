//! Which tables a snapshot reads: the base tables of `information_schema.TABLES` that the
//! source's [`TableFilter`] captures ([`captured_tables`]).

use mysql_async::prelude::*;

use super::error::SnapshotError;
use super::progress::TableId;
use crate::source::TableFilter;

/// Schemas of the server itself, never snapshotted.
const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// The base tables (not views) that `filter` captures, ordered by schema and name.
///
/// A table of an engine that does not take part in the consistent snapshot (anything but
/// InnoDB, e.g. MyISAM, Aria, MEMORY) is listed, with a warning in the log: its rows are read as
/// of the moment of the read, not of the snapshot's point (MariaDB KB "Enhancements for START
/// TRANSACTION WITH CONSISTENT SNAPSHOT").
///
/// Errors: [`SnapshotError::Sql`].
pub async fn captured_tables(
    conn: &mut mysql_async::Conn,
    filter: &TableFilter,
) -> Result<Vec<TableId>, SnapshotError> {
    let rows: Vec<(String, String, Option<String>)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await?;
    let mut out = Vec::new();
    for (db, table, engine) in rows {
        if SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(&db)) || !filter.matches(&db, &table) {
            continue;
        }
        if !engine.as_deref().is_some_and(|e| e.eq_ignore_ascii_case("InnoDB")) {
            tracing::warn!(
                table = %format!("{db}.{table}"),
                engine = engine.as_deref().unwrap_or("?"),
                "table engine does not take part in the consistent snapshot: its rows are read as of the read, not of the snapshot point"
            );
        }
        out.push(TableId::new(db, table));
    }
    Ok(out)
}
