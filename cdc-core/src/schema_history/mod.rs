//! Schema history: the schema every table of the captured databases had at each binlog
//! position, so rows are decoded with the columns their table had when they were written, not
//! with `information_schema`'s current ones. Without `binlog_row_metadata=FULL` (MariaDB's and
//! MySQL's default MINIMAL, and always on the OceanBase binlog service, whose TABLE_MAP carries
//! no optional metadata) this is the only exact source of column names, ENUM labels,
//! signedness and primary keys for a backlog.
//!
//! The design follows Debezium's (a history seeded from a schema capture, changed by every
//! DDL QUERY event in binlog order, stored with positions and replayed up to the resume
//! offset: <https://debezium.io/documentation/reference/stable/connectors/mysql.html#mysql-schema-history-topic>)
//! and canal's TableMetaTSDB (snapshots plus DDL records, rolled back to a position).
//!
//! | job | module |
//! |---|---|
//! | per-table column model, conversion to the decoder's [`crate::source::TableSchema`] | [`model`] |
//! | seed: capture every table of the captured databases from `information_schema` | [`capture`] |
//! | DDL classification (tolerant frame + `sqlparser` for column definitions) | [`ddl`] |
//! | the history: apply a DDL at a position → changes, ignorable, refresh needed, or an error | [`history`] |
//! | durable JSON-lines store, cut back to the checkpoint on resume | [`store`] |
//! | TABLE_MAP vs history check (column count, wire types, lengths) | [`check`] |
//! | the binlog source's [`SchemaProvider`](crate::source::SchemaProvider): seed, resume, apply, refresh | `provider` |
//!
//! # Ways on when a DDL cannot be understood
//!
//! [`HistoryError`] stops the collector with the statement and its position. Two ways on, both
//! deliberate operator choices (skipping silently can mis-decode: Debezium's
//! `skip.unparseable.ddl` "can lead to data loss or mangling"):
//!
//! 1. **Skip it**, when the statement does not change the columns of any table the history
//!    keeps (the operator reads it and decides): [`HistoryProvider::skip_statements`] with the
//!    position the error names (`CDC_SCHEMA_HISTORY_SKIP` in `cdc-collector`).
//! 2. **Refresh** the tables it touches from the server ([`capture`], then
//!    [`SchemaHistory::refresh`]) at a safe point: a position after the DDL where no later DDL
//!    on those tables has executed yet (for instance with the writers paused). The next
//!    TABLE_MAP of each table is then checked against the refreshed schema ([`check`]).
//!
//! # Limits
//!
//! - Versioned comments (`/*!50700 … */`) are taken as executed (the server wrote them).
//! - `utf8` is read as `utf8mb3` (MariaDB `old_mode=UTF8_IS_UTF8MB3`, the default).
//! - Binlog positions are ordered by file index then offset ([`history::compare_positions`]);
//!   the OceanBase binlog service's 16-bit file index wrap is not handled.
//! - MariaDB system versioning (hidden `row_start`/`row_end` columns) is refused as unsupported.

pub mod capture;
pub mod check;
pub(crate) mod column;
pub mod ddl;
pub mod history;
pub(crate) mod lexer;
pub mod model;
mod provider;
pub mod store;

pub use check::{check_columns, check_table_map, TableMapMismatch};
pub use ddl::UnsupportedDdl;
pub use history::{
    DdlOutcome, HistoryConfig, HistoryError, HistoryRecord, RecordKind, SchemaChange, SchemaHistory, SchemaState,
};
pub use model::{ColumnDef, TableDef, TableId};
pub use provider::HistoryProvider;
pub use store::{HistoryFile, StoreError};

#[cfg(test)]
mod tests;
