//! The record operations (§3.4–§3.7, §4): JSON and PB PutRecords, PB PutRecordsByShard,
//! GetCursor, JSON and PB GetRecords. Puts are validated in full before anything is stored
//! (a malformed record fails the whole request); stored records are appended to the JSONL log
//! when one is configured.

use std::collections::BTreeMap;
use std::io::Write;

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::model::{RecordData, RecordType, ShardState, StoredRecord};
use crate::pb;
use crate::state::EmulatorState;
use crate::store::{decode_cursor, encode_cursor, Route};
use crate::validate::check_tuple;
use crate::wire::{Reply, MAX_RECORDS_PER_GET, MAX_RECORDS_PER_PUT};

/// JSON PutRecords `{"Action":"pub","Records":[…]}` (§3.4): 200 with `FailedRecordCount` and
/// `FailedRecords` (routing failures and the injected `partial` ones: every k-th record, code).
/// Errors: see [`json_records`].
pub(crate) fn put_records_json(
    st: &EmulatorState,
    p: &str,
    t: &str,
    b: &Map<String, Value>,
    partial: Option<(u32, String)>,
) -> Result<Reply, ApiError> {
    let recs = json_records(st, p, t, b)?;
    let failed = store_records(st, p, t, None, recs, partial)?;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({
            "FailedRecordCount": failed.len(),
            "FailedRecords": failed.iter().map(|(i, c, m)| json!({"Index": i, "ErrorCode": c, "ErrorMessage": m})).collect::<Vec<_>>(),
        }),
    ))
}

/// PB PutRecords (§4.2): a framed `PutRecordsRequest`, answered with a framed
/// `PutRecordsResponse`; failures as [`put_records_json`]. Errors: see [`pb_records`].
pub(crate) fn put_records_pb(
    st: &EmulatorState,
    p: &str,
    t: &str,
    bytes: &[u8],
    partial: Option<(u32, String)>,
) -> Result<Reply, ApiError> {
    let recs = pb_records(st, p, t, bytes)?;
    let failed = store_records(st, p, t, None, recs, partial)?;
    Ok(Reply::Pb(pb::frame(&pb::PutRecordsResponse {
        failed_count: Some(failed.len() as i32),
        failed_records: failed
            .into_iter()
            .map(|(i, c, m)| pb::FailedRecord { index: i as i32, error_code: Some(c), error_message: Some(m) })
            .collect(),
    })))
}

/// PB PutRecordsByShard (§4.2): every record to `shard`, all or nothing. Errors: see
/// [`pb_records`], plus `NoSuchShard` and `InvalidShardOperation` (the shard is not ACTIVE).
pub(crate) fn put_records_by_shard(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let recs = pb_records(st, p, t, bytes)?;
    store_records(st, p, t, Some(shard), recs, None)?;
    Ok(Reply::Pb(pb::frame(&pb::PutRecordsResponse { failed_count: Some(0), failed_records: vec![] })))
}

/// One record of a put request, decoded and validated.
struct NewRecord {
    route: Route,
    data: RecordData,
    attributes: BTreeMap<String, String>,
}

fn record_type(st: &EmulatorState, p: &str, t: &str) -> Result<RecordType, ApiError> {
    Ok(st.shared.store.lock().expect("store lock").topic(p, t)?.record_type.clone())
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n > MAX_RECORDS_PER_PUT {
        return Err(ApiError::invalid(format!("{n} records exceed the limit of {MAX_RECORDS_PER_PUT} per request")));
    }
    Ok(())
}

fn opt_str(o: &Map<String, Value>, k: &str, i: usize) -> Result<Option<String>, ApiError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("Record {i}: {k} must be a string"))),
    }
}

/// Decodes JSON PutRecords `Records` (§3.4). Errors: `InvalidParameter` (shape, count),
/// `MalformedRecord` (data not matching the topic), `NoSuchProject`/`NoSuchTopic`.
fn json_records(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Vec<NewRecord>, ApiError> {
    let rt = record_type(st, p, t)?;
    let recs =
        b.get("Records").and_then(Value::as_array).ok_or_else(|| ApiError::invalid("Records must be an array"))?;
    check_count(recs.len())?;
    let mut out = Vec::with_capacity(recs.len());
    for (i, r) in recs.iter().enumerate() {
        let o = r.as_object().ok_or_else(|| ApiError::invalid(format!("Record {i} is not an object")))?;
        let route = Route {
            shard_id: opt_str(o, "ShardId", i)?,
            partition_key: opt_str(o, "PartitionKey", i)?,
            hash_key: opt_str(o, "HashKey", i)?,
        };
        let data = match (&rt, o.get("Data")) {
            (RecordType::Blob, Some(Value::String(s))) => RecordData::Blob(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| ApiError::malformed(format!("Record {i}: BLOB Data is not valid base64: {e}")))?,
            ),
            (RecordType::Blob, _) => {
                return Err(ApiError::malformed(format!("Record {i}: BLOB Data must be a base64 string")))
            }
            (RecordType::Tuple(schema), Some(Value::Array(vals))) => {
                let mut vs = Vec::with_capacity(vals.len());
                for v in vals {
                    vs.push(match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => {
                            return Err(ApiError::malformed(format!(
                                "Record {i}: TUPLE values must be strings or null, got {v}"
                            )))
                        }
                    });
                }
                check_tuple(schema, &vs).map_err(|m| ApiError::malformed(format!("Record {i}: {m}")))?;
                RecordData::Tuple(vs)
            }
            (RecordType::Tuple(_), _) => {
                return Err(ApiError::malformed(format!("Record {i}: TUPLE Data must be an array")))
            }
        };
        let mut attributes = BTreeMap::new();
        match o.get("Attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Object(a)) => {
                for (k, v) in a {
                    let v = v
                        .as_str()
                        .ok_or_else(|| ApiError::malformed(format!("Record {i}: attribute {k} is not a string")))?;
                    attributes.insert(k.clone(), v.to_owned());
                }
            }
            Some(_) => return Err(ApiError::malformed(format!("Record {i}: Attributes must be an object"))),
        }
        out.push(NewRecord { route, data, attributes });
    }
    Ok(out)
}

/// Decodes a PB `PutRecordsRequest` (§4.2). Errors as [`json_records`].
fn pb_records(st: &EmulatorState, p: &str, t: &str, bytes: &[u8]) -> Result<Vec<NewRecord>, ApiError> {
    let rt = record_type(st, p, t)?;
    let req: pb::PutRecordsRequest = pb::decode(bytes)?;
    check_count(req.records.len())?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let mut out = Vec::with_capacity(req.records.len());
    for (i, e) in req.records.into_iter().enumerate() {
        let data = match &rt {
            RecordType::Blob => match e.data.data.as_slice() {
                [pb::FieldData { value: Some(v) }] => RecordData::Blob(v.clone()),
                _ => return Err(ApiError::malformed(format!("Record {i}: BLOB data must be one non-null value"))),
            },
            RecordType::Tuple(schema) => {
                let mut vs = Vec::with_capacity(e.data.data.len());
                for fd in e.data.data {
                    vs.push(match fd.value {
                        None => None,
                        Some(b) => Some(
                            String::from_utf8(b)
                                .map_err(|_| ApiError::malformed(format!("Record {i}: TUPLE value is not UTF-8")))?,
                        ),
                    });
                }
                check_tuple(schema, &vs).map_err(|m| ApiError::malformed(format!("Record {i}: {m}")))?;
                RecordData::Tuple(vs)
            }
        };
        let attributes =
            e.attributes.map(|a| a.attributes.into_iter().map(|p| (p.key, p.value)).collect()).unwrap_or_default();
        out.push(NewRecord {
            route: Route {
                shard_id: nonempty(e.shard_id),
                partition_key: nonempty(e.partition_key),
                hash_key: nonempty(e.hash_key),
            },
            data,
            attributes,
        });
    }
    Ok(out)
}

/// Writes records. `by_shard` = PutRecordsByShard: all to that shard, all or nothing
/// (`NoSuchShard`, `InvalidShardOperation` when not ACTIVE). Otherwise each record is routed
/// (§12) and routing failures, plus injected `partial` ones (every k-th, code), come back as
/// (index, ErrorCode, ErrorMessage).
fn store_records(
    st: &EmulatorState,
    p: &str,
    t: &str,
    by_shard: Option<&str>,
    recs: Vec<NewRecord>,
    partial: Option<(u32, String)>,
) -> Result<Vec<(usize, String, String)>, ApiError> {
    let mut store = st.shared.store.lock().expect("store lock");
    let project_name = store.project(p)?.name.clone();
    let topic = store.topic_mut(p, t)?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut failed = Vec::new();
    // Copies of the stored records, for the JSONL log only.
    let log = st.shared.jsonl.is_some();
    let mut written: Vec<(String, StoredRecord)> = Vec::new();
    if let Some(id) = by_shard {
        let idx = topic.shard_index(id)?;
        if topic.shards[idx].state != ShardState::Active {
            return Err(ApiError::new("InvalidShardOperation", "The specified shard is not active."));
        }
        for r in recs {
            if let Some(rec) = topic.append(idx, r.data, r.attributes, &r.route, now, log) {
                written.push((id.to_owned(), rec));
            }
        }
    } else {
        for (i, r) in recs.into_iter().enumerate() {
            if let Some((k, code)) = &partial {
                if (i + 1) % (*k as usize) == 0 {
                    failed.push((i, code.clone(), "Injected per-record fault".to_owned()));
                    continue;
                }
            }
            match topic.route(&r.route) {
                Ok(idx) => {
                    let id = topic.shards[idx].id.to_string();
                    if let Some(rec) = topic.append(idx, r.data, r.attributes, &r.route, now, log) {
                        written.push((id, rec));
                    }
                }
                Err((code, msg)) => failed.push((i, code, msg)),
            }
        }
    }
    let topic_name = topic.name.clone();
    drop(store);
    if let Some(f) = &st.shared.jsonl {
        let mut out = Vec::new();
        for (shard, r) in &written {
            let data = match &r.data {
                RecordData::Blob(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
                RecordData::Tuple(v) => json!(v),
            };
            let line = json!({
                "project": project_name, "topic": topic_name, "shard_id": shard,
                "sequence": r.sequence, "system_time": r.system_time_ms,
                "record_type": if matches!(r.data, RecordData::Blob(_)) { "BLOB" } else { "TUPLE" },
                "data": data, "attributes": r.attributes,
                "partition_key": r.partition_key, "hash_key": r.hash_key,
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        if let Err(e) = f.lock().expect("jsonl lock").write_all(&out) {
            tracing::error!(error = %e, "cannot append to the JSONL file");
        }
    }
    Ok(failed)
}

/// GetCursor `{"Action":"cursor","Type",…}` (§3.6): OLDEST, LATEST, SEQUENCE, SYSTEM_TIME.
/// Errors: `NoSuchShard`, `SeekOutOfRange`, `InvalidParameter` (an unknown type, a missing or
/// negative position).
pub(crate) fn get_cursor(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    b: &Map<String, Value>,
) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let topic = store.topic(p, t)?;
    let s = &topic.shards[topic.shard_index(shard)?];
    let recs = &s.records;
    let n = recs.len() as i64;
    let out_of_range = || ApiError::new("SeekOutOfRange", "The specified cursor position is out of range.");
    let seq = match b.get("Type").and_then(Value::as_str) {
        Some("OLDEST") => 0,
        Some("LATEST") => (n - 1).max(0),
        Some("SEQUENCE") => {
            let q =
                b.get("Sequence").and_then(Value::as_i64).ok_or_else(|| ApiError::invalid("Sequence is required"))?;
            if q < 0 || q >= n {
                return Err(out_of_range());
            }
            q
        }
        Some("SYSTEM_TIME") => {
            let tm = b
                .get("SystemTime")
                .and_then(Value::as_i64)
                .filter(|t| *t >= 0)
                .ok_or_else(|| ApiError::invalid("Invalid time value: SystemTime must be epoch ms"))?;
            recs.iter().find(|r| r.system_time_ms >= tm).map(|r| r.sequence).ok_or_else(out_of_range)?
        }
        other => return Err(ApiError::invalid(format!("Invalid cursor Type {other:?}"))),
    };
    let time = recs.get(seq as usize).map(|r| r.system_time_ms).unwrap_or(0);
    Ok(Reply::Json(StatusCode::OK, json!({"Cursor": encode_cursor(s.id, seq), "RecordTime": time, "Sequence": seq})))
}

/// Resolves a cursor and limit to a slice of records, TUPLE values padded with NULL to the
/// topic's current schema. Errors: `NoSuchShard`, `InvalidCursor`,
/// `InvalidParameter` (limit < 1), `InvalidShardOperation` (the end of a CLOSED shard).
fn read_slice(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    cursor: &str,
    limit: i64,
) -> Result<(u32, i64, Vec<StoredRecord>, i64, i64), ApiError> {
    if limit < 1 {
        return Err(ApiError::invalid(format!("Limit must be at least 1, got {limit}")));
    }
    let limit = (limit as usize).min(MAX_RECORDS_PER_GET);
    let store = st.shared.store.lock().expect("store lock");
    let topic = store.topic(p, t)?;
    let s = &topic.shards[topic.shard_index(shard)?];
    let n = s.records.len() as i64;
    let start = match decode_cursor(cursor) {
        Some((sid, seq)) if sid == s.id && (0..=n).contains(&seq) => seq,
        _ => return Err(ApiError::new("InvalidCursor", "The cursor is invalid or expired.")),
    };
    if start == n && s.state == ShardState::Closed {
        return Err(ApiError::new("InvalidShardOperation", "The specified shard is not active."));
    }
    let end = (start as usize + limit).min(n as usize);
    let mut recs = s.records[start as usize..end].to_vec();
    // Records stored before an AppendField hold fewer values: the appended (nullable) fields
    // read as NULL.
    if let RecordType::Tuple(schema) = &topic.record_type {
        for r in &mut recs {
            if let RecordData::Tuple(v) = &mut r.data {
                v.resize(schema.fields.len().max(v.len()), None);
            }
        }
    }
    let (latest_seq, latest_time) = s.records.last().map(|r| (r.sequence, r.system_time_ms)).unwrap_or((-1, -1));
    Ok((s.id, start, recs, latest_seq, latest_time))
}

/// JSON GetRecords `{"Action":"sub","Cursor","Limit"?}` (§3.7, Limit default 1). Errors as
/// [`read_slice`], plus `InvalidParameter` for a missing Cursor or a Limit that is not an integer.
pub(crate) fn get_records_json(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    b: &Map<String, Value>,
) -> Result<Reply, ApiError> {
    let cursor = b.get("Cursor").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("Cursor is required"))?;
    let limit = match b.get("Limit") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_i64().ok_or_else(|| ApiError::invalid("Limit must be an integer"))?,
    };
    let (sid, start, recs, latest_seq, latest_time) = read_slice(st, p, t, shard, cursor, limit)?;
    let next = start + recs.len() as i64;
    let records: Vec<Value> = recs
        .iter()
        .map(|r| {
            let data = match &r.data {
                RecordData::Blob(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
                RecordData::Tuple(v) => json!(v),
            };
            json!({
                "SystemTime": r.system_time_ms, "Sequence": r.sequence,
                "Cursor": encode_cursor(sid, r.sequence), "NextCursor": encode_cursor(sid, r.sequence + 1),
                "Data": data, "Attributes": r.attributes,
            })
        })
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({
            "NextCursor": encode_cursor(sid, next), "RecordCount": records.len(), "StartSeq": start,
            "LatestSeq": latest_seq, "LatestTime": latest_time, "Records": records,
        }),
    ))
}

/// PB GetRecords (§4.2): a framed `GetRecordsRequest`, answered with a framed
/// `GetRecordsResponse`. Errors as [`read_slice`], plus `InvalidParameter` for a bad frame.
pub(crate) fn get_records_pb(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let req: pb::GetRecordsRequest = pb::decode(bytes)?;
    let (sid, start, recs, latest_seq, latest_time) =
        read_slice(st, p, t, shard, &req.cursor, i64::from(req.limit.unwrap_or(1)))?;
    let next = start + recs.len() as i64;
    let records: Vec<pb::RecordEntry> = recs
        .into_iter()
        .map(|r| pb::RecordEntry {
            shard_id: None,
            hash_key: None,
            partition_key: None,
            cursor: Some(encode_cursor(sid, r.sequence)),
            next_cursor: Some(encode_cursor(sid, r.sequence + 1)),
            sequence: Some(r.sequence),
            system_time: Some(r.system_time_ms),
            attributes: Some(pb::RecordAttributes {
                attributes: r.attributes.into_iter().map(|(key, value)| pb::StringPair { key, value }).collect(),
            }),
            data: pb::RecordData {
                data: match r.data {
                    RecordData::Blob(b) => vec![pb::FieldData { value: Some(b) }],
                    RecordData::Tuple(v) => {
                        v.into_iter().map(|x| pb::FieldData { value: x.map(String::into_bytes) }).collect()
                    }
                },
            },
        })
        .collect();
    Ok(Reply::Pb(pb::frame(&pb::GetRecordsResponse {
        next_cursor: encode_cursor(sid, next),
        record_count: records.len() as i32,
        start_sequence: Some(start),
        records,
        latest_sequence: Some(latest_seq),
        latest_time: Some(latest_time),
    })))
}
