//! The change-event contract, version 2 ([`CONTRACT_VERSION`]): one row change = one
//! [`ChangeEvent`], serialized as the Debezium-style JSON envelope described in the project
//! README ("The event contract"), with the contract version in `source.contract`.
//!
//! This module owns the typed shape of an event and its JSON encoding; it knows nothing about
//! binlogs or DataHub. Values are kept typed ([`Value`]) until they are serialized, so a consumer
//! of the library can build its own encoding without re-parsing text.
//!
//! # Versions
//!
//! The value texts are chosen so that Flink's `debezium-json` format reads every column into its
//! natural Flink type with its default options (`debezium-json.timestamp-format.standard` =
//! `SQL`): Flink parses `TIMESTAMP(p)` with `yyyy-MM-dd HH:mm:ss[.f]` and `TIMESTAMP_LTZ(p)` with
//! the same pattern followed by a literal `Z` (`SQL_TIMESTAMP_FORMAT` /
//! `SQL_TIMESTAMP_WITH_LOCAL_TIMEZONE_FORMAT` in
//! <https://github.com/apache/flink/blob/master/flink-formats/flink-format-common/src/main/java/org/apache/flink/formats/common/TimeFormats.java>),
//! `TIME` with `HH:mm:ss[.f]`, `DATE` with ISO `yyyy-MM-dd`, `BYTES` from base64 and `DECIMAL`
//! from a string or a number (`JsonToRowDataConverters` in `flink-formats/flink-json`; the
//! format's options: <https://nightlies.apache.org/flink/flink-docs-stable/docs/connectors/table/formats/debezium/>).
//! Checked with a real Flink (PyFlink 2.3.0) by `tests/tests/e2e/flink_debezium.rs`.
//!
//! * **2** (this one): TIMESTAMP is `"YYYY-MM-DD HH:MM:SS[.ffffff]Z"` (v1: `…THH:MM:SS…Z`, which
//!   Flink's `SQL` standard rejects while its `ISO-8601` standard rejects the DATETIME text, so
//!   no option set read both); a JSON column is a string holding the document's JSON text (v1:
//!   the value itself, which Flink reads into `STRING` only for objects and arrays: a string
//!   document lost its quotes and a `null` document became SQL NULL), as Debezium encodes JSON
//!   (`io.debezium.data.Json`); `source.contract` names the version.
//! * **1**: the first release; no `source.contract`.
//!
//! The partition key ([`ChangeEvent::partition_key`]) is not part of the JSON and keeps its v1
//! text, so an upgrade does not move a key to another shard.
//!
//! | module | owns |
//! |---|---|
//! | `types` | the event's types and their methods, [`CONTRACT_VERSION`] |
//! | `serialize` | the serde `Serialize` impls (the reference JSON), `to_json_bytes`/`write_json` |
//! | `json` | the direct JSON writer behind [`ChangeEvent::write_json`] |

mod json;
mod serialize;
#[cfg(test)]
mod tests;
mod types;

/// The inline-or-heap string of [`Value::String`] and [`Value::Decimal`] (crate `compact_str`),
/// re-exported so users can build values without naming the crate.
pub use compact_str::CompactString;
pub use types::{ChangeEvent, Op, Origin, Row, RowsEventInfo, SourceInfo, TransactionInfo, Value, CONTRACT_VERSION};
