//! The topic operations (§3.2, §8): ListTopic, GetTopic, CreateTopic, and the `RecordSchema`
//! JSON string in both directions.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::model::{Field, FieldType, RecordSchema, RecordType, ShardState, TopicSpec};
use crate::state::EmulatorState;
use crate::store::Topic;
use crate::validate::valid_name;
use crate::wire::Reply;

/// ListTopic: the topic names of a project. Errors: `NoSuchProject`.
pub(crate) fn list_topic(st: &EmulatorState, p: &str) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let names: Vec<&str> = store.project(p)?.topics.values().map(|t| t.name.as_str()).collect();
    Ok(Reply::Json(StatusCode::OK, json!({ "TopicNames": names })))
}

/// The `RecordSchema` JSON string with upper-case type names (§3.2).
fn schema_string(s: &RecordSchema) -> String {
    let fields: Vec<Value> = s
        .fields
        .iter()
        .map(|f| {
            let mut o = json!({"name": f.name, "type": f.field_type.as_str()});
            if f.not_null {
                o["notnull"] = json!(true);
            }
            if !f.comment.is_empty() {
                o["comment"] = json!(f.comment);
            }
            o
        })
        .collect();
    json!({ "fields": fields }).to_string()
}

/// GetTopic (§3.2). Errors: `NoSuchProject`, `NoSuchTopic`.
pub(crate) fn get_topic(st: &EmulatorState, p: &str, t: &str) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let topic = store.topic(p, t)?;
    let active = topic.shards.iter().filter(|s| s.state == ShardState::Active).count();
    let mut body = json!({
        "Comment": topic.comment,
        "CreateTime": topic.create_time,
        "LastModifyTime": topic.create_time,
        "Lifecycle": topic.lifecycle,
        "ShardCount": active,
        "ExpandMode": "split",
        "Status": "on",
        "EnableSchemaRegistry": false,
        "ExtraConfig": {"DataProtocolType": "protobuf"},
    });
    match &topic.record_type {
        RecordType::Blob => body["RecordType"] = json!("BLOB"),
        RecordType::Tuple(s) => {
            body["RecordType"] = json!("TUPLE");
            body["RecordSchema"] = json!(schema_string(s));
        }
    }
    Ok(Reply::Json(StatusCode::OK, body))
}

/// CreateTopic (§3.2): 201. Errors: `InvalidParameter`, `NoSuchProject`, `TopicAlreadyExist`.
pub(crate) fn create_topic(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    if !valid_name(t, 1, 128) {
        return Err(ApiError::invalid(format!("Invalid topic name {t:?}")));
    }
    let int = |k: &str| b.get(k).and_then(Value::as_i64);
    let shard_count = int("ShardCount")
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| ApiError::invalid("ShardCount must be an integer in 1..=256"))? as u32;
    let lifecycle = int("Lifecycle")
        .filter(|n| (1..=7).contains(n))
        .ok_or_else(|| ApiError::invalid("Lifecycle must be an integer in 1..=7"))? as u32;
    let record_type = match b.get("RecordType").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("BLOB") => RecordType::Blob,
        Some("TUPLE") => {
            let text = b
                .get("RecordSchema")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("RecordSchema (a JSON string) is required for TUPLE"))?;
            RecordType::Tuple(parse_schema(text)?)
        }
        _ => return Err(ApiError::invalid("RecordType must be BLOB or TUPLE")),
    };
    let spec = TopicSpec {
        name: t.to_owned(),
        shard_count,
        record_type,
        lifecycle,
        comment: b.get("Comment").and_then(Value::as_str).unwrap_or("").to_owned(),
    };
    let mut store = st.shared.store.lock().expect("store lock");
    store.project(p)?;
    let project = store.projects.get_mut(&p.to_ascii_lowercase()).expect("checked");
    if project.topics.contains_key(&t.to_ascii_lowercase()) {
        return Err(ApiError::new("TopicAlreadyExist", format!("The topic {t} already exists.")));
    }
    project.topics.insert(t.to_ascii_lowercase(), Topic::new(&spec, chrono::Utc::now().timestamp()));
    Ok(Reply::Empty(StatusCode::CREATED))
}

/// Parses a schema JSON string (type names in any case). Errors: `InvalidParameter`.
pub(crate) fn parse_schema(text: &str) -> Result<RecordSchema, ApiError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("Invalid RecordSchema: {e}")))?;
    let fields = v
        .get("fields")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::invalid("RecordSchema needs a non-empty fields array"))?;
    let mut out = Vec::new();
    for f in fields {
        let name = f.get("name").and_then(Value::as_str).filter(|n| (1..=128).contains(&n.len()));
        let ty = f.get("type").and_then(Value::as_str).and_then(FieldType::parse);
        let (Some(name), Some(ty)) = (name, ty) else {
            return Err(ApiError::invalid(format!("Invalid schema field {f}")));
        };
        if name.eq_ignore_ascii_case("system_time") || out.iter().any(|x: &Field| x.name.eq_ignore_ascii_case(name)) {
            return Err(ApiError::invalid(format!("Invalid or duplicate field name {name:?}")));
        }
        out.push(Field {
            name: name.to_owned(),
            field_type: ty,
            not_null: f.get("notnull").and_then(Value::as_bool).unwrap_or(false),
            comment: f.get("comment").and_then(Value::as_str).unwrap_or("").to_owned(),
        });
    }
    Ok(RecordSchema { fields: out })
}
