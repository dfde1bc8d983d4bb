//! TUPLE topics: turning a [`ChangeEvent`](crate::event::ChangeEvent) into typed TUPLE records
//! laid out as an existing Alibaba pipeline writes them, so downstream jobs need no change
//! (README.md, "The event contract" "In DataHub"). This module owns the topic schema ([`TupleSchema`], parsed from GetTopic's
//! `RecordSchema`, the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)), the layout detection ([`Layout`]),
//! the value conversions to the DataHub field types (§8) and the wire form of a TUPLE record
//! (PB `FieldData` per field, absent = NULL, §4.2; JSON `Data` array of strings / null, §3.4).
//!
//! # Layouts
//!
//! The layout is detected from the schema's leading field names (case-insensitive):
//!
//! * **DTS** (Data Transmission Service): `new_dts_sync_dts_record_id`,
//!   `new_dts_sync_dts_operation_flag`, `new_dts_sync_dts_instance_id`,
//!   `new_dts_sync_dts_db_name`, `new_dts_sync_dts_table_name`,
//!   `new_dts_sync_dts_utc_timestamp`, `new_dts_sync_dts_before_flag`,
//!   `new_dts_sync_dts_after_flag`, then the table's columns.
//! * **DataWorks** (real-time sync): `_sequence_id_`, `_operation_type_`, `_execute_time_`,
//!   `_before_image_`, `_after_image_`, then the columns.
//!
//! An INSERT (and a snapshot read) is one record with the after image (before flag `N`, after
//! flag `Y`); a DELETE one record with the before image (`Y`/`N`); an UPDATE two records, the
//! before image (`Y`/`N`) then the after image (`N`/`Y`), both with operation `U` and the same
//! record id. Operation flags: `I`, `U`, `D`.
//!
//! Metadata values:
//!
//! | field | value | types |
//! |---|---|---|
//! | record id / `_sequence_id_` | [`record_id`]: binlog file index · 10¹² + rows-event offset + row index | BIGINT, STRING (the same decimal digits) |
//! | instance id | the logical server name ([`crate::event::RowsEventInfo::name`]) | STRING |
//! | db / table name | `source.db`, `source.table` | STRING |
//! | DTS utc_timestamp | binlog event time: STRING and BIGINT in **seconds** (the binlog header's precision, as DTS writes it), TIMESTAMP in µs | STRING, BIGINT, TIMESTAMP |
//! | `_execute_time_` | binlog event time: BIGINT and STRING in **ms**, TIMESTAMP in µs | BIGINT, STRING, TIMESTAMP |
//!
//! # Columns
//!
//! The fields after the metadata are matched **by name**, case-insensitively, to the row image's
//! columns. Table columns the schema does not list are ignored (a topic may carry a subset of
//! the table). A schema field the row does not have is written as NULL when the field is
//! nullable; a NOT NULL field the row lacks (or whose value is NULL) is an error. The topic is
//! for one table: the collector must be filtered to that table, since rows of another table
//! would match by name only partially.
//!
//! Value conversions (contract [`Value`](crate::event::Value) → field type); every other pair
//! is a [`TupleError::Convert`], as is any value out of the field's range — nothing is truncated or
//! rounded:
//!
//! | field type | accepted values | text |
//! |---|---|---|
//! | BIGINT | Int, UInt, Bit ≤ i64::MAX (i64::MIN excluded, §8) | decimal |
//! | INTEGER / SMALLINT / TINYINT | Int, UInt, Bit within i32 / i16 / i8 | decimal |
//! | DOUBLE | Double; Float (its shortest f32 text, e.g. FLOAT 0.1 → `0.1`) | Rust shortest round-trip (`1.5`, `100000000000000000000`); NaN / ±inf as Java's `NaN`, `Infinity`, `-Infinity` |
//! | FLOAT | Float; Double only when exactly an f32 | as DOUBLE |
//! | BOOLEAN | Int, UInt, Bit equal to 0 or 1 (TINYINT(1), BIT(1)) | `false` / `true` |
//! | TIMESTAMP | Timestamp (µs); DateTime and Date read as **UTC** wall-clock (midnight for a date); years 0001–9999 | decimal µs since the Unix epoch |
//! | DECIMAL | Decimal (exact digits); Int, UInt, Bit | decimal text |
//! | STRING | every value, as its TUPLE text — String and Decimal as is, Date `YYYY-MM-DD`, DateTime `YYYY-MM-DD HH:MM:SS[.ffffff]`, Timestamp ISO `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC), Time `[-]HH:MM:SS[.ffffff]`, Bytes as standard base64, numbers as above, a JSON column's document text; at most 2 MB | |
//! | JSON | every value: a JSON column's document as is, numbers as JSON numbers, anything else as a JSON string of its STRING text | |
//!
//! Both layouts convert the columns alike; they differ only in the metadata fields above. The
//! texts are this module's own (`contract_text`), not the BLOB event's JSON: they stayed as they
//! were when event contract v2 ([`crate::event::CONTRACT_VERSION`]) changed the TIMESTAMP and
//! JSON texts of BLOB events, so TUPLE readers see no change. Every text is what datahub-protocol
//! §8 requires of its field type: decimal integers, `true`/`false`, µs for TIMESTAMP, plain
//! decimal for DECIMAL, shortest round-trip floats (accepted by inference, §8), valid JSON for
//! JSON.
//!
//! # Files
//!
//! | module | owns |
//! |---|---|
//! | `field_type` | [`FieldType`] (a leaf) |
//! | `schema` | [`TupleField`], [`TupleSchema`] and its parsing |
//! | `layout` | [`Layout`]: DTS / DataWorks metadata fields, detection, [`record_id`] |
//! | `encoder` | [`TupleEncoder`], [`TupleRecord`] and its wire form |
//! | `convert` | value conversions to field text ([`convert()`]), the field types' limits |
//! | `error` | [`TupleError`] |

mod convert;
mod encoder;
mod error;
mod field_type;
mod layout;
mod schema;
#[cfg(test)]
mod tests;

pub use convert::{convert, MAX_STRING_BYTES, TIMESTAMP_MAX_US, TIMESTAMP_MIN_US};
pub use encoder::{TupleEncoder, TupleRecord};
pub use error::TupleError;
pub use field_type::FieldType;
pub use layout::{record_id, Layout, DATAWORKS_FIELDS, DTS_FIELDS, RECORD_ID_FILE_FACTOR};
pub use schema::{TupleField, TupleSchema};
