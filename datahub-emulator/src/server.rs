//! The HTTP side: request decoding (Content-Encoding lz4/deflate/zlib, §6), signature
//! verification with `cdc_core::datahub::sign` (§2.6), dispatch of the DataHub operations of §3
//! (JSON and protobuf), fault injection, the `/__emulator` admin endpoints, and the accept loop
//! that can close a connection without answering (the `drop` fault).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use cdc_core::datahub::sign;
use cdc_core::secret::Secret;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::fault::{FaultControl, FaultRule, FaultState, Op};
use crate::model::{
    EmulatorConfig, Field, FieldType, RecordData, RecordSchema, RecordType, ShardInfo, ShardState, StoredRecord,
    TopicSpec,
};
use crate::pb;
use crate::store::{decode_cursor, encode_cursor, Route, Store, Topic};
use crate::validate::check_tuple;

/// Largest request body (after decompression): 4 MB (Limits page). Larger → `LimitExceeded`.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most records in one PutRecords/PutRecordsByShard request. More → `InvalidParameter`.
pub const MAX_RECORDS_PER_PUT: usize = 10_000;
/// Most records one GetRecords returns; larger `Limit`s are clamped to it.
pub const MAX_RECORDS_PER_GET: usize = 1000;
/// Allowed distance between the `Date` header and the emulator's clock (the real window is
/// UNVERIFIED, §15.2; 15 minutes as in other Alibaba Cloud services).
pub const MAX_DATE_SKEW_S: i64 = 15 * 60;
/// Bodies are read up to this size before the 4 MB check (so that the check can answer).
const READ_LIMIT: usize = 64 * 1024 * 1024;
/// The `Content-Type` of every JSON response, exactly (§9.1).
const JSON_CT: &str = "application/json";
const PB_CT: &str = "application/x-protobuf";

/// State shared by the handlers, the handle and the fault control.
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<FaultState>,
    accounts: Vec<(String, Secret)>,
    jsonl: Option<Mutex<std::fs::File>>,
    counts: Mutex<BTreeMap<Op, u64>>,
    total: AtomicU64,
    request_seq: AtomicU64,
    boot_ms: i64,
}

/// The emulator's state: give it to [`crate::Emulator::router`] to serve it yourself.
#[derive(Clone)]
pub struct EmulatorState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorState").field("requests", &self.request_count()).finish()
    }
}

impl EmulatorState {
    /// Builds the state from a config. Errors: the JSONL file cannot be opened for appending,
    /// or a sealed shard of `faults.sealed_shards` does not exist.
    pub fn new(cfg: EmulatorConfig) -> anyhow::Result<Self> {
        let now = chrono::Utc::now();
        let jsonl = match &cfg.jsonl_path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("cannot open JSONL file {}: {e}", p.display()))?,
            )),
            None => None,
        };
        let mut faults = FaultState::default();
        for r in cfg.faults.rules.iter().cloned() {
            faults.add(r);
        }
        let st = EmulatorState {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new(&cfg.projects, now.timestamp())),
                faults: Mutex::new(faults),
                accounts: cfg.accounts.iter().map(|(i, k)| (i.clone(), Secret::new(k.clone()))).collect(),
                jsonl,
                counts: Mutex::new(BTreeMap::new()),
                total: AtomicU64::new(0),
                request_seq: AtomicU64::new(0),
                boot_ms: now.timestamp_millis(),
            }),
        };
        for (p, t, s) in &cfg.faults.sealed_shards {
            st.faults().seal_shard(p, t, s).map_err(|e| anyhow::anyhow!("cannot seal {p}/{t}/{s}: {e}"))?;
        }
        Ok(st)
    }

    /// The fault control of this state.
    pub fn faults(&self) -> FaultControl {
        FaultControl { shared: self.shared.clone() }
    }

    /// DataHub requests received (including refused ones; admin requests not counted).
    pub fn request_count(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// Authenticated requests of one operation.
    pub fn request_count_of(&self, op: Op) -> u64 {
        self.shared.counts.lock().expect("count lock").get(&op).copied().unwrap_or(0)
    }

    fn topic<R>(&self, project: &str, topic: &str, f: impl FnOnce(&Topic) -> R) -> R {
        let store = self.shared.store.lock().expect("store lock");
        match store.topic(project, topic) {
            Ok(t) => f(t),
            Err(e) => panic!("datahub-emulator: {}: {}", e.code, e.message),
        }
    }

    /// Records of one shard in sequence order. Panics on an unknown project/topic/shard.
    pub fn records(&self, project: &str, topic: &str, shard_id: &str) -> Vec<StoredRecord> {
        self.topic(project, topic, |t| match t.shard_index(shard_id) {
            Ok(i) => t.shards[i].records.clone(),
            Err(e) => panic!("datahub-emulator: {}: {}", e.code, e.message),
        })
    }

    /// Every record of a topic as (shard id, record), shard by shard in id order, each in
    /// sequence order. Panics on an unknown project/topic.
    pub fn all_records(&self, project: &str, topic: &str) -> Vec<(String, StoredRecord)> {
        self.topic(project, topic, |t| {
            t.shards.iter().flat_map(|s| s.records.iter().map(move |r| (s.id.to_string(), r.clone()))).collect()
        })
    }

    /// The shards as ListShard reports them. Panics on an unknown project/topic.
    pub fn shards(&self, project: &str, topic: &str) -> Vec<ShardInfo> {
        self.topic(project, topic, |t| t.shards.iter().map(|s| s.info()).collect())
    }

    fn next_request_id(&self) -> String {
        let n = self.shared.request_seq.fetch_add(1, Ordering::Relaxed);
        format!("{:013x}{:011x}emu{:05x}", self.shared.boot_ms, n, std::process::id() & 0xfffff)
    }
}

/// Marks a connection so that a handler can close it without a response.
#[derive(Clone)]
pub(crate) struct ConnDrop(pub(crate) CancellationToken);

/// The router: DataHub API on every path, plus `/__emulator/*` admin endpoints (no signature).
pub(crate) fn router(state: EmulatorState) -> Router {
    Router::new()
        .route("/__emulator/faults", get(admin_get_faults).post(admin_add_faults).delete(admin_clear_faults))
        .route("/__emulator/shards/seal", post(admin_seal))
        .route("/__emulator/shards/split", post(admin_split))
        .route("/__emulator/stats", get(admin_stats))
        .fallback(datahub)
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown`: one task per connection, which is dropped
/// (socket closed, nothing written) when a handler cancels its [`ConnDrop`].
pub(crate) async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            acc = listener.accept() => match acc {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let token = shutdown.child_token();
        let router = router.clone();
        tokio::spawn(async move {
            let conn_token = token.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnDrop(conn_token.clone()));
                let r = router.clone();
                async move { tower::ServiceExt::oneshot(r, req.map(Body::new)).await }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                res = conn => if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                _ = token.cancelled() => tracing::debug!(%peer, "connection dropped"),
            }
        });
    }
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut r = (status, serde_json::to_vec(body).expect("JSON serialises")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(JSON_CT));
    r.headers_mut().insert("x-datahub-request-id", request_id.parse().expect("ascii id"));
    r
}

fn error_response(e: &ApiError, request_id: &str) -> Response {
    json_response(
        e.status,
        &json!({"ErrorCode": e.code, "ErrorMessage": e.message, "RequestId": request_id}),
        request_id,
    )
}

/// What an operation answers.
enum Reply {
    Json(StatusCode, Value),
    Pb(Vec<u8>),
    Empty(StatusCode),
}

/// Outcome of handling one request.
enum Outcome {
    Reply(Reply),
    Drop,
}

async fn datahub(State(st): State<EmulatorState>, req: Request) -> Response {
    st.shared.total.fetch_add(1, Ordering::Relaxed);
    let request_id = st.next_request_id();
    let conn = req.extensions().get::<ConnDrop>().cloned();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match process(&st, req).await {
        Ok(Outcome::Reply(reply)) => {
            tracing::debug!(%method, %path, %request_id, "ok");
            let mut r = match reply {
                Reply::Json(status, v) => return json_response(status, &v, &request_id),
                Reply::Pb(bytes) => {
                    let mut r = (StatusCode::OK, bytes).into_response();
                    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(PB_CT));
                    r
                }
                Reply::Empty(status) => status.into_response(),
            };
            r.headers_mut().insert("x-datahub-request-id", request_id.parse().expect("ascii id"));
            r
        }
        Ok(Outcome::Drop) => match conn {
            Some(c) => {
                tracing::info!(%method, %path, "fault: dropping the connection");
                c.0.cancel();
                std::future::pending::<Response>().await
            }
            None => error_response(
                &ApiError::new("InternalServerError", "drop fault needs Emulator::start's server"),
                &request_id,
            ),
        },
        Err(e) => {
            tracing::info!(%method, %path, code = %e.code, message = %e.message, "error reply");
            error_response(&e, &request_id)
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Checks the Authorization header against every accepted account (§2.6).
fn verify_signature(st: &EmulatorState, method: &Method, uri: &axum::http::Uri, h: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError::new("Unauthorized", m);
    let auth = header_str(h, "authorization").ok_or_else(|| unauthorized("Authorization header is missing."))?;
    let (id, sig) =
        sign::parse_authorization(auth).ok_or_else(|| unauthorized("Authorization header is malformed."))?;
    let date = header_str(h, "date").ok_or_else(|| unauthorized("Date header is missing."))?;
    let t =
        chrono::DateTime::parse_from_rfc2822(date).map_err(|_| unauthorized("Date header is not an RFC 1123 date."))?;
    if (chrono::Utc::now().timestamp() - t.timestamp()).abs() > MAX_DATE_SKEW_S {
        return Err(unauthorized("The difference between the request time and the server's time is too large."));
    }
    let key = st
        .shared
        .accounts
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, k)| k)
        .ok_or_else(|| unauthorized("The AccessKeyId does not exist."))?;
    let headers: Vec<(&str, &str)> =
        h.iter().filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?))).collect();
    let mut resources = vec![sign::canonical_resource(uri.path(), uri.query())];
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        // Java: the raw path and query, unsorted. Go: the escaped path and url.Values.Encode(),
        // i.e. sorted by key with `k=` for an empty value (datahub-protocol §2.1).
        resources.push(format!("{}?{q}", uri.path()));
        let mut pairs: Vec<(&str, &str)> =
            q.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let go: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        resources.push(format!("{}?{}", uri.path(), go.join("&")));
    }
    let ct = header_str(h, "content-type");
    let ok = resources.iter().any(|res| {
        let sts = sign::string_to_sign(method.as_str(), ct, date, headers.iter().copied(), res);
        sign::signatures_equal(&sign::signature(key, &sts), sig)
    });
    if ok {
        Ok(())
    } else {
        Err(unauthorized("The request signature does not match."))
    }
}

/// Undoes `Content-Encoding` (§6): lz4 raw block sized by `x-datahub-content-raw-size`,
/// deflate/zlib zlib streams. Errors: `InvalidParameter` for an unknown encoding, a missing or
/// wrong raw size, or corrupt data.
fn decode_body(h: &HeaderMap, body: bytes::Bytes) -> Result<Vec<u8>, ApiError> {
    let enc = header_str(h, "content-encoding").unwrap_or("").trim().to_ascii_lowercase();
    let raw_size = match header_str(h, "x-datahub-content-raw-size") {
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= READ_LIMIT)
                .ok_or_else(|| ApiError::invalid(format!("Invalid x-datahub-content-raw-size {s:?}")))?,
        ),
        None => None,
    };
    let out = match enc.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "lz4" => {
            let n = raw_size.ok_or_else(|| ApiError::invalid("lz4 body without x-datahub-content-raw-size"))?;
            if n == 0 && body.is_empty() {
                return Ok(Vec::new());
            }
            lz4_flex::block::decompress(&body, n).map_err(|e| ApiError::invalid(format!("Invalid lz4 body: {e}")))?
        }
        "deflate" | "zlib" => {
            if body.is_empty() && raw_size.unwrap_or(0) == 0 {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&body[..])
                .take(READ_LIMIT as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid(format!("Invalid {enc} body: {e}")))?;
            out
        }
        other => return Err(ApiError::invalid(format!("Unsupported Content-Encoding {other:?}"))),
    };
    if let Some(n) = raw_size {
        if out.len() != n {
            return Err(ApiError::invalid(format!(
                "Decompressed body is {} bytes, x-datahub-content-raw-size says {n}",
                out.len()
            )));
        }
    }
    Ok(out)
}

/// The request body in the form its Content-Type says.
enum Body2 {
    None,
    Json(Map<String, Value>),
    Pb { action: String, bytes: Vec<u8> },
}

fn parse_body(h: &HeaderMap, method: &Method, raw: Vec<u8>) -> Result<Body2, ApiError> {
    let media = header_str(h, "content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/x-protobuf" => {
            Ok(Body2::Pb { action: header_str(h, "x-datahub-request-action").unwrap_or("").to_owned(), bytes: raw })
        }
        "application/x-binary" => {
            Err(ApiError::invalid("The batch protocol (application/x-binary) is not supported by this emulator"))
        }
        _ if *method == Method::GET || *method == Method::DELETE || raw.iter().all(u8::is_ascii_whitespace) => {
            Ok(Body2::None)
        }
        _ => match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(m)) => Ok(Body2::Json(m)),
            Ok(_) => Err(ApiError::invalid("Request body must be a JSON object")),
            Err(e) => Err(ApiError::invalid(format!("Invalid JSON body: {e}"))),
        },
    }
}

fn action(b: &Body2) -> Option<&str> {
    match b {
        Body2::Json(m) => m.get("Action").and_then(Value::as_str),
        Body2::Pb { action, .. } => Some(action.as_str()),
        Body2::None => None,
    }
}

async fn process(st: &EmulatorState, req: Request) -> Result<Outcome, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes =
        to_bytes(body, READ_LIMIT).await.map_err(|_| ApiError::new("LimitExceeded", "Request body exceeds 4 MB"))?;
    verify_signature(st, &parts.method, &parts.uri, &parts.headers)?;
    let raw = decode_body(&parts.headers, bytes)?;
    if raw.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            "LimitExceeded",
            format!("Request body of {} bytes exceeds the 4 MB limit", raw.len()),
        ));
    }
    let body = parse_body(&parts.headers, &parts.method, raw)?;
    let decoded: Vec<String> = parts.uri.path().split('/').skip(1).map(|s| sign::canonical_resource(s, None)).collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let is_pb = matches!(body, Body2::Pb { .. });
    let m = &parts.method;
    let op = match (m.as_str(), segs.as_slice(), action(&body)) {
        ("GET", ["projects"], _) => Op::ListProject,
        ("GET", ["projects", _], _) => Op::GetProject,
        ("POST", ["projects", _], _) if !is_pb => Op::CreateProject,
        ("GET", ["projects", _, "topics"], _) => Op::ListTopic,
        ("GET", ["projects", _, "topics", _], _) => Op::GetTopic,
        ("POST", ["projects", _, "topics", _], None | Some("create")) if !is_pb => Op::CreateTopic,
        ("GET", ["projects", _, "topics", _, "shards"], _) => Op::ListShard,
        ("POST", ["projects", _, "topics", _, "shards"], Some("pub")) => Op::PutRecords,
        ("POST", ["projects", _, "topics", _, "shards"], Some("split")) if !is_pb => Op::SplitShard,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("pub")) if is_pb => Op::PutRecordsByShard,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("pub")) => {
            return Err(ApiError::invalid("PutRecordsByShard supports only protobuf bodies"))
        }
        ("POST", ["projects", _, "topics", _, "shards", _], Some("cursor")) if !is_pb => Op::GetCursor,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("sub")) => Op::GetRecords,
        (_, ["projects", ..], a) => {
            return Err(ApiError::invalid(format!(
                "Unsupported operation: {m} {} (Action {:?})",
                parts.uri.path(),
                a.unwrap_or("")
            )))
        }
        _ => {
            return Err(ApiError::with_status(404, "InvalidUriSpec", format!("Unknown resource {}", parts.uri.path())))
        }
    };
    *st.shared.counts.lock().expect("count lock").entry(op).or_default() += 1;
    let decision = st.shared.faults.lock().expect("fault lock").decide(op);
    if decision.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.delay_ms)).await;
    }
    if decision.drop {
        return Ok(Outcome::Drop);
    }
    if let Some((status, code, message)) = decision.error {
        return Err(ApiError::with_status(status, &code, message));
    }
    let p = segs.get(1).copied().unwrap_or("");
    let t = segs.get(3).copied().unwrap_or("");
    let shard = segs.get(5).copied().unwrap_or("");
    let reply = match (op, body) {
        (Op::ListProject, _) => list_project(st),
        (Op::GetProject, _) => get_project(st, p)?,
        (Op::CreateProject, Body2::Json(b)) => create_project(st, p, &b)?,
        (Op::CreateProject, _) => create_project(st, p, &Map::new())?,
        (Op::ListTopic, _) => list_topic(st, p)?,
        (Op::GetTopic, _) => get_topic(st, p, t)?,
        (Op::CreateTopic, Body2::Json(b)) => create_topic(st, p, t, &b)?,
        (Op::CreateTopic, _) => return Err(ApiError::invalid("CreateTopic needs a JSON body")),
        (Op::ListShard, _) => list_shard(st, p, t)?,
        (Op::SplitShard, Body2::Json(b)) => split_shard(st, p, t, &b)?,
        (Op::PutRecords, Body2::Json(b)) => {
            let recs = json_records(st, p, t, &b)?;
            let failed = put_records(st, p, t, None, recs, decision.partial)?;
            Reply::Json(
                StatusCode::OK,
                json!({
                    "FailedRecordCount": failed.len(),
                    "FailedRecords": failed.iter().map(|(i, c, m)| json!({"Index": i, "ErrorCode": c, "ErrorMessage": m})).collect::<Vec<_>>(),
                }),
            )
        }
        (Op::PutRecords, Body2::Pb { bytes, .. }) => {
            let recs = pb_records(st, p, t, &bytes)?;
            let failed = put_records(st, p, t, None, recs, decision.partial)?;
            Reply::Pb(pb::frame(&pb::PutRecordsResponse {
                failed_count: Some(failed.len() as i32),
                failed_records: failed
                    .into_iter()
                    .map(|(i, c, m)| pb::FailedRecord { index: i as i32, error_code: Some(c), error_message: Some(m) })
                    .collect(),
            }))
        }
        (Op::PutRecordsByShard, Body2::Pb { bytes, .. }) => {
            let recs = pb_records(st, p, t, &bytes)?;
            put_records(st, p, t, Some(shard), recs, None)?;
            Reply::Pb(pb::frame(&pb::PutRecordsResponse { failed_count: Some(0), failed_records: vec![] }))
        }
        (Op::GetCursor, Body2::Json(b)) => get_cursor(st, p, t, shard, &b)?,
        (Op::GetRecords, Body2::Json(b)) => {
            let cursor =
                b.get("Cursor").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("Cursor is required"))?;
            let limit = match b.get("Limit") {
                None | Some(Value::Null) => 1,
                Some(v) => v.as_i64().ok_or_else(|| ApiError::invalid("Limit must be an integer"))?,
            };
            get_records_json(st, p, t, shard, cursor, limit)?
        }
        (Op::GetRecords, Body2::Pb { bytes, .. }) => {
            let r: pb::GetRecordsRequest = pb::decode(&bytes)?;
            get_records_pb(st, p, t, shard, &r.cursor, i64::from(r.limit.unwrap_or(1)))?
        }
        _ => return Err(ApiError::invalid("Unsupported request body for this operation")),
    };
    Ok(Outcome::Reply(reply))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn valid_name(n: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&n.len())
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn list_project(st: &EmulatorState) -> Reply {
    let store = st.shared.store.lock().expect("store lock");
    let names: Vec<&str> = store.projects.values().map(|p| p.name.as_str()).collect();
    Reply::Json(StatusCode::OK, json!({ "ProjectNames": names }))
}

fn get_project(st: &EmulatorState, p: &str) -> Result<Reply, ApiError> {
    let store = st.shared.store.lock().expect("store lock");
    let pr = store.project(p)?;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"Comment": pr.comment, "CreateTime": pr.create_time, "LastModifyTime": pr.create_time}),
    ))
}

fn create_project(st: &EmulatorState, p: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    if !valid_name(p, 3, 32) {
        return Err(ApiError::invalid(format!("Invalid project name {p:?}")));
    }
    let mut store = st.shared.store.lock().expect("store lock");
    if store.project(p).is_ok() {
        return Err(ApiError::new("ProjectAlreadyExist", format!("The project {p} already exists.")));
    }
    store.projects.insert(
        p.to_ascii_lowercase(),
        crate::store::Project {
            name: p.to_owned(),
            comment: b.get("Comment").and_then(Value::as_str).unwrap_or("").to_owned(),
            create_time: chrono::Utc::now().timestamp(),
            topics: BTreeMap::new(),
        },
    );
    Ok(Reply::Empty(StatusCode::CREATED))
}

fn list_topic(st: &EmulatorState, p: &str) -> Result<Reply, ApiError> {
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

fn get_topic(st: &EmulatorState, p: &str, t: &str) -> Result<Reply, ApiError> {
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

fn create_topic(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
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

fn list_shard(st: &EmulatorState, p: &str, t: &str) -> Result<Reply, ApiError> {
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

fn split_shard(st: &EmulatorState, p: &str, t: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
    let id = b.get("ShardId").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("ShardId is required"))?;
    let key = match b.get("SplitKey").and_then(Value::as_str) {
        Some(k) => Some(crate::store::parse_hash_key(k).ok_or_else(|| ApiError::invalid("The key range is invalid."))?),
        None => None,
    };
    let mut store = st.shared.store.lock().expect("store lock");
    let topic = store.topic_mut(p, t)?;
    let (a, c) = topic.split(id, key, chrono::Utc::now().timestamp())?;
    let new: Vec<Value> = [a, c]
        .iter()
        .map(|n| {
            let s = &topic.shards[topic.shard_index(n).expect("just created")];
            json!({"ShardId": n, "BeginHashKey": crate::store::hex(s.begin), "EndHashKey": crate::store::hex(s.end)})
        })
        .collect();
    Ok(Reply::Json(StatusCode::OK, json!({ "NewShards": new })))
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
fn put_records(
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
    let now = now_ms();
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

fn get_cursor(st: &EmulatorState, p: &str, t: &str, shard: &str, b: &Map<String, Value>) -> Result<Reply, ApiError> {
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

/// Resolves a cursor and limit to a slice of records. Errors: `NoSuchShard`, `InvalidCursor`,
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
    let recs = s.records[start as usize..end].to_vec();
    let (latest_seq, latest_time) = s.records.last().map(|r| (r.sequence, r.system_time_ms)).unwrap_or((-1, -1));
    Ok((s.id, start, recs, latest_seq, latest_time))
}

fn get_records_json(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    cursor: &str,
    limit: i64,
) -> Result<Reply, ApiError> {
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

fn get_records_pb(
    st: &EmulatorState,
    p: &str,
    t: &str,
    shard: &str,
    cursor: &str,
    limit: i64,
) -> Result<Reply, ApiError> {
    let (sid, start, recs, latest_seq, latest_time) = read_slice(st, p, t, shard, cursor, limit)?;
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

// ---- admin endpoints (outside the DataHub namespace, not signed) ----

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
    let by_op: BTreeMap<String, u64> =
        st.shared.counts.lock().expect("count lock").iter().map(|(k, v)| (format!("{k:?}"), *v)).collect();
    Json(json!({ "requests": st.request_count(), "by_op": by_op })).into_response()
}

/// Binds and serves; used by [`crate::Emulator::start`].
pub(crate) async fn start(cfg: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<crate::EmulatorHandle> {
    let state = EmulatorState::new(cfg)?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, router(state.clone()), shutdown.clone()));
    tracing::info!(endpoint = %format!("http://{addr}"), "DataHub emulator listening");
    Ok(crate::EmulatorHandle { faults: state.faults(), state, addr, shutdown, task })
}
