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
//! Files, one job each, top to bottom along the data path:
//!
//! | file | job |
//! |---|---|
//! | `change_source` | the [`ChangeSource`] seam the pipeline runs |
//! | `message` | [`SourceMessage`]: events, commits, schema changes, heartbeats |
//! | `config`, `error` | [`SourceConfig`]; [`SourceError`] (transient vs definite), [`PrecheckProblem`] |
//! | `server`, `precheck`, `start` | server queries, the CDC precheck, start-position resolution |
//! | `oceanbase_values` | the columns the OceanBase binlog service's value faults can corrupt (warnings) |
//! | `stream` | [`BinlogSource`]: the replication connection, reconnects |
//! | `coalesce` | the rule that gathers rows of consecutive rows events into one message |
//! | [`decode`] | the event state machine (TABLE_MAP + ROWS → change events) |
//! | `column`, `table`, `value` | column facts and reading rules (a leaf); TABLE_MAP → plans; bytes → typed values |
//! | [`filter`], [`schema`], [`gtid`] | table selection; `information_schema` facts; GTID sets |
//! | `schema_provider` | [`SchemaProvider`]: column facts by binlog position (the schema history) |
//! | [`file`](mod@file) | offline decoding of binlog files |
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
//! as a warning), since the binlog does not say which tables are transactional. Without a
//! [`SchemaProvider`], the facts a TABLE_MAP lacks (names, binary-ness, labels, key — always
//! without FULL row metadata) are read from `information_schema` and are those of the table
//! now (see [`schema`]); with the schema history as provider they are the table's at the
//! event's position.

mod change_source;
mod coalesce;
pub(crate) mod column;
mod config;
pub mod decode;
mod error;
pub mod file;
pub mod filter;
pub mod gtid;
mod message;
mod oceanbase_values;
mod precheck;
pub mod schema;
mod schema_provider;
mod server;
mod start;
mod stream;
pub(crate) mod table;
pub(crate) mod value;

pub use change_source::ChangeSource;
pub(crate) use coalesce::split_events;
pub use config::{SharedSchemaProvider, SourceConfig};
pub use decode::Decoder;
pub use error::{codes, PrecheckProblem, PrecheckProblems, SourceError};
pub use filter::TableFilter;
pub(crate) use message::send_or_cancel;
pub use message::{SchemaChange, SourceMessage};
pub use schema_provider::SchemaProvider;
pub(crate) use server::is_oceanbase;
pub use server::{Flavor, ServerKind};
pub use stream::BinlogSource;
pub use table::{SchemaColumn, TableSchema};
