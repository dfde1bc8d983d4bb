//! The topic operations (§3.2, §8): ListTopic, GetTopic, CreateTopic, DeleteTopic, AppendField,
//! and the `RecordSchema` JSON string in both directions.

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
        "ExpandMode": topic.expand_mode,
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

/// Most shards a topic can be created with (Limits page: active shards per topic (0, 256]).
const MAX_SHARDS: i64 = 256;
/// Lifecycle range in days (Limits page: 1–7).
const LIFECYCLE_DAYS: std::ops::RangeInclusive<i64> = 1..=7;
/// Longest topic and field names (§1 naming rules, the Limits page: [1, 128]).
const MAX_NAME: usize = 128;

/// CreateTopic (§3.2): `POST /projects/{p}/topics/{t}` with `ShardCount`, `Lifecycle`,
/// `RecordType` (`BLOB`/`TUPLE`, any case), `RecordSchema` (a JSON string, TUPLE only; type names
/// in any case, pydatahub sends lower case), optional `Comment` and `ExpandMode`
/// (`""`/`split`/`extend`); answers 201 with no body. Other members (Go's `Action`,
/// `ProjectName`, `TopicName`) are ignored.
/// Errors: `InvalidParameter` (the name is not `^[a-zA-Z][a-zA-Z0-9_]*$` of 1–128 characters,
/// ShardCount outside 1–256, Lifecycle outside 1–7, an unknown RecordType or ExpandMode, a TUPLE
/// without a valid schema: see [`parse_schema`]), `NoSuchProject`, `TopicAlreadyExist` (409; names
/// are case-insensitive).
pub(crate) fn create_topic(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    if !valid_name(t, 1, MAX_NAME) {
        return Err(ApiError::invalid(format!(
            "Invalid topic name {t:?}: it must start with a letter, hold only [a-zA-Z0-9_] and be 1-{MAX_NAME} characters"
        )));
    }
    let int = |k: &str| b.get(k).and_then(Value::as_i64);
    let shard_count = int("ShardCount")
        .filter(|n| (1..=MAX_SHARDS).contains(n))
        .ok_or_else(|| ApiError::invalid(format!("ShardCount must be an integer in 1..={MAX_SHARDS}")))?
        as u32;
    let lifecycle = int("Lifecycle")
        .filter(|n| LIFECYCLE_DAYS.contains(n))
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
    let expand_mode = match b.get("ExpandMode") {
        None | Some(Value::Null) => "split".to_owned(),
        Some(Value::String(m)) if matches!(m.as_str(), "" | "split" | "extend") => m.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!("ExpandMode must be \"\", \"split\" or \"extend\", got {other}")))
        }
    };
    let comment = match b.get("Comment") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(c)) => c.clone(),
        Some(other) => return Err(ApiError::invalid(format!("Comment must be a string, got {other}"))),
    };
    let spec = TopicSpec { name: t.to_owned(), shard_count, record_type, lifecycle, comment };
    let mut store = st.shared.store.lock().expect("store lock");
    let project = store.project_mut(p)?;
    if project.topics.contains_key(&t.to_ascii_lowercase()) {
        return Err(ApiError::new("TopicAlreadyExist", format!("The topic {t} already exists.")));
    }
    let mut topic = Topic::new(&spec, chrono::Utc::now().timestamp());
    topic.expand_mode = expand_mode;
    project.topics.insert(t.to_ascii_lowercase(), topic);
    Ok(Reply::Empty(StatusCode::CREATED))
}

/// DeleteTopic (§1 resource table): `DELETE /projects/{p}/topics/{t}`, 200 with no body; the
/// topic and its records are gone. Errors: `NoSuchProject`, `NoSuchTopic`.
pub(crate) fn delete_topic(st: &EmulatorState, p: &str, t: &str) -> Result<Reply, ApiError> {
    let mut store = st.shared.store.lock().expect("store lock");
    store.topic(p, t)?;
    store.project_mut(p)?.topics.remove(&t.to_ascii_lowercase());
    Ok(Reply::Empty(StatusCode::OK))
}

/// AppendField (§8): `POST /projects/{p}/topics/{t}` with
/// `{"Action":"appendfield","FieldName","FieldType"}` (type in any case; pydatahub sends lower
/// case). The field is added at the end of the schema and is nullable: the request has no way
/// to say otherwise, and records already stored read back with NULL in it. Answers 200 with no
/// body. Errors: `InvalidParameter` (a BLOB topic, a field name that is empty, longer than 128
/// characters or `system_time`, a field that already exists (names compare case-insensitively),
/// an unknown type), `NoSuchProject`, `NoSuchTopic`.
pub(crate) fn append_field(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    let name = b.get("FieldName").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("FieldName is required"))?;
    let ty = b.get("FieldType").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("FieldType is required"))?;
    let field_type = FieldType::parse(ty).ok_or_else(|| ApiError::invalid(format!("Invalid FieldType {ty:?}")))?;
    check_field_name(name)?;
    let mut store = st.shared.store.lock().expect("store lock");
    let topic = store.topic_mut(p, t)?;
    let RecordType::Tuple(schema) = &mut topic.record_type else {
        return Err(ApiError::invalid(format!("AppendField needs a TUPLE topic; {t} is BLOB")));
    };
    if schema.fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::invalid(format!("The field {name} already exists in topic {t}.")));
    }
    schema.fields.push(Field::new(name, field_type));
    Ok(Reply::Empty(StatusCode::OK))
}

/// A field name: 1–128 characters and not `system_time` (§1 naming rules). Errors:
/// `InvalidParameter`.
fn check_field_name(name: &str) -> Result<(), ApiError> {
    if !(1..=MAX_NAME).contains(&name.len()) {
        return Err(ApiError::invalid(format!("Invalid field name {name:?}: it must be 1-{MAX_NAME} characters")));
    }
    if name.eq_ignore_ascii_case("system_time") {
        return Err(ApiError::invalid("The field name system_time is reserved"));
    }
    Ok(())
}

/// Parses a CreateTopic schema JSON string, `{"fields":[{"name","type","notnull"?,"comment"?}]}`
/// (§8; type names in any case). Errors: `InvalidParameter` for text that is not JSON, no or an
/// empty `fields` array, a field without a name or with an unknown type, an invalid name (see
/// [`check_field_name`]) or one that repeats another (case-insensitively).
pub(crate) fn parse_schema(text: &str) -> Result<RecordSchema, ApiError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("Invalid RecordSchema: {e}")))?;
    let fields = v
        .get("fields")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::invalid("RecordSchema needs a non-empty fields array"))?;
    let mut out: Vec<Field> = Vec::new();
    for f in fields {
        let name = f.get("name").and_then(Value::as_str);
        let ty = f.get("type").and_then(Value::as_str).and_then(FieldType::parse);
        let (Some(name), Some(ty)) = (name, ty) else {
            return Err(ApiError::invalid(format!("Invalid schema field {f}: it needs a name and a known type")));
        };
        check_field_name(name)?;
        if out.iter().any(|x| x.name.eq_ignore_ascii_case(name)) {
            return Err(ApiError::invalid(format!("Duplicate field name {name:?} in RecordSchema")));
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
