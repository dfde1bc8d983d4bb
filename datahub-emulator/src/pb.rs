//! The proto2 messages of the DataHub protobuf protocol (datahub-protocol §4.2, package
//! `datahub`), written by hand with prost derives, and the `DHUB` frame around them (§4.1):
//! `"DHUB"`, big-endian CRC-32C of the payload, big-endian payload length, payload.

#![allow(missing_docs)]

use crate::error::ApiError;

/// `StringPair{1: key, 2: value}`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringPair {
    #[prost(string, required, tag = "1")]
    pub(crate) key: String,
    #[prost(string, required, tag = "2")]
    pub(crate) value: String,
}

/// `FieldData{1: value bytes optional}`: absent = NULL, present and empty = "".
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FieldData {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub(crate) value: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RecordAttributes {
    #[prost(message, repeated, tag = "1")]
    pub(crate) attributes: Vec<StringPair>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RecordData {
    #[prost(message, repeated, tag = "1")]
    pub(crate) data: Vec<FieldData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RecordEntry {
    #[prost(string, optional, tag = "1")]
    pub(crate) shard_id: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub(crate) hash_key: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub(crate) partition_key: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub(crate) cursor: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub(crate) next_cursor: Option<String>,
    #[prost(int64, optional, tag = "6")]
    pub(crate) sequence: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    pub(crate) system_time: Option<i64>,
    #[prost(message, optional, tag = "8")]
    pub(crate) attributes: Option<RecordAttributes>,
    #[prost(message, required, tag = "9")]
    pub(crate) data: RecordData,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PutRecordsRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) records: Vec<RecordEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FailedRecord {
    #[prost(int32, required, tag = "1")]
    pub(crate) index: i32,
    #[prost(string, optional, tag = "2")]
    pub(crate) error_code: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub(crate) error_message: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PutRecordsResponse {
    #[prost(int32, optional, tag = "1")]
    pub(crate) failed_count: Option<i32>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) failed_records: Vec<FailedRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GetRecordsRequest {
    #[prost(string, required, tag = "1")]
    pub(crate) cursor: String,
    #[prost(int32, optional, tag = "2", default = "1")]
    pub(crate) limit: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GetRecordsResponse {
    #[prost(string, required, tag = "1")]
    pub(crate) next_cursor: String,
    #[prost(int32, required, tag = "2")]
    pub(crate) record_count: i32,
    #[prost(int64, optional, tag = "3")]
    pub(crate) start_sequence: Option<i64>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) records: Vec<RecordEntry>,
    #[prost(int64, optional, tag = "5", default = "-1")]
    pub(crate) latest_sequence: Option<i64>,
    #[prost(int64, optional, tag = "6", default = "-1")]
    pub(crate) latest_time: Option<i64>,
}

/// Frame magic.
pub(crate) const MAGIC: &[u8; 4] = b"DHUB";

/// Wraps an encoded message in a DHUB frame with the correct CRC-32C.
pub(crate) fn frame(msg: &impl prost::Message) -> Vec<u8> {
    let payload = msg.encode_to_vec();
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Checks a request frame (magic, length, CRC unless 0) and returns its payload.
/// Errors: `InvalidParameter` for a bad frame, a CRC mismatch or a length mismatch.
pub(crate) fn unframe(body: &[u8]) -> Result<&[u8], ApiError> {
    if body.len() < 12 || &body[..4] != MAGIC {
        return Err(ApiError::invalid("Protobuf body is not a DHUB frame"));
    }
    let crc = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
    let len = u32::from_be_bytes([body[8], body[9], body[10], body[11]]) as usize;
    let payload = &body[12..];
    if payload.len() != len {
        return Err(ApiError::invalid(format!(
            "DHUB frame length {len} does not match payload of {} bytes",
            payload.len()
        )));
    }
    if crc != 0 && crc != crc32c::crc32c(payload) {
        return Err(ApiError::invalid("DHUB frame CRC-32C mismatch"));
    }
    Ok(payload)
}

/// Decodes a framed message. Errors: `InvalidParameter` for a bad frame or undecodable payload.
pub(crate) fn decode<M: prost::Message + Default>(body: &[u8]) -> Result<M, ApiError> {
    let payload = unframe(body)?;
    M::decode(payload).map_err(|e| ApiError::invalid(format!("Invalid protobuf message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_put_response_matches_go_sdk_bytes() {
        // datahub-protocol §3.4: 44485542 6c75b46a 00000002 0800
        let f = frame(&PutRecordsResponse { failed_count: Some(0), failed_records: vec![] });
        assert_eq!(f, [0x44, 0x48, 0x55, 0x42, 0x6c, 0x75, 0xb4, 0x6a, 0, 0, 0, 2, 0x08, 0x00]);
        assert!(unframe(&f).is_ok());
        let mut zero = f.clone();
        zero[4..8].copy_from_slice(&[0, 0, 0, 0]);
        assert!(unframe(&zero).is_ok(), "CRC 0 is accepted (Java)");
        let mut bad = f;
        bad[4] ^= 1;
        assert!(unframe(&bad).is_err());
    }

    #[test]
    fn null_and_empty_field_data_differ() {
        use prost::Message;
        assert_eq!(FieldData { value: None }.encode_to_vec(), Vec::<u8>::new());
        assert_eq!(FieldData { value: Some(vec![]) }.encode_to_vec(), vec![0x0a, 0x00]);
    }
}
