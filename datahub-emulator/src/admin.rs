//! Run-time control of a running emulator, outside the DataHub protocol: [`FaultControl`] from
//! Rust (fault rules, sealing and splitting shards) and the same over HTTP under `/__emulator/*`
//! (no signature; see the README), plus the request counters as `/__emulator/stats`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fault::{FaultKind, FaultRule, FaultTimes, Op};
use crate::state::{EmulatorState, Shared};
use crate::store::parse_hash_key;

impl EmulatorState {
    /// The fault control of this state.
    pub fn faults(&self) -> FaultControl {
        FaultControl { shared: self.shared.clone() }
    }
}

/// Run-time fault control of a running emulator; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct FaultControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FaultControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultControl").field("rules", &self.rules()).finish()
    }
}

impl FaultControl {
    /// Adds a rule (evaluated after the existing ones).
    pub fn add(&self, rule: FaultRule) {
        self.shared.faults.lock().expect("fault lock").add(rule);
    }

    /// Adds `rule` for requests on `topic` only (case-insensitive, as DataHub compares topic
    /// names): faults on one topic while the others flow.
    pub fn add_for_topic(&self, topic: &str, rule: FaultRule) {
        self.shared.faults.lock().expect("fault lock").add_for_topic(rule, topic);
    }

    /// Removes every rule (sealed/split shards stay as they are).
    pub fn clear(&self) {
        self.shared.faults.lock().expect("fault lock").clear();
    }

    /// The rules still active, with their remaining counts.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.shared.faults.lock().expect("fault lock").rules()
    }

    /// The next `n` requests of `op` (None = any operation) fail with `code` and the HTTP
    /// status of the §9.1 mapping (LimitExceeded 429, InternalServerError 500, …).
    pub fn fail_next(&self, op: Option<Op>, code: &str, n: u32) {
        self.add(FaultRule {
            op,
            kind: FaultKind::Error { code: code.to_owned(), status: None, message: None },
            times: FaultTimes::Next(n),
        });
    }

    /// Every request of `op` fails with `code` and `status` until [`FaultControl::clear`].
    pub fn fail_always(&self, op: Option<Op>, code: &str, status: u16) {
        self.add(FaultRule {
            op,
            kind: FaultKind::Error { code: code.to_owned(), status: Some(status), message: None },
            times: FaultTimes::Always,
        });
    }

    /// The next `n` requests of `op` are answered only after `ms` milliseconds.
    pub fn delay_next(&self, op: Option<Op>, ms: u64, n: u32) {
        self.add(FaultRule { op, kind: FaultKind::Delay { ms }, times: FaultTimes::Next(n) });
    }

    /// The next `n` requests of `op` get their connection closed without a response.
    pub fn drop_next(&self, op: Option<Op>, n: u32) {
        self.add(FaultRule { op, kind: FaultKind::Drop, times: FaultTimes::Next(n) });
    }

    /// In the next `requests` PutRecords requests (JSON or PB), every `every`-th record is not
    /// written and is reported in `FailedRecords` with `code` (e.g. `LimitExceeded`).
    pub fn fail_every_kth_record(&self, every: u32, code: &str, requests: u32) {
        self.add(FaultRule {
            op: Some(Op::PutRecords),
            kind: FaultKind::PartialFailure { every, code: code.to_owned() },
            times: FaultTimes::Next(requests),
        });
    }

    /// Seals a shard: state CLOSED, so PutRecordsByShard answers `InvalidShardOperation` and
    /// JSON/PB PutRecords reports its records in `FailedRecords` with that code.
    /// Errors: unknown project/topic/shard (the DataHub error code and message).
    pub fn seal_shard(&self, project: &str, topic: &str, shard_id: &str) -> Result<(), String> {
        let mut store = self.shared.store.lock().expect("store lock");
        store
            .seal(project, topic, shard_id, chrono::Utc::now().timestamp())
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }

    /// Splits an ACTIVE shard at `split_key` (32 hex digits; None = middle of its range): the
    /// parent becomes CLOSED and two new ACTIVE shards (ids max+1, max+2) take the lower and upper
    /// halves, with `ParentShardIds` = `[parent]`. Returns the two new ids.
    /// Errors: unknown names, a shard not ACTIVE, a key outside the range.
    pub fn split_shard(
        &self,
        project: &str,
        topic: &str,
        shard_id: &str,
        split_key: Option<&str>,
    ) -> Result<(String, String), String> {
        let key = match split_key {
            Some(k) => Some(parse_hash_key(k).ok_or_else(|| format!("invalid split key {k:?}"))?),
            None => None,
        };
        let mut store = self.shared.store.lock().expect("store lock");
        let t = store.topic_mut(project, topic).map_err(|e| format!("{}: {}", e.code, e.message))?;
        t.split(shard_id, key, chrono::Utc::now().timestamp()).map_err(|e| format!("{}: {}", e.code, e.message))
    }
}

// ---- HTTP endpoints (outside the DataHub namespace, not signed) ----

/// The `/__emulator/*` routes, merged into the server's router ahead of the DataHub fallback.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/__emulator/faults", get(admin_get_faults).post(admin_add_faults).delete(admin_clear_faults))
        .route("/__emulator/shards/seal", post(admin_seal))
        .route("/__emulator/shards/split", post(admin_split))
        .route("/__emulator/stats", get(admin_stats))
}

fn admin_error(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

async fn admin_get_faults(State(st): State<EmulatorState>) -> Response {
    Json(json!({ "rules": st.faults().rules() })).into_response()
}

async fn admin_add_faults(State(st): State<EmulatorState>, body: bytes::Bytes) -> Response {
    let rules: Vec<FaultRule> = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Array(_)) => match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => return admin_error(format!("invalid fault rules: {e}")),
        },
        Ok(v) => match serde_json::from_value(v) {
            Ok(r) => vec![r],
            Err(e) => return admin_error(format!("invalid fault rule: {e}")),
        },
        Err(e) => return admin_error(format!("invalid JSON: {e}")),
    };
    let fc = st.faults();
    for r in rules {
        tracing::info!(rule = ?r, "fault rule added");
        fc.add(r);
    }
    Json(json!({ "rules": fc.rules() })).into_response()
}

async fn admin_clear_faults(State(st): State<EmulatorState>) -> Response {
    st.faults().clear();
    Json(json!({ "rules": [] })).into_response()
}

#[derive(serde::Deserialize)]
struct ShardRef {
    project: String,
    topic: String,
    shard: String,
    #[serde(default)]
    split_key: Option<String>,
}

async fn admin_seal(State(st): State<EmulatorState>, Json(r): Json<ShardRef>) -> Response {
    match st.faults().seal_shard(&r.project, &r.topic, &r.shard) {
        Ok(()) => Json(json!({ "sealed": r.shard })).into_response(),
        Err(e) => admin_error(e),
    }
}

async fn admin_split(State(st): State<EmulatorState>, Json(r): Json<ShardRef>) -> Response {
    match st.faults().split_shard(&r.project, &r.topic, &r.shard, r.split_key.as_deref()) {
        Ok((a, b)) => Json(json!({ "new_shards": [a, b] })).into_response(),
        Err(e) => admin_error(e),
    }
}

async fn admin_stats(State(st): State<EmulatorState>) -> Response {
    let by_op: BTreeMap<String, u64> = st.request_counts().iter().map(|(k, v)| (format!("{k:?}"), *v)).collect();
    Json(json!({ "requests": st.request_count(), "by_op": by_op })).into_response()
}
