//! The encoder: [`TupleEncoder`] turns a [`ChangeEvent`] into [`TupleRecord`]s (metadata
//! fields, then the columns matched by name) and their wire form.

use std::collections::BTreeMap;

use prost::Message as _;

use super::super::config::WriteProtocol;
use super::super::record::EncodedRecord;
use super::super::{pb, routing};
use super::convert::convert;
use super::error::TupleError;
use super::field_type::FieldType;
use super::layout::{record_id, Layout};
use super::schema::{TupleField, TupleSchema};
use crate::event::{ChangeEvent, Op, Row};

/// One TUPLE record: a value per schema field (`None` = NULL) and the attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleRecord {
    /// Text of each field, in schema order (§8 text forms).
    pub values: Vec<Option<String>>,
    /// Attributes `op`, `db`, `table` (as for BLOB records).
    pub attributes: BTreeMap<String, String>,
}

impl TupleRecord {
    /// The wire form for `protocol` (as an encoded record of the producer carries it): PB `RecordEntry` bytes with
    /// one `FieldData` per field (NULL = no `value`), or the JSON members
    /// `"Data":[…],"Attributes":{…}`.
    pub fn wire(&self, protocol: WriteProtocol) -> Vec<u8> {
        match protocol {
            WriteProtocol::PbByShard => pb::RecordEntry {
                attributes: (!self.attributes.is_empty()).then(|| pb::RecordAttributes {
                    attributes: self
                        .attributes
                        .iter()
                        .map(|(k, v)| pb::StringPair { key: k.clone(), value: v.clone() })
                        .collect(),
                }),
                data: pb::RecordData {
                    data: self
                        .values
                        .iter()
                        .map(|v| pb::FieldData { value: v.as_ref().map(|s| s.as_bytes().to_vec()) })
                        .collect(),
                },
                ..Default::default()
            }
            .encode_to_vec(),
            WriteProtocol::JsonPutRecords => {
                let mut out = Vec::with_capacity(64 + self.payload_bytes());
                out.extend_from_slice(b"\"Data\":");
                serde_json::to_writer(&mut out, &self.values).expect("strings serialize");
                out.extend_from_slice(b",\"Attributes\":");
                serde_json::to_writer(&mut out, &self.attributes).expect("string map serializes");
                out
            }
        }
    }

    /// Bytes of the values' text (NULLs count 0).
    pub fn payload_bytes(&self) -> usize {
        self.values.iter().map(|v| v.as_ref().map_or(0, String::len)).sum()
    }
}

/// Encodes change events for one TUPLE topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleEncoder {
    schema: TupleSchema,
    layout: Layout,
}

impl TupleEncoder {
    /// An encoder for `schema`, whose layout is detected ([`Layout::detect`]).
    pub fn new(schema: TupleSchema) -> Result<Self, TupleError> {
        let layout = Layout::detect(&schema)?;
        Ok(Self { schema, layout })
    }

    /// An encoder for `schema` written in `layout`: for DTS and DataWorks the schema must be in
    /// that layout ([`Layout::detect`]); for [`Layout::Plain`] every field is a column and the
    /// schema must not be in another known layout (that would write metadata as columns).
    ///
    /// Errors: [`TupleError::Schema`] naming the layout found and the one asked for.
    pub fn with_layout(schema: TupleSchema, layout: Layout) -> Result<Self, TupleError> {
        match (Layout::detect(&schema), layout) {
            (Ok(found), want) if found == want => Ok(Self { schema, layout }),
            (Ok(found), want) => Err(TupleError::Schema(format!("the topic is in the {found} layout, not {want}"))),
            (Err(_), Layout::Plain) => Ok(Self { schema, layout }),
            (Err(e), _) => Err(e),
        }
    }

    /// An encoder for GetTopic's `RecordSchema` JSON string.
    pub fn from_record_schema(json: &str) -> Result<Self, TupleError> {
        Self::new(TupleSchema::parse(json)?)
    }

    /// The schema.
    pub fn schema(&self) -> &TupleSchema {
        &self.schema
    }

    /// The detected layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The records of `event`, in the order they must be written: one for an insert, read or
    /// delete, two (before image, then after image) for an update. Errors: the first
    /// [`TupleError`] (value out of range or of the wrong kind, NULL in a NOT NULL field, bad
    /// record id).
    pub fn records(&self, event: &ChangeEvent) -> Result<Vec<TupleRecord>, TupleError> {
        let mut attributes = BTreeMap::new();
        attributes.insert("db".to_owned(), event.source.db.to_string());
        attributes.insert("op".to_owned(), event.op.code().to_owned());
        attributes.insert("table".to_owned(), event.source.table.to_string());
        let images: Vec<(&Row, bool)> = match event.op {
            Op::Create | Op::Read => event.after.iter().map(|r| (r, false)).collect(),
            Op::Delete => event.before.iter().map(|r| (r, true)).collect(),
            Op::Update => {
                event.before.iter().map(|r| (r, true)).chain(event.after.iter().map(|r| (r, false))).collect()
            }
        };
        if images.is_empty() {
            return Err(self.meta_error(event, "row image", "the event has no row image for its operation"));
        }
        images
            .into_iter()
            .map(|(row, is_before)| {
                let mut values = self.meta_values(event, is_before)?;
                values.reserve(self.schema.fields.len() - values.len());
                for f in &self.schema.fields[self.layout.meta_fields()..] {
                    values.push(column_value(event, row, f)?);
                }
                Ok(TupleRecord { values, attributes: attributes.clone() })
            })
            .collect()
    }

    /// [`Self::records`] encoded for `protocol`, each with the event's batch `index` and routing
    /// hash; the last record of the event counts the event as delivered
    /// ([`EncodedRecord::events`] = 1, the first of an update's two 0).
    pub(crate) fn encode_event(
        &self,
        index: usize,
        event: &ChangeEvent,
        protocol: WriteProtocol,
    ) -> Result<Vec<EncodedRecord>, TupleError> {
        let records = self.records(event)?;
        let hash = routing::hash_key(&event.partition_key());
        let last = records.len() - 1;
        Ok(records
            .iter()
            .enumerate()
            .map(|(i, r)| EncodedRecord {
                index,
                hash,
                payload_bytes: r.payload_bytes(),
                wire: r.wire(protocol),
                events: usize::from(i == last),
            })
            .collect())
    }

    fn meta_error(&self, event: &ChangeEvent, field: &str, problem: impl Into<String>) -> TupleError {
        TupleError::Meta {
            db: event.source.db.to_string(),
            table: event.source.table.to_string(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    fn meta_values(&self, event: &ChangeEvent, is_before: bool) -> Result<Vec<Option<String>>, TupleError> {
        let f = &self.schema.fields;
        let id = record_id(&event.source.file, event.source.pos, event.source.row)
            .map_err(|p| self.meta_error(event, &f[0].name, p))?;
        let op = match event.op {
            Op::Create | Op::Read => "I",
            Op::Update => "U",
            Op::Delete => "D",
        };
        let (before, after) = if is_before { ("Y", "N") } else { ("N", "Y") };
        let ts_ms = event.source.ts_ms;
        let time_text = |field: &TupleField, string_unit_ms: bool| -> String {
            match field.field_type {
                FieldType::Timestamp => ts_ms.saturating_mul(1000).to_string(),
                _ if string_unit_ms => ts_ms.to_string(),
                _ => ts_ms.div_euclid(1000).to_string(),
            }
        };
        Ok(match self.layout {
            Layout::Dts => vec![
                Some(id.to_string()),
                Some(op.to_owned()),
                Some(event.source.name.to_string()),
                Some(event.source.db.to_string()),
                Some(event.source.table.to_string()),
                Some(time_text(&f[5], false)),
                Some(before.to_owned()),
                Some(after.to_owned()),
            ],
            Layout::DataWorks => vec![
                Some(id.to_string()),
                Some(op.to_owned()),
                Some(time_text(&f[2], true)),
                Some(before.to_owned()),
                Some(after.to_owned()),
            ],
            Layout::Plain => Vec::new(),
        })
    }
}

/// The value of schema field `f` for `row`: the column of the same name (case-insensitive),
/// converted; NULL when the row has no such column and the field is nullable.
fn column_value(event: &ChangeEvent, row: &Row, f: &TupleField) -> Result<Option<String>, TupleError> {
    let err = |problem: String| TupleError::Convert {
        db: event.source.db.to_string(),
        table: event.source.table.to_string(),
        column: f.name.clone(),
        field_type: f.field_type,
        problem,
    };
    let value = row
        .columns
        .iter()
        .position(|c| **c == *f.name)
        .or_else(|| row.columns.iter().position(|c| c.eq_ignore_ascii_case(&f.name)))
        .and_then(|i| row.values.get(i));
    let Some(value) = value else {
        return if f.not_null {
            Err(err("the row has no such column and the field is NOT NULL".into()))
        } else {
            Ok(None)
        };
    };
    match convert(value, f.field_type).map_err(err)? {
        None if f.not_null => Err(err("NULL value for a NOT NULL field".into())),
        v => Ok(v),
    }
}
