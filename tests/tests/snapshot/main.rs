//! Snapshot and schema-history tests: the initial snapshot through the pipeline, its values against
//! the binlog decoder's, the watermark state machine against a real binlog, and the schema history
//! replaying DDL on a live stream.
//!
//! One test binary for these modules (one link instead of one per file); each module's own
//! header says what it covers.

mod added_watermark;
mod pipeline;
mod schema_history_mariadb;
mod schema_history_stream;
mod signal;
mod values;
mod watermark;
mod watermark_oceanbase;
