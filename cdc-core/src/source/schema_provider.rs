//! The schema seam of the binlog source: where column facts come from when a TABLE_MAP needs
//! them, and who hears about DDL. Without a provider the source reads `information_schema`
//! (the table as it is *now*); a [`SchemaProvider`] such as the schema history
//! ([`crate::schema_history::HistoryProvider`]) answers with the table as it was at the event's
//! binlog position.

use std::fmt;

use futures_util::future::BoxFuture;
use mysql_async::Conn;
use mysql_common::binlog::events::TableMapEvent;

use super::error::SourceError;
use super::message::SchemaChange;
use super::table::TableSchema;
use crate::position::{BinlogPosition, Resume};

/// Column facts by binlog position, and DDL as it is read.
///
/// The source calls, in binlog order: [`Self::start`] once per run, then for every TABLE_MAP of
/// a captured table whose schema it has not cached [`Self::table_schema`] and
/// [`Self::check_table_map`], and for every DDL statement [`Self::schema_change`] *before* the
/// commit that follows it is sent (so a durable provider is never behind the checkpoint).
pub trait SchemaProvider: Send + fmt::Debug {
    /// Prepares for streaming from `from`: opens or seeds what it keeps.
    ///
    /// Errors: [`SourceError::Connection`] (transient), [`SourceError::SchemaHistory`].
    fn start<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        from: &'a Resume,
        mariadb: bool,
    ) -> BoxFuture<'a, Result<(), SourceError>>;

    /// The schema of `db`.`table` for a TABLE_MAP at `position`.
    ///
    /// Errors: [`SourceError::Connection`] (transient, when it must read the server),
    /// [`SourceError::SchemaHistory`].
    fn table_schema<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        db: &'a str,
        table: &'a str,
        position: &'a BinlogPosition,
    ) -> BoxFuture<'a, Result<TableSchema, SourceError>>;

    /// Checks the TABLE_MAP against the schema it gave for its table (column count, wire types).
    ///
    /// Errors: [`SourceError::SchemaHistory`] naming the difference and what to do.
    fn check_table_map(&self, db: &str, table: &str, tme: &TableMapEvent<'_>) -> Result<(), SourceError>;

    /// A DDL statement of a captured database was read.
    ///
    /// Errors: [`SourceError::SchemaHistory`] for a statement it cannot understand (the message
    /// names it, its position and the ways on).
    fn schema_change(&mut self, change: &SchemaChange) -> Result<(), SourceError>;
}
