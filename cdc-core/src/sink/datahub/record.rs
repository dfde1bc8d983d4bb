//! [`EncodedRecord`]: one event encoded for a write request — the leaf shared by the BLOB
//! encoder (`encode`), the TUPLE encoder (`tuple`) and the producers, so none of them imports
//! another for it.

/// One event, encoded once for the chosen protocol.
#[derive(Debug, Clone)]
pub(crate) struct EncodedRecord {
    /// Position of the event in the batch given to the sink.
    pub index: usize,
    /// 128-bit MD5 of the partition key ([`super::routing::hash_key`]).
    pub hash: u128,
    /// Payload bytes (the event JSON), as counted in `SinkAck::bytes`.
    pub payload_bytes: usize,
    /// Protobuf: the `RecordEntry` message bytes. JSON: the members `"Data":…,"Attributes":{…}`
    /// of the record object, without braces and without `ShardId`.
    pub wire: Vec<u8>,
    /// Events this record completes once acknowledged: 1 for a BLOB record; for TUPLE topics
    /// ([`super::tuple`]) 0 for the before image of an update (its after image, the next
    /// record, completes the event) and 1 otherwise. Summed into `SinkAck::records`.
    pub events: usize,
}
