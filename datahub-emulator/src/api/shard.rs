//! The shard operations (§3.3): ListShard and SplitShard.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::state::EmulatorState;
use crate::store::{hex, parse_hash_key};
use crate::wire::Reply;

/// ListShard (§3.3): every shard with state, range and neighbours. Errors: `NoSuchProject`,
/// `NoSuchTopic`.
pub(crate) fn list_shard(st: &EmulatorState, p: &str, t: &str) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let topic = store.topic(p, t)?;
    let shards: Vec<Value> = topic
        .shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let info = s.info();
            let (left, right) = topic.neighbours(i);
            json!({
                "ShardId": info.shard_id,
                "State": info.state.as_str(),
                "ClosedTime": info.closed_time,
                "BeginHashKey": info.begin_hash_key,
                "EndHashKey": info.end_hash_key,
                "ParentShardIds": info.parent_shard_ids,
                "LeftShardId": left,
                "RightShardId": right,
                "CreateTime": topic.create_time,
            })
        })
        .collect();
    Ok(Reply::Json(StatusCode::OK, json!({"Protocol": "http1.1", "Interval": 300000, "Shards": shards})))
}

/// SplitShard `{"Action":"split","ShardId","SplitKey"?}`: the parent CLOSED, two ACTIVE
/// children. Errors: `InvalidParameter` (no ShardId, a bad key), `NoSuchShard`,
/// `InvalidShardOperation` (the shard is not ACTIVE).
pub(crate) fn split_shard(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    let id = b.get("ShardId").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("ShardId is required"))?;
    let key = match b.get("SplitKey").and_then(Value::as_str) {
        Some(k) => Some(parse_hash_key(k).ok_or_else(|| ApiError::invalid("The key range is invalid."))?),
        None => None,
    };
    let mut store = st.shared.store.lock().expect("store lock");
    let topic = store.topic_mut(p, t)?;
    let (a, c) = topic.split(id, key, chrono::Utc::now().timestamp())?;
    let new: Vec<Value> = [a, c]
        .iter()
        .map(|n| {
            let s = &topic.shards[topic.shard_index(n).expect("just created")];
            json!({"ShardId": n, "BeginHashKey": hex(s.begin), "EndHashKey": hex(s.end)})
        })
        .collect();
    Ok(Reply::Json(StatusCode::OK, json!({ "NewShards": new })))
}
