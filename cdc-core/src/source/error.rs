//! Why the binlog source stopped or could not start: [`SourceError`], split as Materialize
//! splits its MySQL source errors into *transient* (reconnect and resume) and *definite* (stop
//! and say what to do), plus the precheck's list of [`PrecheckProblem`]s.
//!
//! Messages say what to change in terms of the server and of the library ("remove the
//! checkpoint"); the service maps them to its own settings.

use std::fmt;

use crate::position::BinlogPosition;

/// MySQL/MariaDB server error codes the source acts on (MySQL "Server Error Message
/// Reference", <https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>).
pub mod codes {
    /// `ER_MASTER_FATAL_ERROR_READING_BINLOG`: the dump request was refused (purged file,
    /// bad position, GTID gap).
    pub const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;
    /// `ER_DBACCESS_DENIED_ERROR`.
    pub const ER_DBACCESS_DENIED_ERROR: u16 = 1044;
    /// `ER_ACCESS_DENIED_ERROR`: bad user or password.
    pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;
    /// `ER_SPECIFIC_ACCESS_DENIED_ERROR`: a privilege such as REPLICATION SLAVE is missing.
    pub const ER_SPECIFIC_ACCESS_DENIED_ERROR: u16 = 1227;
    /// `ER_TABLEACCESS_DENIED_ERROR`.
    pub const ER_TABLEACCESS_DENIED_ERROR: u16 = 1142;

    /// True for the refusals that reconnecting cannot fix (credentials, privileges).
    pub fn is_access_denied(code: u16) -> bool {
        matches!(
            code,
            ER_ACCESS_DENIED_ERROR
                | ER_DBACCESS_DENIED_ERROR
                | ER_SPECIFIC_ACCESS_DENIED_ERROR
                | ER_TABLEACCESS_DENIED_ERROR
        )
    }
}

/// One reason the server cannot serve CDC, with what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecheckProblem {
    /// The server setting or privilege concerned (`binlog_format`, `REPLICATION SLAVE`, …).
    pub setting: String,
    /// What the server has (`STATEMENT`, `missing`, …).
    pub actual: String,
    /// What CDC needs (`ROW`, `granted`, …).
    pub expected: String,
    /// How to fix it, as an instruction (`set binlog_format=ROW`).
    pub fix: String,
}

impl PrecheckProblem {
    /// A problem with `setting` being `actual` instead of `expected`; `fix` says what to do.
    pub fn new(
        setting: impl Into<String>,
        actual: impl Into<String>,
        expected: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self { setting: setting.into(), actual: actual.into(), expected: expected.into(), fix: fix.into() }
    }
}

impl fmt::Display for PrecheckProblem {
    /// `binlog_format is STATEMENT — set binlog_format=ROW` (`expected` is for programs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {} — {}", self.setting, self.actual, self.fix)
    }
}

/// The problems of a failed precheck, displayed joined by `"; "`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecheckProblems(pub Vec<PrecheckProblem>);

impl fmt::Display for PrecheckProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            p.fmt(f)?;
        }
        Ok(())
    }
}

/// Why the source stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connection-level failure (refused, reset, killed dump thread, the server ended the
    /// stream): transient, retried with backoff.
    #[error("binlog connection error: {context}{}", source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Connection {
        /// What was being done (`connecting`, `reading the binlog stream`, …).
        context: String,
        /// The client library's error, when there is one.
        #[source]
        source: Option<mysql_async::Error>,
    },
    /// The server's configuration cannot support CDC: every problem found, each with its fix.
    #[error("server precheck failed: {0}")]
    Precheck(PrecheckProblems),
    /// The requested position is no longer on the server.
    #[error("binlog position {position} is no longer on the server (oldest available: {oldest}); the changes in between are lost to this collector: re-snapshot the tables, or remove the checkpoint and choose a start position the server still has")]
    PositionPurged {
        /// The position asked for.
        position: BinlogPosition,
        /// The oldest binlog file the server still has.
        oldest: String,
    },
    /// A binlog event could not be decoded.
    #[error("cannot decode binlog event at {position}: {message}")]
    Decode {
        /// Where.
        position: BinlogPosition,
        /// What.
        message: String,
    },
    /// The source configuration is invalid (e.g. a table selector that is not a valid regex).
    #[error("invalid source configuration: {0}")]
    Config(String),
    /// The initial snapshot failed for a reason reconnecting cannot fix (a table dropped while
    /// it was read, a type it cannot read, a DDL during its transaction); the cause is the
    /// snapshot reader's error.
    #[error("initial snapshot failed: {0}")]
    Snapshot(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema history cannot go on: a DDL it cannot understand, a TABLE_MAP that
    /// contradicts it, or its file cannot be written. The cause says which and what to do.
    #[error("schema history: {0}")]
    SchemaHistory(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server refused the replication request for a reason other than a purged position
    /// (error 1236 and the access-denied family, see [`codes`]); the message is the server's.
    #[error("the server refused to stream the binlog: {message} (error {code})")]
    Replication {
        /// The server's error code.
        code: u16,
        /// The server's message.
        message: String,
    },
}

impl SourceError {
    /// True when reconnecting and resuming may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Connection { .. })
    }

    /// A transient connection error while doing `context`.
    pub fn connection(context: impl Into<String>, source: mysql_async::Error) -> Self {
        SourceError::Connection { context: context.into(), source: Some(source) }
    }

    /// A transient connection loss without a client error (e.g. the server ended the stream).
    pub fn connection_lost(context: impl Into<String>) -> Self {
        SourceError::Connection { context: context.into(), source: None }
    }

    /// A precheck failure with one problem.
    pub fn precheck(problem: PrecheckProblem) -> Self {
        SourceError::Precheck(PrecheckProblems(vec![problem]))
    }
}
