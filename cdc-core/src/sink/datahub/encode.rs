//! Turning change events into DataHub BLOB records and request bodies, and cutting one shard's
//! records into requests bounded by record count and body bytes.
//!
//! A change event becomes a BLOB record whose data is the contract JSON
//! ([`ChangeEvent::to_json_bytes`]) and whose attributes are `op`, `db` and `table`. Each record
//! is encoded once ([`EncodedRecord::wire`]); request bodies are then concatenations, so their
//! exact size is known before they are built:
//!
//! * protobuf (PutRecordsByShard, the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)): a DHUB frame
//!   around `PutRecordsRequest{records: [RecordEntry{attributes, data: [FieldData{bytes}]}]}`;
//! * JSON (PutRecords, §3.4): `{"Action":"pub","Records":[{"ShardId":"n","Data":"<base64>","Attributes":{…}},…]}`.

#[cfg(test)]
use std::ops::Range;

use base64::Engine as _;

use crate::event::ChangeEvent;

use super::config::WriteProtocol;
use super::error::DataHubError;
use super::model::BlobRecord;
use super::pb;
use super::record::EncodedRecord;

/// The BLOB record of an event: data = contract JSON, attributes `op`, `db`, `table`.
pub(crate) fn blob_record(event: &ChangeEvent) -> BlobRecord {
    let mut r = BlobRecord { data: event.to_json_bytes(), ..Default::default() };
    r.attributes.insert("op".into(), event.op.code().into());
    r.attributes.insert("db".into(), event.source.db.to_string());
    r.attributes.insert("table".into(), event.source.table.to_string());
    r
}

/// Encodes `event` (at `index` in its batch) for `protocol`.
pub(crate) fn encode_event(index: usize, event: &ChangeEvent, protocol: WriteProtocol) -> EncodedRecord {
    let hash = super::routing::hash_key(&event.partition_key());
    match protocol {
        // The hot path: no intermediate BlobRecord.
        WriteProtocol::PbByShard => {
            let data = event.to_json_bytes();
            let attrs = [("db", &*event.source.db), ("op", event.op.code()), ("table", &*event.source.table)];
            EncodedRecord { index, hash, payload_bytes: data.len(), wire: pb_entry_bytes(&data, attrs), events: 1 }
        }
        WriteProtocol::JsonPutRecords => {
            let record = blob_record(event);
            EncodedRecord { index, hash, payload_bytes: record.data.len(), wire: json_members(&record), events: 1 }
        }
    }
}

/// The wire form of one record for `protocol` (see [`EncodedRecord::wire`]).
pub(crate) fn encode_record(record: &BlobRecord, protocol: WriteProtocol) -> Vec<u8> {
    match protocol {
        WriteProtocol::PbByShard => {
            pb_entry_bytes(&record.data, record.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        WriteProtocol::JsonPutRecords => json_members(record),
    }
}

/// The bytes of `RecordEntry{attributes (8), data (9): RecordData{[FieldData{value: data}]}}`,
/// written directly (byte-identical to prost's encoding of [`pb_entry`], without copying
/// `data` into a message first). Attributes in the order given; none = field 8 absent.
pub(crate) fn pb_entry_bytes<'a>(data: &[u8], attributes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    fn put_len_delimited(out: &mut Vec<u8>, tag: u8, len: usize) {
        out.push(tag);
        prost::encoding::encode_varint(len as u64, out);
    }
    let ld = |len: usize| 1 + prost::length_delimiter_len(len) + len;
    let pairs: Vec<(&str, &str)> = attributes.into_iter().collect();
    let pair_len = |k: &str, v: &str| ld(k.len()) + ld(v.len());
    let attrs_len: usize = pairs.iter().map(|(k, v)| ld(pair_len(k, v))).sum();
    let field_len = ld(data.len());
    let record_data_len = ld(field_len);
    let mut out = Vec::with_capacity(ld(attrs_len) + ld(record_data_len));
    if !pairs.is_empty() {
        put_len_delimited(&mut out, 0x42, attrs_len); // 8: attributes
        for (k, v) in &pairs {
            put_len_delimited(&mut out, 0x0a, pair_len(k, v)); // 1: StringPair
            put_len_delimited(&mut out, 0x0a, k.len());
            out.extend_from_slice(k.as_bytes());
            put_len_delimited(&mut out, 0x12, v.len());
            out.extend_from_slice(v.as_bytes());
        }
    }
    put_len_delimited(&mut out, 0x4a, record_data_len); // 9: data
    put_len_delimited(&mut out, 0x0a, field_len); // RecordData.data[0]
    put_len_delimited(&mut out, 0x0a, data.len()); // FieldData.value
    out.extend_from_slice(data);
    out
}

/// The protobuf `RecordEntry` of a BLOB record (no shard id, no keys).
#[cfg(test)]
pub(crate) fn pb_entry(record: &BlobRecord) -> pb::RecordEntry {
    pb::RecordEntry {
        attributes: (!record.attributes.is_empty()).then(|| pb::RecordAttributes {
            attributes: record
                .attributes
                .iter()
                .map(|(k, v)| pb::StringPair { key: k.clone(), value: v.clone() })
                .collect(),
        }),
        data: pb::RecordData { data: vec![pb::FieldData { value: Some(record.data.clone()) }] },
        ..Default::default()
    }
}

fn json_members(record: &BlobRecord) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&record.data);
    let mut out = Vec::with_capacity(b64.len() + 64);
    out.extend_from_slice(b"\"Data\":\"");
    out.extend_from_slice(b64.as_bytes());
    out.extend_from_slice(b"\",\"Attributes\":");
    serde_json::to_writer(&mut out, &record.attributes).expect("string map serializes");
    out
}

const JSON_HEAD: &[u8] = b"{\"Action\":\"pub\",\"Records\":[";
const JSON_TAIL: &[u8] = b"]}";

/// Bytes of a request body that do not depend on its records.
pub(crate) fn request_overhead(protocol: WriteProtocol) -> usize {
    match protocol {
        WriteProtocol::PbByShard => pb::FRAME_HEADER_LEN,
        WriteProtocol::JsonPutRecords => JSON_HEAD.len() + JSON_TAIL.len(),
    }
}

/// Bytes one record adds to a request body for shard `shard_id` (exact for protobuf; for JSON
/// exact but for one separating comma fewer).
pub(crate) fn record_cost(protocol: WriteProtocol, wire_len: usize, shard_id: &str) -> usize {
    match protocol {
        WriteProtocol::PbByShard => 1 + prost::length_delimiter_len(wire_len) + wire_len,
        // `{"ShardId":"` id `",` members `}` and a comma.
        WriteProtocol::JsonPutRecords => 12 + shard_id.len() + 2 + wire_len + 1 + 1,
    }
}

/// The PutRecordsByShard body (framed, uncompressed) of these `RecordEntry` wires.
pub(crate) fn pb_body<'a>(wires: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut payload = Vec::new();
    for w in wires {
        payload.push(0x0a); // field 1, length-delimited
        prost::encoding::encode_varint(w.len() as u64, &mut payload);
        payload.extend_from_slice(w);
    }
    pb::frame(&payload)
}

/// The JSON PutRecords body of these (shard id, record members) pairs, every record with its
/// explicit `"ShardId"`.
pub(crate) fn json_body<'a>(records: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::from(JSON_HEAD);
    for (i, (shard_id, m)) in records.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"ShardId\":");
        serde_json::to_writer(&mut out, shard_id).expect("string serializes");
        out.push(b',');
        out.extend_from_slice(m);
        out.push(b'}');
    }
    out.extend_from_slice(JSON_TAIL);
    out
}

/// The end of the request that starts at record `start`: the largest `end` such that
/// `costs[start..end]` holds at most `max_records` records and at most `max_bytes` body bytes
/// including `overhead` (at least one record). Errors with [`DataHubError::RecordTooLarge`] when
/// the record at `start` alone does not fit.
pub(crate) fn next_request_end(
    costs: &[usize],
    start: usize,
    overhead: usize,
    max_records: usize,
    max_bytes: usize,
) -> Result<usize, DataHubError> {
    let mut bytes = overhead;
    for (i, &c) in costs.iter().enumerate().skip(start) {
        if i == start && overhead + c > max_bytes {
            return Err(DataHubError::RecordTooLarge { bytes: overhead + c, limit: max_bytes });
        }
        if i > start && (i - start >= max_records || bytes + c > max_bytes) {
            return Ok(i);
        }
        bytes += c;
    }
    Ok(costs.len())
}

/// Cuts records with these `costs` (bytes each adds to a body) into consecutive ranges, in
/// order, each as long as [`next_request_end`] allows. Errors with
/// [`DataHubError::RecordTooLarge`] when one record alone does not fit.
#[cfg(test)]
pub(crate) fn split_requests(
    costs: &[usize],
    overhead: usize,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Range<usize>>, DataHubError> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < costs.len() {
        let end = next_request_end(costs, start, overhead, max_records, max_bytes)?;
        out.push(start..end);
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn rec(data: &[u8]) -> BlobRecord {
        let mut r = BlobRecord { data: data.to_vec(), ..Default::default() };
        r.attributes.insert("op".into(), "c".into());
        r.attributes.insert("db".into(), "shop".into());
        r
    }

    #[test]
    fn split_respects_record_and_byte_bounds() {
        // 25 records of 100 bytes, at most 10 records and 512 bytes (12 overhead) each.
        let costs = vec![100; 25];
        let ranges = split_requests(&costs, 12, 10, 512).unwrap();
        assert_eq!(ranges, vec![0..5, 5..10, 10..15, 15..20, 20..25]);
        let ranges = split_requests(&costs, 12, 3, 4096).unwrap();
        assert_eq!(ranges.len(), 9);
        assert!(ranges.iter().all(|r| r.len() <= 3));
        // Mixed sizes: every range within bounds, contiguous, covering all.
        let costs: Vec<usize> = (0..1000).map(|i| 1 + (i * 37) % 400).collect();
        let ranges = split_requests(&costs, 12, 50, 4000).unwrap();
        let mut next = 0;
        for r in &ranges {
            assert_eq!(r.start, next);
            next = r.end;
            assert!(r.len() <= 50 && !r.is_empty());
            assert!(12 + costs[r.clone()].iter().sum::<usize>() <= 4000);
        }
        assert_eq!(next, costs.len());
        assert!(split_requests(&[], 12, 10, 100).unwrap().is_empty());
        assert!(matches!(
            split_requests(&[10, 200], 12, 10, 100),
            Err(DataHubError::RecordTooLarge { bytes: 212, limit: 100 })
        ));
    }

    #[test]
    fn direct_pb_entry_bytes_equal_prost_encoding() {
        let long = vec![7u8; 300]; // multi-byte length varints
        for r in [rec(b""), rec(b"{}"), rec(&long), BlobRecord { data: long.clone(), ..Default::default() }] {
            assert_eq!(encode_record(&r, WriteProtocol::PbByShard), pb_entry(&r).encode_to_vec());
        }
    }

    #[test]
    fn encoded_events_carry_the_contract_json_and_attributes() {
        use std::sync::Arc;

        use crate::event::{Op, Row, RowsEventInfo, SourceInfo, Value};
        let e = ChangeEvent {
            op: Op::Delete,
            before: Some(Row { columns: vec![Arc::from("id")].into(), values: vec![Value::Int(5)] }),
            after: None,
            source: SourceInfo::new(
                RowsEventInfo {
                    name: "n".into(),
                    server_id: 1,
                    db: "shop".into(),
                    table: "orders".into(),
                    file: "binlog.000001".into(),
                    pos: 4,
                    gtid: None,
                    ts_ms: 0,
                    origin: crate::event::Origin::Binlog,
                },
                0,
            ),
            ts_ms: 0,
            transaction: None,
            key_columns: vec![0usize].into(),
        };
        let pb = encode_event(3, &e, WriteProtocol::PbByShard);
        let json = encode_event(3, &e, WriteProtocol::JsonPutRecords);
        assert_eq!(pb.wire, encode_record(&blob_record(&e), WriteProtocol::PbByShard));
        assert_eq!(json.wire, encode_record(&blob_record(&e), WriteProtocol::JsonPutRecords));
        assert_eq!((pb.index, pb.hash, pb.payload_bytes), (3, json.hash, e.to_json_bytes().len()));
        assert_eq!(pb.hash, super::super::routing::hash_key(&e.partition_key()));
        let entry = pb::RecordEntry::decode(pb.wire.as_slice()).unwrap();
        assert_eq!(entry.data.data[0].value.as_deref(), Some(&e.to_json_bytes()[..]));
        let attrs: Vec<(String, String)> =
            entry.attributes.unwrap().attributes.into_iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(attrs, [("db".into(), "shop".into()), ("op".into(), "d".into()), ("table".into(), "orders".into())]);
    }

    #[test]
    fn pb_body_size_is_predicted_and_decodes() {
        let records: Vec<BlobRecord> = (0..20).map(|i| rec(&vec![b'x'; i * 13])).collect();
        let wires: Vec<Vec<u8>> = records.iter().map(|r| encode_record(r, WriteProtocol::PbByShard)).collect();
        let body = pb_body(wires.iter().map(|w| w.as_slice()));
        let predicted = request_overhead(WriteProtocol::PbByShard)
            + wires.iter().map(|w| record_cost(WriteProtocol::PbByShard, w.len(), "0")).sum::<usize>();
        assert_eq!(body.len(), predicted);
        let req = pb::PutRecordsRequest::decode(pb::unframe(&body).unwrap()).unwrap();
        assert_eq!(req.records.len(), 20);
        assert_eq!(req.records[7].data.data[0].value.as_deref(), Some(&records[7].data[..]));
        let attrs = &req.records[7].attributes.as_ref().unwrap().attributes;
        assert_eq!((attrs[0].key.as_str(), attrs[0].value.as_str()), ("db", "shop"));
        assert!(req.records[7].shard_id.is_none());
    }

    #[test]
    fn json_body_size_is_bounded_and_parses() {
        let records: Vec<BlobRecord> = (0..5).map(|i| rec(format!("{{\"n\":{i}}}").as_bytes())).collect();
        let wires: Vec<Vec<u8>> = records.iter().map(|r| encode_record(r, WriteProtocol::JsonPutRecords)).collect();
        let body = json_body(wires.iter().map(|w| ("12", w.as_slice())));
        let predicted = request_overhead(WriteProtocol::JsonPutRecords)
            + wires.iter().map(|w| record_cost(WriteProtocol::JsonPutRecords, w.len(), "12")).sum::<usize>();
        assert_eq!(body.len() + 1, predicted, "one comma fewer than records");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Action"], "pub");
        assert_eq!(v["Records"][3]["ShardId"], "12");
        assert_eq!(v["Records"][3]["Data"], base64::engine::general_purpose::STANDARD.encode(b"{\"n\":3}"));
        assert_eq!(v["Records"][3]["Attributes"]["op"], "c");
    }
}
