//! The project operations (§3.1): ListProject, GetProject, CreateProject.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::state::EmulatorState;
use crate::store::Project;
use crate::validate::valid_name;
use crate::wire::Reply;

/// ListProject: every project name.
pub(crate) fn list_project(st: &EmulatorState) -> Reply {
    let store = st.shared.store.lock().expect("store lock");
    let names: Vec<&str> = store.projects.values().map(|p| p.name.as_str()).collect();
    Reply::Json(StatusCode::OK, json!({ "ProjectNames": names }))
}

/// GetProject (§3.1). Errors: `NoSuchProject`.
pub(crate) fn get_project(st: &EmulatorState, p: &str) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let pr = store.project(p)?;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"Comment": pr.comment, "CreateTime": pr.create_time, "LastModifyTime": pr.create_time}),
    ))
}

/// CreateProject `{"Comment"}`: 201 (§3.1). Errors: `InvalidParameter` for a name outside
/// `^[a-zA-Z][a-zA-Z0-9_]*$` or 3–32 characters, `ProjectAlreadyExist` (409).
pub(crate) fn create_project(st: &EmulatorState, p: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    if !valid_name(p, 3, 32) {
        return Err(ApiError::invalid(format!("Invalid project name {p:?}")));
    }
    let mut store = st.shared.store.lock().expect("store lock");
    if store.project(p).is_ok() {
        return Err(ApiError::new("ProjectAlreadyExist", format!("The project {p} already exists.")));
    }
    store.projects.insert(
        p.to_ascii_lowercase(),
        Project {
            name: p.to_owned(),
            comment: b.get("Comment").and_then(Value::as_str).unwrap_or("").to_owned(),
            create_time: chrono::Utc::now().timestamp(),
            topics: BTreeMap::new(),
        },
    );
    Ok(Reply::Empty(StatusCode::CREATED))
}
