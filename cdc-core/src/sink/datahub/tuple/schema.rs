//! The topic schema: [`TupleField`] and [`TupleSchema`], parsed from GetTopic's `RecordSchema`.

use serde::Deserialize;

use super::error::TupleError;
use super::field_type::FieldType;

/// One schema field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleField {
    /// Field name as the schema spells it.
    pub name: String,
    /// Type.
    pub field_type: FieldType,
    /// True when NULL is refused (`notnull`; default false).
    pub not_null: bool,
}

/// A TUPLE topic schema: GetTopic's `RecordSchema` (§3.2, a JSON string
/// `{"fields":[{"name","type","notnull","comment"}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleSchema {
    /// The fields, in record order.
    pub fields: Vec<TupleField>,
}

impl TupleSchema {
    /// Parses the `RecordSchema` JSON string. Errors: [`TupleError::Schema`] for bad JSON, no
    /// field, or an unknown type.
    pub fn parse(json: &str) -> Result<Self, TupleError> {
        #[derive(Deserialize)]
        struct Raw {
            fields: Vec<RawField>,
        }
        #[derive(Deserialize)]
        struct RawField {
            name: String,
            #[serde(rename = "type")]
            field_type: String,
            #[serde(default)]
            notnull: bool,
        }
        let raw: Raw =
            serde_json::from_str(json).map_err(|e| TupleError::Schema(format!("RecordSchema is not valid: {e}")))?;
        if raw.fields.is_empty() {
            return Err(TupleError::Schema("RecordSchema has no field".into()));
        }
        let fields = raw
            .fields
            .into_iter()
            .map(|f| {
                let field_type = FieldType::parse(&f.field_type).ok_or_else(|| {
                    TupleError::Schema(format!("field {} has unknown type {:?}", f.name, f.field_type))
                })?;
                Ok(TupleField { name: f.name, field_type, not_null: f.notnull })
            })
            .collect::<Result<_, TupleError>>()?;
        Ok(Self { fields })
    }
}
