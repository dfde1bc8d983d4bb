//! The protobuf side of the protocol: the DHUB frame (`"DHUB"`, big-endian CRC-32C of the
//! payload, big-endian payload length, payload) and the `proto2` messages a producer needs,
//! written by hand with `prost` derive (no protoc). Source: the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)
//! (messages identical in the Python, Go and Java SDK trees).

/// The 4 magic bytes opening every frame.
pub const FRAME_MAGIC: &[u8; 4] = b"DHUB";

/// Bytes before the payload: magic, CRC, length.
pub const FRAME_HEADER_LEN: usize = 12;

/// `StringPair` (1: key, 2: value).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringPair {
    /// Key.
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, required, tag = "2")]
    pub value: String,
}

/// `FieldData` (1: value bytes, optional: absent = NULL).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldData {
    /// The value; None is SQL NULL.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub value: Option<Vec<u8>>,
}

/// `RecordAttributes` (1: repeated StringPair).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordAttributes {
    /// The attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<StringPair>,
}

/// `RecordData` (1: repeated FieldData). BLOB records carry one FieldData with the bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordData {
    /// The fields.
    #[prost(message, repeated, tag = "1")]
    pub data: Vec<FieldData>,
}

/// `RecordEntry` (§4.2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordEntry {
    /// 1: shard id (absent for PutRecordsByShard).
    #[prost(string, optional, tag = "1")]
    pub shard_id: Option<String>,
    /// 2: hash key.
    #[prost(string, optional, tag = "2")]
    pub hash_key: Option<String>,
    /// 3: partition key.
    #[prost(string, optional, tag = "3")]
    pub partition_key: Option<String>,
    /// 4: cursor (reads).
    #[prost(string, optional, tag = "4")]
    pub cursor: Option<String>,
    /// 5: next cursor (reads).
    #[prost(string, optional, tag = "5")]
    pub next_cursor: Option<String>,
    /// 6: sequence (reads).
    #[prost(int64, optional, tag = "6")]
    pub sequence: Option<i64>,
    /// 7: system time, ms (reads).
    #[prost(int64, optional, tag = "7")]
    pub system_time: Option<i64>,
    /// 8: attributes.
    #[prost(message, optional, tag = "8")]
    pub attributes: Option<RecordAttributes>,
    /// 9: data (required).
    #[prost(message, required, tag = "9")]
    pub data: RecordData,
}

/// `PutRecordsRequest` (1: repeated RecordEntry).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRecordsRequest {
    /// The records.
    #[prost(message, repeated, tag = "1")]
    pub records: Vec<RecordEntry>,
}

/// `FailedRecord` (1: index, 2: error_code, 3: error_message).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FailedRecord {
    /// Index in the request.
    #[prost(int32, required, tag = "1")]
    pub index: i32,
    /// ErrorCode.
    #[prost(string, optional, tag = "2")]
    pub error_code: Option<String>,
    /// ErrorMessage.
    #[prost(string, optional, tag = "3")]
    pub error_message: Option<String>,
}

/// `PutRecordsResponse` (1: failed_count, 2: repeated FailedRecord).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRecordsResponse {
    /// Number of failed records.
    #[prost(int32, optional, tag = "1")]
    pub failed_count: Option<i32>,
    /// The failures.
    #[prost(message, repeated, tag = "2")]
    pub failed_records: Vec<FailedRecord>,
}

/// Wraps `payload` in a DHUB frame with its big-endian CRC-32C and length.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(FRAME_MAGIC);
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of a DHUB frame. Errors when the magic, the length or a non-zero CRC is wrong
/// (a CRC of 0 means "not computed", as Java writes by default).
pub fn unframe(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < FRAME_HEADER_LEN || &body[..4] != FRAME_MAGIC {
        return Err("not a DHUB frame".into());
    }
    let crc = u32::from_be_bytes(body[4..8].try_into().expect("4 bytes"));
    let len = u32::from_be_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    let payload = &body[FRAME_HEADER_LEN..];
    if payload.len() != len {
        return Err(format!("DHUB frame says {len} payload bytes, body has {}", payload.len()));
    }
    let actual = crc32c::crc32c(payload);
    if crc != 0 && crc != actual {
        return Err(format!("DHUB frame CRC-32C {crc:08x} != computed {actual:08x}"));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn empty_success_response_matches_the_go_sdk_bytes() {
        // datahub-protocol §3.4: `44485542 6c75b46a 00000002 0800` is failed_count = 0.
        let payload = PutRecordsResponse { failed_count: Some(0), failed_records: vec![] }.encode_to_vec();
        assert_eq!(payload, [0x08, 0x00]);
        let framed = frame(&payload);
        assert_eq!(framed, [0x44, 0x48, 0x55, 0x42, 0x6c, 0x75, 0xb4, 0x6a, 0, 0, 0, 2, 0x08, 0x00]);
        assert_eq!(unframe(&framed).unwrap(), &payload[..]);
    }

    #[test]
    fn frame_crc_is_checked() {
        let mut f = frame(b"hello world");
        assert_eq!(&f[4..8], &crc32c::crc32c(b"hello world").to_be_bytes());
        f[13] ^= 1;
        assert!(unframe(&f).unwrap_err().contains("CRC"));
        let mut zero = frame(b"abc");
        zero[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(unframe(&zero).unwrap(), b"abc");
        assert!(unframe(b"DHUB\0\0\0\0\0\0\0\x05ab").is_err());
        assert!(unframe(b"XXXX").is_err());
    }

    #[test]
    fn null_and_empty_field_data_differ_like_pydatahub() {
        // §4.2: NULL is `0a 00` inside RecordData, "" is `0a 02 0a 00`.
        let null = RecordData { data: vec![FieldData { value: None }] }.encode_to_vec();
        let empty = RecordData { data: vec![FieldData { value: Some(vec![]) }] }.encode_to_vec();
        assert_eq!(null, [0x0a, 0x00]);
        assert_eq!(empty, [0x0a, 0x02, 0x0a, 0x00]);
    }
}
