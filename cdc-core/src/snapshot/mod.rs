//! The initial snapshot: the rows that already exist in the captured tables, read as
//! [`ChangeEvent`](crate::event::ChangeEvent)s with `op: Read`, so that a topic starts with the
//! whole table and then streams. [`SnapshotThenStream`] is the [`ChangeSource`](crate::source::ChangeSource)
//! that runs it before the binlog, per [`SnapshotMode`], with its progress in the checkpoint.
//!
//! Two ways, sharing the row reading:
//!
//! - **Consistent snapshot** ([`SnapshotReader`], MariaDB and Percona Server): one connection,
//!   `START TRANSACTION WITH CONSISTENT SNAPSHOT`, and the binlog position the snapshot matches
//!   from `SHOW STATUS LIKE 'binlog_snapshot_%'` ([`begin_consistent`]) — no global lock. Every
//!   table is read in primary-key order in chunks of `chunk_rows` (keyset pagination: `WHERE
//!   (k1 > ?) OR (k1 = ? AND k2 > ?) … ORDER BY k1, k2 LIMIT n`, the comparisons made by the
//!   server under the key's collation with the key values it returned, [`KeyValue`]). Streaming
//!   then starts at the point: every row is in the topic from the snapshot or from a later
//!   change, and no change precedes the snapshot row of its key.
//! - **Watermark snapshot** ([`IncrementalSnapshot`], any server): DBLog's low/high watermark
//!   windows, a pure state machine ([`watermark`]) that [`SnapshotThenStream`] drives inside the
//!   binlog stream (`incremental.rs`: the signal table, the chunk reads, the forwarder that drops
//!   the signal rows and emits each chunk at its high watermark) on servers without a consistent
//!   point: the OceanBase binlog service (declared or detected; its positions are its own) and
//!   MySQL ([`begin_consistent`] says [`SnapshotError::NoConsistentPoint`]). MariaDB takes the
//!   consistent snapshot (one pass, no signal table, no write to the source). The progress says
//!   which ([`SnapshotMethod`]).
//!
//! Tables **without a primary key** are read whole in one statement (no order, batches of
//! `chunk_rows` rows sent as they arrive); a resume reads such a table again from its start
//! (its rows already delivered are delivered twice).
//!
//! **Values** are byte-identical to what the binlog decoder gives for the same row: the binary
//! protocol (prepared statements), the same column rules ([`TableLayout`], from
//! `information_schema`), the same conversion (`source::value::convert`); checked by the
//! differential test `tests/tests/snapshot/values.rs` over every type family. Not supported
//! (an error naming the column): MariaDB's INET4/INET6/UUID plugin types.
//!
//! **Resume** ([`SnapshotProgress`], serde, for the checkpoint): per table done / in progress
//! after key K / pending, and the point S the rows delivered so far and the changes delivered
//! so far meet at (streaming resumes there). After a restart, [`SnapshotReader::open`] starts a
//! new consistent snapshot at a later point P; before reading any row at P,
//! [`SnapshotThenStream`] delivers the binlog changes of (S, P] (every commit of it with the
//! progress and its own position as the point, so a crash in it resumes there), then reads the
//! rows after K at P, and streams from P once the snapshot is done. Per key, the topic then
//! holds its changes up to P, its row as of P, its changes after P: per-key order is kept, a
//! key changed in (S, P] is delivered twice in the same state (at-least-once, like any replay
//! from a checkpoint). Tested with a concurrent workload and SIGKILLs during the snapshot
//! (`cdc-service/tests/reliability_binary.rs`).
//!
//! **Events** ([`ReadEvents`]): the point's binlog file and position, `row` = running index in
//! the snapshot, `key_columns` = the primary key (same partition key as changes). The mark of
//! `source.snapshot` ([`SnapshotMark`]: `"true"`, `"last"` for the last row of the snapshot,
//! [`SnapshotChunk::mark`]; `"incremental"` for watermark chunks, placed at their high
//! watermark's binlog position) is computed here.

mod chunk;
mod convert;
mod error;
mod events;
mod incremental;
mod layout;
mod mode;
mod point;
mod progress;
mod query;
mod reader;
mod source;
mod tables;
pub mod watermark;

pub use chunk::{read_chunk, ChunkRows};
pub use error::SnapshotError;
pub use events::{ReadEvents, SnapshotMark};
pub use incremental::{
    parse_signal_table, parse_signal_tables, signal_table_of, DEFAULT_SIGNAL_TABLE, SIGNAL_TABLE_DDL, SNAPSHOT_SIGNAL,
};
pub use layout::TableLayout;
pub use mode::{ParseSnapshotModeError, SnapshotMode};
pub use point::{begin_consistent, prepare_session, SnapshotPoint};
pub use progress::{KeyValue, SnapshotMethod, SnapshotProgress, TableId, TableProgress, TableState};
pub use reader::{SnapshotChunk, SnapshotConfig, SnapshotReader, CHUNK_TARGET_BYTES};
pub use source::SnapshotThenStream;
pub use tables::captured_tables;
pub use watermark::{ChunkRequest, IncrementalSnapshot};
