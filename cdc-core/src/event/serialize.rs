//! The contract's JSON through serde: the [`Serialize`] impls of [`Value`], [`Row`],
//! [`SourceInfo`] and [`ChangeEvent`] (the reference encoding), and the entry points
//! [`ChangeEvent::to_json_bytes`] / [`ChangeEvent::write_json`] of the direct writer (`json`),
//! which is byte-identical to it.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::json;
use super::types::{fraction, ChangeEvent, Row, SourceInfo, Value, CONTRACT_VERSION};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Int(v) => s.serialize_i64(*v),
            Value::UInt(v) | Value::Bit(v) => s.serialize_u64(*v),
            Value::Float(v) if v.is_finite() => s.serialize_f32(*v),
            Value::Double(v) if v.is_finite() => s.serialize_f64(*v),
            Value::Float(_) | Value::Double(_) => s.serialize_unit(),
            Value::Decimal(v) | Value::String(v) => s.serialize_str(v),
            Value::Date(d) => s.collect_str(&d.format("%Y-%m-%d")),
            Value::DateTime { value, precision } => {
                let micros = value.and_utc().timestamp_subsec_micros();
                s.collect_str(&format_args!("{}{}", value.format("%Y-%m-%d %H:%M:%S"), fraction(micros, *precision)))
            }
            Value::Timestamp { micros, precision } => match chrono::DateTime::from_timestamp_micros(*micros) {
                Some(t) => s.collect_str(&format_args!(
                    "{}{}Z",
                    t.format("%Y-%m-%d %H:%M:%S"),
                    fraction(t.timestamp_subsec_micros(), *precision)
                )),
                None => s.serialize_unit(),
            },
            Value::Time { negative, hours, minutes, seconds, micros, precision } => s.collect_str(&format_args!(
                "{}{:02}:{:02}:{:02}{}",
                if *negative { "-" } else { "" },
                hours,
                minutes,
                seconds,
                fraction(*micros, *precision)
            )),
            Value::Bytes(b) => {
                s.collect_str(&base64::display::Base64Display::new(b, &base64::engine::general_purpose::STANDARD))
            }
            Value::Json(v) => s.collect_str(v),
        }
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (name, value) in self.columns.iter().zip(&self.values) {
            m.serialize_entry(&**name, value)?;
        }
        m.end()
    }
}

impl Serialize for SourceInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("source", 12)?;
        st.serialize_field("connector", "mysql")?;
        st.serialize_field("contract", &CONTRACT_VERSION)?;
        st.serialize_field("name", &*self.name)?;
        st.serialize_field("server_id", &self.server_id)?;
        st.serialize_field("db", &*self.db)?;
        st.serialize_field("table", &*self.table)?;
        st.serialize_field("file", &*self.file)?;
        st.serialize_field("pos", &self.pos)?;
        st.serialize_field("row", &self.row)?;
        st.serialize_field("gtid", &self.gtid.as_deref())?;
        st.serialize_field("ts_ms", &self.ts_ms)?;
        st.serialize_field("snapshot", self.origin.snapshot_text())?;
        st.end()
    }
}

impl Serialize for ChangeEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ChangeEvent", 6)?;
        st.serialize_field("before", &self.before)?;
        st.serialize_field("after", &self.after)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("op", &self.op)?;
        st.serialize_field("ts_ms", &self.ts_ms)?;
        st.serialize_field("transaction", &self.transaction)?;
        st.end()
    }
}

impl ChangeEvent {
    /// The event as contract JSON bytes (UTF-8), as written into a DataHub BLOB record.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Appends the contract JSON of this event to `out`.
    ///
    /// Byte-identical to serializing the event with serde_json (the [`Serialize`] impls above,
    /// checked by `write_json_matches_serde`), but written directly: numbers and string escapes
    /// through serde_json's own `CompactFormatter`, dates and times as digits (no strftime), no
    /// intermediate `String`s.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        json::write_event(self, out);
    }
}
