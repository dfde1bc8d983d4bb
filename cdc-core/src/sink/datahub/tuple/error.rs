//! Why an event cannot become TUPLE records ([`TupleError`]).

use super::field_type::FieldType;

/// Why an event cannot become TUPLE records. Every variant is fatal: the event is wrong for
/// the topic, retrying cannot help (DataHub would answer `MalformedRecord`, §9.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TupleError {
    /// The topic schema is unusable (bad JSON, unknown type, unknown layout).
    #[error("TUPLE schema: {0}")]
    Schema(String),
    /// A column value does not fit its field.
    #[error("{db}.{table}.{column}: {problem} (TUPLE field type {field_type})")]
    Convert {
        /// Schema.
        db: String,
        /// Table.
        table: String,
        /// Column (the schema's field name).
        column: String,
        /// The field's type.
        field_type: FieldType,
        /// What is wrong, e.g. `UNSIGNED value 18446744073709551615 is out of range`.
        problem: String,
    },
    /// The metadata value cannot be written (e.g. a binlog file name without a numeric index).
    #[error("{db}.{table}: metadata field {field}: {problem}")]
    Meta {
        /// Schema.
        db: String,
        /// Table.
        table: String,
        /// Metadata field name.
        field: String,
        /// What is wrong.
        problem: String,
    },
}
